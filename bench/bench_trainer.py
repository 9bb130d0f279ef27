"""Trainer speed against PyTorch CPU on the same net, rule and batch, measured in one run.

For each rule (bp, dfa, sdfa) of a workload, alternates one epoch of
:func:`torch_reference.torch_train` (PyTorch, one thread, the same math written
from the equations) and one epoch of :func:`neurosim.learning.train` (one BLAS
thread), ``--repeats`` times, and prints the best CPU seconds
(``time.process_time``) and wall seconds of each and their ratio
(PyTorch ÷ neurosim: above 1 means neurosim is faster). Both timings include the
end-of-epoch test pass (neurosim's also its alignment probe; ``--no-diagnostics`` drops
neurosim's alignment measures, which PyTorch's side does not compute). Numba kernels are
compiled (or loaded from the cache) before any timing, on 64 samples.

    pip install -e ".[bench]"
    NEUROSIM_DATA_DIR=../shared/data/mnist-10k PYTHONPATH=. python bench/bench_trainer.py workloads/mnist_compare.yaml [--repeats 3]

On a machine shared with other jobs the CPU-second ratio is the steadier figure;
the alternation puts both sides under the same load.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_reference import torch_train  # noqa: E402

from neurosim.config import workload as wlcfg  # noqa: E402
from neurosim.data import load_dataset  # noqa: E402
from neurosim.learning import train  # noqa: E402


def _timed(fn) -> tuple[float, float]:
    """(CPU s, wall s) of ``fn()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rules", default="bp,dfa,sdfa")
    ap.add_argument("--alignment-every", type=int, default=None,
                    help="neurosim's error-alignment interval in steps (default: the workload's schedule, "
                         "every 10 steps in epoch 1); a value above the epoch's steps leaves the measure at step 0 only")
    ap.add_argument("--no-diagnostics", action="store_true",
                    help="train as a sweep does (train(..., diagnostics=False): no error-signal alignment, no per-epoch "
                         "weight-update angle; the same bits), i.e. only what the PyTorch side computes")
    args = ap.parse_args()
    wl = wlcfg.load(args.workload)
    update = {"epochs": 1}
    if args.alignment_every is not None:
        update["alignment_every"] = args.alignment_every
    wl = wl.model_copy(update={"training": wl.training.model_copy(update=update)})
    data = load_dataset(wl.dataset)
    torch.set_num_threads(1)
    rules = args.rules.split(",")
    print(f"{'rule':5} {'torch CPU s':>11} {'neurosim CPU s':>14} {'CPU ratio':>9} {'torch wall s':>12} {'neurosim wall s':>15} {'wall ratio':>10}")
    for algo in wl.algorithms:
        if algo.name not in rules:
            continue
        train(wl, algo, data.x_train[:64], data.y_train[:64], data.x_test[:64], data.y_test[:64])  # compile / load kernels
        torch_times, ours = [], []
        for _ in range(args.repeats):
            torch_times.append(_timed(lambda: torch_train(wl, algo, data, wl.seed)))
            ours.append(_timed(lambda: train(wl, algo, data.x_train, data.y_train, data.x_test, data.y_test,
                                             diagnostics=not args.no_diagnostics)))
        t_cpu, n_cpu = min(t[0] for t in torch_times), min(t[0] for t in ours)
        t_wall, n_wall = min(t[1] for t in torch_times), min(t[1] for t in ours)
        print(f"{algo.name:5} {t_cpu:11.3f} {n_cpu:14.3f} {t_cpu / n_cpu:8.2f}x {t_wall:12.3f} {n_wall:15.3f} {t_wall / n_wall:9.2f}x", flush=True)


if __name__ == "__main__":
    main()
