"""Time ``neurosim report`` (comparison.csv, every plot, report.html) of run
directories, each with the neurosim of its own source tree, in one run; print
the medians and their ratio to the first.

    python bench/bench_report.py TREE:RUN_DIR [TREE:RUN_DIR ...] [--repeats 3]

e.g. the report before and after a change, on run folders each tree wrote:
``python bench/bench_report.py /work/main:/tmp/old_run .:/tmp/new_run``.
Each build runs in a fresh interpreter after one warm-up build (imports and
font cache excluded from the figure: only ``build()`` is timed). CPU time is
printed beside wall time: on a shared machine it is the steadier figure.
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
t, c = time.perf_counter(), time.process_time(); build(sys.argv[1])
print(time.perf_counter() - t, time.process_time() - c)
"""


def _build_seconds(tree: str, run_dir: str) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    out = subprocess.run([sys.executable, "-c", _CODE, os.path.abspath(run_dir)], env=env, cwd=run_dir, capture_output=True,
                         text=True, check=True)
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", metavar="TREE:RUN_DIR")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    medians = []
    for pair in args.pairs:
        tree, run_dir = pair.split(":", 1)
        times = [_build_seconds(tree, run_dir) for _ in range(args.repeats)]
        wall = statistics.median(t[0] for t in times)
        cpu = statistics.median(t[1] for t in times)
        medians.append((wall, cpu))
        print(f"{pair}: build {wall:.2f} s wall, {cpu:.2f} s CPU (medians of {args.repeats})")
    for pair, (wall, cpu) in zip(args.pairs[1:], medians[1:]):
        print(f"{pair}: {wall / medians[0][0]:.2f}x the wall time, {cpu / medians[0][1]:.2f}x the CPU time of {args.pairs[0]}")


if __name__ == "__main__":
    main()
