"""``neurosim run`` wall time against the wall time of its training alone, in one run.

For each epoch count, two fresh processes on the same workload and chip:
``python -m neurosim run HW WL --epochs N`` (start-up, preflight, training, the
chip model, the report), and a script that imports the trainer, loads the same
data and calls :func:`neurosim.learning.train` for every rule of the workload
(what the run cannot do without). Prints both and their ratio. With ``--repeats N``
the two alternate N times and each column is the fastest of its N (on a shared
machine the fastest is the least disturbed); the load average is printed with each row.

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k PYTHONPATH=. python bench/bench_run.py \
        [--hw hwconfigs/rram_tile.yaml] [--wl workloads/mnist_sdfa.yaml] [--epochs 1,20] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

TRAIN_ONLY = """
import sys
from neurosim.config import workload as wlcfg
from neurosim.data import load_dataset
from neurosim.learning import train
wl = wlcfg.load(sys.argv[1])
wl = wl.model_copy(update={"training": wl.training.model_copy(update={"epochs": int(sys.argv[2])})})
data = load_dataset(wl.dataset, base_dir=None)
for algo in wl.algorithms:
    train(wl, algo, data.x_train, data.y_train, data.x_test, data.y_test)
"""


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ))
    return time.perf_counter() - t0


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hw", default="hwconfigs/rram_tile.yaml")
    ap.add_argument("--wl", default="workloads/mnist_sdfa.yaml")
    ap.add_argument("--epochs", default="1,20")
    ap.add_argument("--repeats", type=int, default=1, help="alternate the two N times; print the fastest of each")
    args = ap.parse_args()
    print(f"{'epochs':>6s} {'run s':>8s} {'train s':>8s} {'run/train':>9s}  load average before the row")
    for epochs in (int(e) for e in args.epochs.split(",")):
        load = _load()
        runs, trains = [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as out:
                runs.append(wall([sys.executable, "-m", "neurosim", "run", args.hw, args.wl, "--epochs", str(epochs),
                                  "--out", os.path.join(out, "run"), "--force"]))
            trains.append(wall([sys.executable, "-c", TRAIN_ONLY, args.wl, str(epochs)]))
        run_s, train_s = min(runs), min(trains)
        print(f"{epochs:6d} {run_s:8.2f} {train_s:8.2f} {run_s / train_s:8.2f}x  {load}", flush=True)


if __name__ == "__main__":
    main()
