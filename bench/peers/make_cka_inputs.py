"""Writes the CKA benchmark inputs: A (n x da) and B (n x db) float32 .npy files, B's first min(da, db) columns
correlated with A's (B = noise + 0.7 A), A shifted by 0.5 so that centring matters.

usage: /usr/bin/python3 make_cka_inputs.py N DA DB OUT_DIR   (writes OUT_DIR/cka_A_N_DA.npy and OUT_DIR/cka_B_N_DB.npy)
"""
import os
import sys

import numpy as np


def main():
    n, da, db, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    pa = os.path.join(out, f"cka_A_{n}_{da}.npy")
    pb = os.path.join(out, f"cka_B_{n}_{db}.npy")
    # Written through memory maps a block of rows at a time, so generating 70,000 x 4,096 needs little memory.
    a = np.lib.format.open_memmap(pa, mode="w+", dtype=np.float32, shape=(n, da))
    b = np.lib.format.open_memmap(pb, mode="w+", dtype=np.float32, shape=(n, db))
    k = min(da, db)
    for s in range(0, n, 4096):
        e = min(n, s + 4096)
        xa = rng.uniform(-1, 1, size=(e - s, da)).astype(np.float32) + np.float32(0.5)
        xb = rng.uniform(-1, 1, size=(e - s, db)).astype(np.float32)
        xb[:, :k] += np.float32(0.7) * xa[:, :k]
        a[s:e] = xa
        b[s:e] = xb
    a.flush(); b.flush()
    del a, b
    print(pa)
    print(pb)


if __name__ == "__main__":
    main()
