"""scikit-learn's Barnes-Hut t-SNE on an .npy matrix with Probe's defaults (2-d, perplexity 30, PCA init, seed 0,
scikit-learn's automatic learning rate), then trustworthiness (k = 10) on a fixed uniform 5,000-row subsample as
`probe project` reports it.
usage: /usr/bin/python3 tsne.py X.npy [--save EMB.npy]   (prints JSON: seconds of the fit, trustworthiness)
       /usr/bin/python3 tsne.py score X.npy EMB.npy       (scores any embedding, e.g. Probe's, on the same subsample
                                                          with the same code, so the two trustworthiness figures
                                                          compare like with like)
"""
import json
import sys
import time

import numpy as np
from sklearn.manifold import TSNE, trustworthiness


def score(x, y):
    rows = np.random.default_rng(0).choice(len(x), size=min(5000, len(x)), replace=False)
    return float(trustworthiness(x[rows], y[rows], n_neighbors=10))


def main():
    if sys.argv[1] == "score":
        x, y = np.load(sys.argv[2]), np.load(sys.argv[3])
        print(json.dumps({"trustworthiness": score(x, y), "samples": len(x)}))
        return
    x = np.load(sys.argv[1])
    t = time.perf_counter()
    y = TSNE(n_components=2, perplexity=30, init="pca", learning_rate="auto", random_state=0, n_jobs=-1).fit_transform(x)
    fit = time.perf_counter() - t
    if "--save" in sys.argv:
        np.save(sys.argv[sys.argv.index("--save") + 1], y.astype(np.float32))
    print(json.dumps({"fitSeconds": fit, "trustworthiness": score(x, y), "samples": len(x)}))


if __name__ == "__main__":
    main()
