"""Time ``neurosim report`` (comparison.csv, every plot, report.html) of run
directories, each with the neurosim of its own source tree, in one run; print
the medians and their ratio to the first.

    python bench/bench_report.py TREE:RUN_DIR [TREE:RUN_DIR ...] [--repeats 3]

e.g. the report before and after a change, on run folders each tree wrote:
``python bench/bench_report.py /work/main:/tmp/old_run .:/tmp/new_run``.
Each build runs in a fresh interpreter after one warm-up build (imports and
font cache excluded from the figure: only ``build()`` is timed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

_CODE = """
import sys, time
from neurosim.report import build
build(sys.argv[1])
t = time.perf_counter(); build(sys.argv[1]); print(time.perf_counter() - t)
"""


def _build_seconds(tree: str, run_dir: str) -> float:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    out = subprocess.run([sys.executable, "-c", _CODE, os.path.abspath(run_dir)], env=env, cwd=run_dir, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", metavar="TREE:RUN_DIR")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    medians = []
    for pair in args.pairs:
        tree, run_dir = pair.split(":", 1)
        times = [_build_seconds(tree, run_dir) for _ in range(args.repeats)]
        medians.append(statistics.median(times))
        print(f"{pair}: build {medians[-1]:.2f} s (median of {args.repeats}; {', '.join(f'{t:.2f}' for t in times)})")
    for pair, m in zip(args.pairs[1:], medians[1:]):
        print(f"{pair}: {m / medians[0]:.2f}x the time of {args.pairs[0]}")


if __name__ == "__main__":
    main()
