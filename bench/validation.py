"""Regenerate every generated section of docs/validation.md in one command.

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/validation.py [--quick] [--conv-runs]

Runs, in order, each section's own generator (each rewrites only the text between
its marker comments, so the sections stay independent). Times measured on the shared
2-core machine (load 4–7, five engineers):

==========================  ==========================================  ==============
script                      section                                     time here
==========================  ==========================================  ==============
``validation_counts.py``    MAC and data-movement ratios, two views     ~3 s
``conv_validation.py``      conv nets: accuracy (stored runs) + counts  ~3 s
``rule_defaults.py``        every rule at its shipped defaults          ~7 min
``fdfa_authors.py``         forward DFA vs DFA vs forward gradient      ~5 min
``alignment_curves.py``     first-epoch alignment (Launay et al.)       ~1 min
``bottleneck.py``           the bottleneck effect (Launay et al.)       see its section
==========================  ==========================================  ==============

The conv section reads bench/results/mnist_conv_compare.json, whose provenance (command,
commit, date, duration) it prints; ``--conv-runs`` first re-measures it with
``bench/conv_runs.py --seeds 0 1 2 --jobs 1`` (its duration is in the section). The
MLP+NeuroSim V3.0 section is measured with that external tool, built outside this
repository; its commands are in the section itself. ``--quick`` runs only the count-only
scripts (no training).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = ("validation_counts.py", "conv_validation.py")
TRAINING = ("rule_defaults.py", "fdfa_authors.py", "alignment_curves.py", "bottleneck.py")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the count-only sections (no training)")
    ap.add_argument("--conv-runs", action="store_true", help="re-measure the stored conv runs first")
    args = ap.parse_args()
    scripts = ([("conv_runs.py", "--seeds", "0", "1", "2", "--jobs", "1")] if args.conv_runs else [])
    scripts += [(name,) for name in QUICK + (() if args.quick else TRAINING)]
    total = time.perf_counter()
    for name, *extra in scripts:
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / name), *extra])
        print(f"{name}: exit {rc}, {time.perf_counter() - start:.0f} s", flush=True)
        if rc:
            return rc
    print(f"docs/validation.md regenerated in {time.perf_counter() - total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
