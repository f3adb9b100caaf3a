"""A linear probe the way a scikit-learn user trains one: standardized features, LogisticRegression (lbfgs, C = 1,
multinomial) on the rows of the training mask, accuracy on the others.
usage: /usr/bin/python3 linear_probe.py X.npy y.npy train_mask.npy     (prints JSON: test accuracy)
"""
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def main():
    x, y, train = np.load(sys.argv[1]), np.load(sys.argv[2]), np.load(sys.argv[3])
    scaler = StandardScaler().fit(x[train])
    model = LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000).fit(scaler.transform(x[train]), y[train])
    acc = model.score(scaler.transform(x[~train]), y[~train])
    print(json.dumps({"testAccuracy": float(acc), "iterations": int(model.n_iter_[0])}))


if __name__ == "__main__":
    main()
