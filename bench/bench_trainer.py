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

Then, per rule, how close neurosim runs to BLAS, timed in the same run: its epoch's
products in GFLOP/s (``2 ×`` the MACs of :func:`neurosim.counts.epoch_counts` plus the
test pass's forward MACs, over the best CPU seconds) and as a share of NumPy's
one-thread sgemm on a 1536³ product (the core's practical peak); the BLAS floor, the
epoch's products timed alone with the trainer's own calls and shapes (no time outside
BLAS); and ``torch ÷ floor``, the largest CPU ratio the trainer could show while its
products stay those BLAS calls.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_reference import torch_train  # noqa: E402

from neurosim import counts  # noqa: E402
from neurosim.config import workload as wlcfg  # noqa: E402
from neurosim.data import load_dataset  # noqa: E402
from neurosim.learning import train  # noqa: E402


def _timed(fn) -> tuple[float, float]:
    """(CPU s, wall s) of ``fn()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def _best_seconds(fn, seconds: float = 0.2) -> float:
    """CPU seconds of one ``fn()``: the best of 3 blocks of calls lasting about ``seconds`` each."""
    fn()
    once = max(_timed(fn)[0], 1e-6)
    calls = max(1, int(seconds / once))
    return min(_timed(lambda: [fn() for _ in range(calls)])[0] for _ in range(3)) / calls


def _peak_gflops(size: int = 1536) -> float:
    """NumPy's one-thread sgemm rate on a ``size``³ product (the core's practical peak)."""
    from neurosim.kernels.blas import single_threaded_blas

    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    with single_threaded_blas():
        return 2.0 * size**3 / _best_seconds(lambda: a @ a, 0.5) / 1e9


def _epoch_flops(wl: wlcfg.Workload, algo, n_train: int, n_test: int) -> float:
    """FLOPs of one epoch's products: the rule's MACs (:func:`neurosim.counts.epoch_counts`) and the test pass's forward."""
    train_macs = sum(counts.macs_by_phase(counts.epoch_counts(wl.shapes, n_train, wl.training.batch_size, algo)).values())
    test_macs = counts.macs_by_phase(counts.step_counts(wl.shapes, n_test, algo))["forward"]
    return 2.0 * (train_macs + test_macs)


def _blas_floor(wl: wlcfg.Workload, algo, n_train: int, n_test: int, chunk: int = 1000) -> float:
    """CPU seconds of one epoch's BLAS products alone, each timed here on its own (one thread): per
    step and weight layer the forward ``x Wᵀ`` (NumPy), the SGD step ``W += α δᵀ x`` (SciPy's sgemm,
    as the trainer calls it) and, where the rule's error is the chain, ``δ W`` of the layer above
    (NumPy); the test pass's ``x Wᵀ`` in the trainer's chunks. The rule's small direct projections
    and every non-BLAS pass are left out."""
    from neurosim.kernels.blas import single_threaded_blas
    from neurosim.kernels.sgemm import sgemm_accumulate

    batch, widths = wl.training.batch_size, wl.widths
    error_macs = {r.layer: r.count for r in counts.step_counts(wl.shapes, batch, algo)
                  if r.phase == "error" and r.action == "mac"}
    names = counts.layer_names(wl.shapes)
    rng = np.random.default_rng(0)
    per_step = test = 0.0
    with single_threaded_blas():
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
            x = rng.standard_normal((batch, n_in), dtype=np.float32)
            delta = rng.standard_normal((batch, n_out), dtype=np.float32)
            w = rng.standard_normal((n_out, n_in), dtype=np.float32) * np.float32(0.01)
            per_step += _best_seconds(lambda: x @ w.T)
            per_step += _best_seconds(lambda: sgemm_accumulate(np.float32(-1e-9), x, delta, w))
            if i > 0 and error_macs.get(names[i - 1], 0) >= batch * n_in * n_out:
                per_step += _best_seconds(lambda: delta @ w)
            rows = rng.standard_normal((min(chunk, n_test), n_in), dtype=np.float32)
            test += _best_seconds(lambda: rows @ w.T) * (n_test / rows.shape[0])
    return per_step * -(-n_train // batch) + test


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
    peak = _peak_gflops()
    best_cpu: dict[str, tuple[float, float]] = {}
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
        best_cpu[algo.name] = (t_cpu, n_cpu)
    print(f"\nBLAS alone (one thread; NumPy sgemm on 1536^3: {peak:.1f} GFLOP/s)")
    print(f"{'rule':5} {'GFLOP/epoch':>11} {'neurosim GFLOP/s':>16} {'of peak':>7} {'BLAS floor s':>12} "
          f"{'neurosim / floor':>16} {'torch / floor':>13}")
    for name, (t_cpu, n_cpu) in best_cpu.items():
        algo = wl.algorithm(name)
        flops = _epoch_flops(wl, algo, len(data.x_train), len(data.x_test))
        floor = _blas_floor(wl, algo, len(data.x_train), len(data.x_test))
        print(f"{name:5} {flops / 1e9:11.2f} {flops / n_cpu / 1e9:16.1f} {flops / n_cpu / 1e9 / peak:7.0%} {floor:12.3f} "
              f"{n_cpu / floor:15.2f}x {t_cpu / floor:12.2f}x")

if __name__ == "__main__":
    main()
