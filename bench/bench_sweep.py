"""Wall time of the 64-point x 3-rule sweep of issue 12, training included, in one run
(optionally also on another checkout, e.g. main, for the ratio), and where it went.

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k PYTHONPATH=. python bench/bench_sweep.py [--workers 2] [--baseline /work/main]

runs, in a temporary folder,

    python -m neurosim sweep hwconfigs/rram_tile.yaml workloads/mnist_compare.yaml \\
        --set crossbar.rows=32,64,128,256 --set crossbar.cols=32,64,128,256 \\
        --set noc.mesh=2x2,4x4,8x8,16x16 --algorithms bp,dfa,sdfa --epochs 1 --workers 2 --out DIR

and prints the wall time, then the split read from the sweep's ``timing.json``: the
workers' CPU seconds in training and in the chip model (placement, op graph, DES,
ledger), the driver's seconds before the first task (plan) and for the plots and page,
the rest of the wall (process start-up, imports, waiting), and the chip model's CPU
seconds per category (array size x mesh, the three rules together). On a machine other
jobs load, CPU seconds are the steadier figure. The baseline prints its wall time only
(a checkout without timing.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

GRID = ["--set", "crossbar.rows=32,64,128,256", "--set", "crossbar.cols=32,64,128,256",
        "--set", "noc.mesh=2x2,4x4,8x8,16x16", "--algorithms", "bp,dfa,sdfa", "--epochs", "1"]


def sweep_wall(root: str, workers: int) -> tuple[float, dict | None, list[dict]]:
    """(wall seconds, timing.json or None, the points' records)."""
    env = dict(os.environ, PYTHONPATH=root)
    with tempfile.TemporaryDirectory() as out:
        folder = os.path.join(out, "sweep")
        cmd = [sys.executable, "-m", "neurosim", "sweep", "hwconfigs/rram_tile.yaml", "workloads/mnist_compare.yaml",
               *GRID, "--workers", str(workers), "--out", folder]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=root, env=env, check=False, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        timing = None
        if os.path.isfile(os.path.join(folder, "timing.json")):
            with open(os.path.join(folder, "timing.json")) as f:
                timing = json.load(f)
        points = []
        for name in sorted(os.listdir(os.path.join(folder, "points"))):
            with open(os.path.join(folder, "points", name)) as f:
                points.append(json.load(f))
        return wall, timing, points


def report(wall: float, workers: int, timing: dict, points: list[dict]) -> None:
    train = sum(timing["training_cpu_s"].values())
    chip = sum(s for per in timing["chip_cpu_s"].values() for s in per.values())
    rest = wall - timing["plan_s"] - timing["execute_s"] - timing["plots_s"]
    print(f"  workers' CPU s: training {train:.1f}, chip model {chip:.1f} "
          f"(= {(train + chip) / workers:.1f} s of wall on {workers} workers if perfectly shared)")
    print(f"  driver wall s: plan {timing['plan_s']:.1f}, tasks {timing['execute_s']:.1f}, plots and page "
          f"{timing['plots_s']:.1f}, start-up and imports {rest:.1f}")
    params = {p["point_id"]: p["params"] for p in points}
    by_cat: dict[tuple, list[float]] = defaultdict(list)
    for pid, per in timing["chip_cpu_s"].items():
        p = params[pid]
        by_cat[(f"{p['crossbar.rows']}x{p['crossbar.cols']}", p["noc.mesh"])].append(sum(per.values()))
    print("  chip model CPU s per point (3 rules; ~0: does not fit), array rows x cols by mesh:")
    meshes = sorted({m for _, m in by_cat}, key=lambda m: int(m.split("x")[0]))
    arrays = sorted({a for a, _ in by_cat}, key=lambda a: tuple(int(v) for v in a.split("x")))
    print("    " + "array".ljust(9) + "".join(m.rjust(8) for m in meshes))
    for a in arrays:
        cells = [f"{sum(by_cat[(a, m)]):8.2f}" if (a, m) in by_cat else " " * 8 for m in meshes]
        print("    " + a.ljust(9) + "".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline", default="")
    args = ap.parse_args()
    here = os.getcwd()
    mine, timing, points = sweep_wall(here, args.workers)
    print(f"64 points x 3 rules, 1 epoch, {args.workers} workers: {mine:.1f} s wall")
    if timing is not None:
        report(mine, args.workers, timing, points)
    if args.baseline:
        base, _, _ = sweep_wall(args.baseline, args.workers)
        print(f"baseline {args.baseline}: {base:.1f} s wall ({base / mine:.2f}x)")


if __name__ == "__main__":
    main()
