"""NumPy peer of Probe's similarity measures, timed as a whole process against `probe similarity`.

    /usr/bin/python3 bench/peers/similarity.py make DIR [N] [P]        # DIR/x.npy, DIR/y.npy (float32, N x P each)
    /usr/bin/python3 bench/peers/similarity.py MEASURE X.npy Y.npy     # svcca | pwcca | procrustes | mutual-knn

The measures follow issue 15's definitions (the same as tests/fixtures/similarity/make_similarity.py), in float64
with NumPy + OpenBLAS: thin SVDs of the centred matrices (numpy.linalg.svd, LAPACK gesdd), rank tolerance
s_max * max(n, p) * eps. Mutual k-NN (k = 10) finds neighbours block by block (1,000 rows at a time) with
argpartition, as Probe does, so neither side holds an n x n matrix.
Debian's numpy uses whichever BLAS/LAPACK the libblas.so.3 alternative names (the reference BLAS if it is set so); for
NumPy + OpenBLAS without touching the system, run it with
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 bench/peers/similarity.py ...
Compare as whole processes (several runs, in turn, medians and pair-by-pair ratios):
    probe similarity --measure MEASURE --a X.npy --b Y.npy --json
"""
import sys

import numpy as np

EPS = np.finfo(np.float64).eps


def make(d, n=10000, p=1024):
    import os
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(1)
    latent = rng.standard_normal((n, 64))
    x = np.maximum(0, latent @ rng.standard_normal((64, p)) + 0.5 * rng.standard_normal((n, p)))
    y = np.maximum(0, latent @ rng.standard_normal((64, p)) + 0.5 * rng.standard_normal((n, p)))
    np.save(os.path.join(d, "x.npy"), x.astype(np.float32))
    np.save(os.path.join(d, "y.npy"), y.astype(np.float32))


def svd_basis(x):
    xc = x - x.mean(axis=0, keepdims=True)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    r = int((s > s[0] * max(xc.shape) * EPS).sum())
    return u[:, :r], s[:r], vt[:r]


def svcca(x, y, keep=0.99):
    def reduced(m):
        u, s, _ = svd_basis(m)
        frac = np.cumsum(s ** 2) / np.sum(s ** 2)
        k = int(np.searchsorted(frac, keep - 1e-15) + 1)
        return u[:, :k]  # an orthonormal basis of U_k S_k's column space
    rho = np.clip(np.linalg.svd(reduced(x).T @ reduced(y), compute_uv=False), 0, 1)
    return float(rho.mean())


def pwcca(x, y):
    qx, sx, vx = svd_basis(x)
    qy, sy, vy = svd_basis(y)
    u, rho, vt = np.linalg.svd(qx.T @ qy, full_matrices=False)
    rho = np.clip(rho, 0, 1)
    m = rho.size
    if x.shape[1] <= y.shape[1]:
        w, s, v = u[:, :m], sx, vx
    else:
        w, s, v = vt[:m].T, sy, vy
    alpha = np.abs(w.T @ (s[:, None] * v)).sum(axis=1)
    return float((alpha * rho).sum() / alpha.sum())


def procrustes(x, y):
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    xc /= np.linalg.norm(xc)
    yc /= np.linalg.norm(yc)
    return float(np.linalg.svd(xc.T @ yc, compute_uv=False).sum())


def neighbours(x, k=10, block=1000):
    z = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
    n = z.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    for s in range(0, n, block):
        sims = z[s:s + block] @ z.T
        sims[np.arange(sims.shape[0]), np.arange(s, s + sims.shape[0])] = -np.inf
        out[s:s + block] = np.sort(np.argpartition(-sims, k, axis=1)[:, :k], axis=1)
    return out


def mutual_knn(x, y, k=10):
    a, b = neighbours(x, k), neighbours(y, k)
    return float(np.mean([len(np.intersect1d(a[i], b[i], assume_unique=True)) for i in range(a.shape[0])]) / k)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], *(int(v) for v in sys.argv[3:5]))
        sys.exit(0)
    f = {"svcca": svcca, "pwcca": pwcca, "procrustes": procrustes, "mutual-knn": mutual_knn}[sys.argv[1]]
    x = np.load(sys.argv[2]).astype(np.float64)
    y = np.load(sys.argv[3]).astype(np.float64)
    print(f"{sys.argv[1]} {f(x, y):.9f}")
