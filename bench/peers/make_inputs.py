"""Writes the inputs that Probe and its peers both run on (bench/peers/run.py calls this):
  fmnist_pca50_N.npy    Fashion-MNIST train + test images (/255), PCA to 50 dimensions (scikit-learn PCA, seed 0),
                        the first N rows, for N in 10,000, 20,000 and 70,000 (t-SNE);
  probe_X.npy, probe_y.npy, probe_train.npy
                        synthetic 60,000 x 512 float32, 10 classes (class means ~ N(0, 0.15^2) per feature, samples
                        = mean + N(0, 1)), the first 50,000 rows for training (linear probe);
  CKA pairs             written by make_cka_inputs.py.
  probe_X_N.npy ...     with probe=N: the same recipe at N rows, the first 80% for training (growth table).
usage: /usr/bin/python3 make_inputs.py OUT_DIR [tsne] [probe] [probe=N ...]
"""
import gzip
import os
import sys

import numpy as np

FASHION = "/usr/share/datasets/fashion-mnist"


def idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, r, c = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, r * c)


def tsne_inputs(out):
    if all(os.path.exists(os.path.join(out, f"fmnist_pca50_{n}.npy")) for n in (10000, 20000, 70000)):
        return
    from sklearn.decomposition import PCA
    x = np.concatenate([idx_images(os.path.join(FASHION, "train-images-idx3-ubyte.gz")),
                        idx_images(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"))]).astype(np.float32) / 255
    z = PCA(n_components=50, random_state=0).fit_transform(x).astype(np.float32)
    for n in (10000, 20000, 70000):
        np.save(os.path.join(out, f"fmnist_pca50_{n}.npy"), np.ascontiguousarray(z[:n]))


def probe_inputs(out, n=60000, train=50000, suffix=""):
    if os.path.exists(os.path.join(out, f"probe_train{suffix}.npy")):
        return
    rng = np.random.default_rng(42)
    d, k = 512, 10
    means = 0.15 * rng.standard_normal((k, d))
    y = rng.integers(0, k, n).astype(np.int32)
    x = (means[y] + rng.standard_normal((n, d))).astype(np.float32)
    np.save(os.path.join(out, f"probe_X{suffix}.npy"), x)
    np.save(os.path.join(out, f"probe_y{suffix}.npy"), y)
    np.save(os.path.join(out, f"probe_train{suffix}.npy"), np.arange(n) < train)


def main():
    out = sys.argv[1]
    what = sys.argv[2:] or ["tsne", "probe"]
    os.makedirs(out, exist_ok=True)
    if "tsne" in what:
        tsne_inputs(out)
    if "probe" in what:
        probe_inputs(out)
    for w in what:
        if w.startswith("probe="):  # growth: N rows, the first 80% for training
            n = int(w[6:])
            probe_inputs(out, n, n * 4 // 5, f"_{n}")


if __name__ == "__main__":
    main()
