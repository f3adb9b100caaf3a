"""Probe and its peers side by side, whole processes on the same inputs: prints a Markdown table of median wall
time and peak resident memory (from /usr/bin/time) of each, their ratios and the value each computed.

  /usr/bin/python3 bench/peers/run.py [--runs N] [--only cka,similarity,probe,tsne] [--tsne-sizes 10000,20000,70000]
                                      [--sklearn-max-rows 20000] [--cka-big] [--growth 10000,20000,70000]
                                      [--work DIR] [--keep]

Peers (Debian's Python, never run by CI): scikit-learn Barnes-Hut t-SNE (tsne.py), NumPy linear CKA (cka.py, on
OpenBLAS when libopenblas0-pthread is installed: apt-get install libopenblas0-pthread; Debian's NumPy otherwise
uses the reference BLAS, some 20x slower), NumPy SVCCA / PWCCA / Procrustes / mutual k-NN (similarity.py),
scikit-learn lbfgs logistic regression (linear_probe.py). Probe runs as `dotnet tool install` gives it: the CLI is
published (Release, linux-x64, self-contained composite ReadyToRun) into --work first, unless --probe names an executable. Inputs are
written to --work (default /tmp/probe-peers, removed at the end when this run created it, unless --keep; CKA pairs of 20,000 x 1,024 and 768, and with --cka-big 70,000 x 4,096
vs 70,000 x 4,096 = 2.3 GB). Runs alternate Probe, peer, Probe, peer... so a drift in
the machine's load hits both; the machine's load average is printed with the table.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"
OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-pthread"


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time; returns (wall s, peak MiB, stdout)."""
    fmt = "__TIME__ %e %M"
    p = subprocess.run(["/usr/bin/time", "-f", fmt] + cmd, capture_output=True, text=True, env=env)
    m = re.search(r"__TIME__ ([0-9.]+) ([0-9]+)", p.stderr)
    if p.returncode != 0 or not m:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return float(m.group(1)), int(m.group(2)) / 1024, p.stdout


def number(text, key):
    m = re.search(r'"%s"\s*:\s*(-?[0-9.eE+-]+)' % key, text) or re.search(r'^%s\s+(-?[0-9.eE+-]+)' % re.escape(key), text, re.M)
    return float(m.group(1)) if m else float("nan")


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0) / 2**20
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB"


def load():
    return open("/proc/loadavg").read().split()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="cka,similarity,probe,tsne")
    ap.add_argument("--tsne-sizes", default="10000,20000,70000")
    ap.add_argument("--sklearn-max-rows", type=int, default=20000, help="skip scikit-learn t-SNE above this many rows (70,000 takes over 10 minutes here)")
    ap.add_argument("--cka-big", action="store_true", help="also 70,000 x 4,096 vs 70,000 x 4,096 (2.3 GB of inputs)")
    ap.add_argument("--work", default="/tmp/probe-peers")
    ap.add_argument("--probe", default=None, help="the probe executable (default: publish src/Probe.Cli into --work as the tool package installs it: Release, linux-x64, self-contained composite ReadyToRun)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--growth", default="", help="Probe only, at these row counts (e.g. 10000,20000,70000): linear CKA n x 1,024 vs n x 768 and a linear probe on n x 512 (80%% training); t-SNE sizes come from the main table")
    a = ap.parse_args()
    only = set(a.only.split(","))
    created = not os.path.exists(a.work)
    os.makedirs(a.work, exist_ok=True)
    if a.probe is None:
        # What `dotnet tool install` puts on a user's PATH: the RID-specific publish, self-contained with one composite
        # ReadyToRun image (Probe.Cli.csproj).
        out = os.path.join(a.work, "probe-cli")
        subprocess.run(["dotnet", "publish", os.path.join(REPO, "src/Probe.Cli"), "-c", "Release", "-r", "linux-x64", "-o", out, "-nologo", "-v", "q"],
                       check=True, stdout=subprocess.DEVNULL)
        a.probe = os.path.join(out, "Probe.Cli")
    peer_env = dict(os.environ)
    blas = "reference BLAS (install libopenblas0-pthread for OpenBLAS)"
    if os.path.isdir(OPENBLAS):
        peer_env["LD_LIBRARY_PATH"] = OPENBLAS + ":" + peer_env.get("LD_LIBRARY_PATH", "")
        blas = "OpenBLAS (pthreads)"
    w = lambda f: os.path.join(a.work, f)
    probe = [a.probe]

    # (work, probe command, probe value key, peer name, peer command, peer value key)
    cases = []
    if "cka" in only:
        shapes = [(20000, 1024, 768)] + ([(70000, 4096, 4096)] if a.cka_big else [])
        for n, da, db in shapes:
            subprocess.run([PY, os.path.join(HERE, "make_cka_inputs.py"), str(n), str(da), str(db), a.work], check=True, stdout=subprocess.DEVNULL)
            fa, fb = w(f"cka_A_{n}_{da}.npy"), w(f"cka_B_{n}_{db}.npy")
            cases.append((f"linear CKA {n:,} x {da:,} vs {n:,} x {db:,}", probe + ["cka", "--a", fa, "--b", fb, "--kernel", "linear", "--json"], "value",
                          "NumPy", [PY, os.path.join(HERE, "cka.py"), fa, fb], "value"))
    if "similarity" in only:
        sim = w("similarity")
        if not os.path.exists(os.path.join(sim, "y.npy")):
            os.makedirs(sim, exist_ok=True)
            subprocess.run([PY, os.path.join(HERE, "similarity.py"), "make", sim], check=True)
        fx, fy = os.path.join(sim, "x.npy"), os.path.join(sim, "y.npy")
        for m in ("svcca", "pwcca", "procrustes", "mutual-knn"):
            cases.append((f"{m} 10,000 x 1,024 vs 10,000 x 1,024", probe + ["similarity", "--measure", m, "--a", fx, "--b", fy, "--json"], "value",
                          "NumPy", [PY, os.path.join(HERE, "similarity.py"), m, fx, fy], m))
    if "probe" in only:
        subprocess.run([PY, os.path.join(HERE, "make_inputs.py"), a.work, "probe"], check=True)
        cases.append(("linear probe 50,000 x 512 train, 10,000 test, 10 classes",
                      probe + ["linear-probe", "--acts", w("probe_X.npy"), "--labels", w("probe_y.npy"), "--train-mask", w("probe_train.npy"), "--json"], "testAccuracy",
                      "scikit-learn lbfgs", [PY, os.path.join(HERE, "linear_probe.py"), w("probe_X.npy"), w("probe_y.npy"), w("probe_train.npy")], "testAccuracy"))
    if "tsne" in only:
        subprocess.run([PY, os.path.join(HERE, "make_inputs.py"), a.work, "tsne"], check=True)
        for n in map(int, a.tsne_sizes.split(",")):
            x = w(f"fmnist_pca50_{n}.npy")
            peer = [PY, os.path.join(HERE, "tsne.py"), x] if n <= a.sklearn_max_rows else None
            cases.append((f"t-SNE Fashion-MNIST PCA-50, {n:,} rows", probe + ["project", "--method", "tsne", "--acts", x, "--out", w(f"emb_{n}.npy"), "--json"], "trustworthiness",
                          "scikit-learn Barnes-Hut", peer, "trustworthiness"))

    for n in [int(v) for v in a.growth.split(",") if v]:
        subprocess.run([PY, os.path.join(HERE, "make_cka_inputs.py"), str(n), "1024", "768", a.work], check=True, stdout=subprocess.DEVNULL)
        fa, fb = w(f"cka_A_{n}_1024.npy"), w(f"cka_B_{n}_768.npy")
        cases.append((f"growth: linear CKA {n:,} x 1,024 vs {n:,} x 768", probe + ["cka", "--a", fa, "--b", fb, "--kernel", "linear", "--json"], "value", "", None, ""))
        subprocess.run([PY, os.path.join(HERE, "make_inputs.py"), a.work, f"probe={n}"], check=True)
        cases.append((f"growth: linear probe {n:,} x 512 (80% training)", probe + ["linear-probe", "--acts", w(f"probe_X_{n}.npy"), "--labels", w(f"probe_y_{n}.npy"),
                      "--train-mask", w(f"probe_train_{n}.npy"), "--json"], "testAccuracy", "", None, ""))

    print(f"machine: {machine()}; peers' BLAS: {blas}; load average at start {load()}", flush=True)
    rows = []
    for work, pcmd, pkey, pname, qcmd, qkey in cases:
        ps, qs = [], []
        for r in range(a.runs):
            ps.append(timed(pcmd))
            if qcmd:
                qs.append(timed(qcmd, peer_env))
        med = lambda xs, i: statistics.median(x[i] for x in xs)
        pt, pm, pv = med(ps, 0), med(ps, 1), number(ps[-1][2], pkey)
        line = f"| {work} | {pt:.2f} s, {pm:.0f} MiB | {pkey} {pv:.8g} | "
        if qs:
            qt, qm, qv = med(qs, 0), med(qs, 1), number(qs[-1][2], qkey)
            line += f"{pname} | {qt:.2f} s, {qm:.0f} MiB | {qkey} {qv:.8g} | {pt / qt:.2f}x | {pm / qm:.2f}x |"
        else:
            line += f"{pname} | {'not run (--sklearn-max-rows)' if pname else ''} | | | |"
        rows.append(line)
        print(f"  {work}: Probe {[round(x[0], 2) for x in ps]} s, peer {[round(x[0], 2) for x in qs]} s", file=sys.stderr, flush=True)
    print(f"\nWhole processes, median of {a.runs} runs (alternating), wall time and peak resident memory (/usr/bin/time); load average at end {load()}\n")
    print("| work | Probe (time, peak memory) | Probe's value | peer | peer (time, peak memory) | peer's value | time Probe / peer | memory Probe / peer |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if not a.keep and created:
        shutil.rmtree(a.work, ignore_errors=True)


if __name__ == "__main__":
    main()
