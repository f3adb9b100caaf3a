"""scikit-learn's Barnes-Hut t-SNE on an .npy matrix with Probe's defaults (2-d, perplexity 30, PCA init, seed 0,
scikit-learn's automatic learning rate), then trustworthiness (k = 10) on a fixed uniform 5,000-row subsample as
`probe project` reports it.
usage: /usr/bin/python3 tsne.py X.npy     (prints JSON: seconds of the fit, trustworthiness)
"""
import json
import sys
import time

import numpy as np
from sklearn.manifold import TSNE, trustworthiness


def main():
    x = np.load(sys.argv[1])
    t = time.perf_counter()
    y = TSNE(n_components=2, perplexity=30, init="pca", learning_rate="auto", random_state=0, n_jobs=-1).fit_transform(x)
    fit = time.perf_counter() - t
    rows = np.random.default_rng(0).choice(len(x), size=min(5000, len(x)), replace=False)
    trust = trustworthiness(x[rows], y[rows], n_neighbors=10)
    print(json.dumps({"fitSeconds": fit, "trustworthiness": float(trust), "samples": len(x)}))


if __name__ == "__main__":
    main()
