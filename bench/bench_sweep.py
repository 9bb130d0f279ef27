"""Wall time of the 64-point x 3-rule sweep of issue 12, training included, in one run
(optionally also on another checkout, e.g. main, for the ratio).

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k PYTHONPATH=. python bench/bench_sweep.py [--workers 2] [--baseline /work/main]

runs, in a temporary folder,

    python -m neurosim sweep hwconfigs/rram_tile.yaml workloads/mnist_compare.yaml \\
        --set crossbar.rows=32,64,128,256 --set crossbar.cols=32,64,128,256 \\
        --set noc.mesh=2x2,4x4,8x8,16x16 --algorithms bp,dfa,sdfa --epochs 1 --workers 2 --out DIR
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

GRID = ["--set", "crossbar.rows=32,64,128,256", "--set", "crossbar.cols=32,64,128,256",
        "--set", "noc.mesh=2x2,4x4,8x8,16x16", "--algorithms", "bp,dfa,sdfa", "--epochs", "1"]


def sweep_wall(root: str, workers: int) -> float:
    env = dict(os.environ, PYTHONPATH=root)
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "neurosim", "sweep", "hwconfigs/rram_tile.yaml", "workloads/mnist_compare.yaml",
               *GRID, "--workers", str(workers), "--out", os.path.join(out, "sweep")]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=root, env=env, check=False, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline", default="")
    args = ap.parse_args()
    here = os.getcwd()
    mine = sweep_wall(here, args.workers)
    print(f"64 points x 3 rules, 1 epoch, {args.workers} workers: {mine:.1f} s wall")
    if args.baseline:
        base = sweep_wall(args.baseline, args.workers)
        print(f"baseline {args.baseline}: {base:.1f} s wall ({base / mine:.2f}x)")


if __name__ == "__main__":
    main()
