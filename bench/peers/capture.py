"""PyTorch's side of `bench capture` (issue 14 item 3): the forward pass over a data set with a forward hook on every
leaf module that copies the module's output out (what a PyTorch user writes to record activations), against the same
pass with no hooks, as the median over rounds of hooked / plain (each round times the two back to back, in turn plain
first and hooked first, as Probe's bench does). Debian's Python only; never run by CI.

  /usr/bin/python3 bench/peers/capture.py [--model mlp|cnn|both|mlp784|all] [--rounds N] [--threads T]

Models and data are those of `dotnet run -c Release --project bench/Probe.Bench -- capture`, with random values of
the same shapes (timing does not depend on the values), on OpenBLAS when libopenblas0-pthread is installed: the digits MLP 64-128-64-32-10 (ReLU) on 17,970 rows
(digits x10), the CNN cnn:1x28x28:10 (conv1 relu1 pool1 conv2 relu2 pool2 fc1 relu3 fc2, 3x3 convolutions, 2x2 max
pooling, widths 8-16-64) on 10,000 images (Fashion-MNIST t10k's size), and (`mlp784`, or `all`) the MLP 784-256-128-10
on 60,000 rows (Fashion-MNIST train's size), batches of 256. As Probe records by default,
2-d outputs are copied whole and feature maps as each channel's mean over positions. Each hook copies into a NumPy
array (`.numpy().copy()`, a float32 copy Python owns, as Probe's float[] rows are); a second variant keeps a torch
clone instead.
"""
import argparse
import os
import statistics
import sys
import time

OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-pthread"
if os.path.isdir(OPENBLAS) and OPENBLAS not in os.environ.get("LD_LIBRARY_PATH", ""):
    # Debian's torch links the reference BLAS through libblas.so.3 (its MLP forward pass is 25x slower); OpenBLAS,
    # as NumPy uses in cka.py, makes PyTorch's plain pass as fast as TorchSharp's. The loader reads the path at start.
    os.environ["LD_LIBRARY_PATH"] = OPENBLAS + ":" + os.environ.get("LD_LIBRARY_PATH", "")
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch
import torch.nn as nn


def mlp():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def mlp784():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.relu1, self.pool1 = nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        self.conv2, self.relu2, self.pool2 = nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        self.fc1, self.relu3, self.fc2 = nn.Linear(16 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))


def passes(model, data, batch):
    for start in range(0, data.shape[0], batch):
        model(data[start:start + batch])


def hook_all(model, keep):
    """A forward hook on every leaf module; returns the handles and the per-pass list the hooks fill."""
    recorded = []

    def hook(_module, _input, output):
        rows = output.mean((2, 3)) if output.dim() == 4 else output
        recorded.append(keep(rows))

    leaves = [m for m in model.modules() if len(list(m.children())) == 0]
    return [m.register_forward_hook(hook) for m in leaves], recorded, len(leaves)


def compare(label, model, data, batch, rounds):
    model.eval()
    with torch.no_grad():
        passes(model, data, batch)
        t0 = time.perf_counter()
        passes(model, data, batch)
        once = time.perf_counter() - t0
        rounds = rounds or min(100, max(9, int(1.5 / max(once, 1e-3))))
        results = {}
        for name, keep in (("numpy copy", lambda t: t.numpy().copy()), ("torch clone", lambda t: t.clone())):
            ratios, plain_best, hooked_best = [], float("inf"), float("inf")
            for r in range(rounds):
                order = ("plain", "hooked") if r % 2 == 0 else ("hooked", "plain")
                t = {}
                for which in order:
                    if which == "hooked":
                        handles, recorded, sites = hook_all(model, keep)
                    s = time.perf_counter()
                    passes(model, data, batch)
                    t[which] = time.perf_counter() - s
                    if which == "hooked":
                        for h in handles:
                            h.remove()
                        recorded.clear()
                ratios.append(t["hooked"] / t["plain"])
                plain_best, hooked_best = min(plain_best, t["plain"]), min(hooked_best, t["hooked"])
            results[name] = (statistics.median(ratios), plain_best, hooked_best, sites)
        print(f"{label}: {data.shape[0]} samples, batch {batch}, {rounds} rounds, torch {torch.__version__}, {torch.get_num_threads()} threads")
        for name, (ratio, plain, hooked, sites) in results.items():
            print(f"  every leaf module hooked ({sites}), output kept as a {name}: plain {plain * 1000:.2f} ms, hooked {hooked * 1000:.2f} ms (best), ratio hooked / plain {ratio:.3f}x (median)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="both", choices=["mlp", "cnn", "both", "mlp784", "all"])
    ap.add_argument("--rounds", type=int, default=0, help="rounds of plain + hooked (default: about 1.5 s of plain passes, 5 to 100)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: the core count, as TorchSharp uses)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.model in ("mlp", "both", "all"):
        compare("digits MLP 64-128-64-32-10", mlp(), torch.randn(17970, 64), 256, a.rounds)
    if a.model in ("cnn", "both", "all"):
        compare("CNN cnn:1x28x28:10", Cnn(), torch.rand(10000, 1, 28, 28), 256, a.rounds)
    if a.model in ("mlp784", "all"):
        compare("MLP 784-256-128-10", mlp784(), torch.rand(60000, 784), 256, a.rounds)


if __name__ == "__main__":
    main()
