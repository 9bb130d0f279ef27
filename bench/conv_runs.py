"""Train every rule of workloads/mnist_conv_compare.yaml over seeds and store the accuracies
in bench/results/mnist_conv_compare.json (read by bench/conv_validation.py).

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/conv_runs.py [--seeds 0 1 2] [--jobs 1]

The file records the command, the commit (``git rev-parse HEAD``, ``+dirty`` with
uncommitted changes), the UTC date, the wall seconds of every run and of the whole, and each
run's per-epoch test accuracy. Each run is :func:`bench.accuracy._one` (the Python API,
no chip model); same seed, same bits.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from accuracy import _one

from neurosim.config.workload import load

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = ROOT / "workloads" / "mnist_conv_compare.yaml"
RESULTS = ROOT / "bench" / "results" / "mnist_conv_compare.json"


def _commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "neurosim", "workloads"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return head + ("+dirty" if dirty else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    wl = load(WORKLOAD)
    names = [a.run_name for a in wl.algorithms]
    runs = [(str(WORKLOAD), n, s, None) for n in names for s in args.seeds]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(_one, *zip(*runs)))
    record = {
        "command": "NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/conv_runs.py "
                   f"--seeds {' '.join(map(str, args.seeds))} --jobs {args.jobs}",
        "workload": "workloads/mnist_conv_compare.yaml",
        "commit": _commit(),
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "runs": [{"algorithm": r[0], "seed": r[1], "final_test_accuracy": round(r[2], 2), "seconds": round(r[3], 1),
                  "per_epoch": [round(a, 2) for a in r[4]]} for r in results],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {RESULTS} ({record['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
