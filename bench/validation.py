"""Regenerate every generated section of docs/validation.md in one command.

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/validation.py [--quick]

Runs, in order, each section's own generator (each rewrites only the text between
its marker comments, so the sections stay independent):

==========================  ========================================  ==============
script                      section                                   time here
==========================  ========================================  ==============
``validation_counts.py``    MAC and data-movement ratios, two views   ~3 s
``rule_defaults.py``        every rule at its shipped defaults        ~7 min
``fdfa_authors.py``         forward DFA vs DFA vs forward gradient    ~5 min
==========================  ========================================  ==============

The MLP+NeuroSim V3.0 section is measured with that external tool, built outside
this repository; its commands are in the section itself. ``--quick`` runs only the
counts (no training).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("validation_counts.py", "rule_defaults.py", "fdfa_authors.py")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the counts section (no training)")
    args = ap.parse_args()
    for name in SCRIPTS[:1] if args.quick else SCRIPTS:
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / name)])
        print(f"{name}: exit {rc}, {time.perf_counter() - start:.0f} s", flush=True)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
