"""Time the numba kernels against plain NumPy of the same math, in one run.

Shapes are those of the acceptance workload (784-800-800-10, batch 32, tanh).
Each figure is the median over repeats of the mean time of a block of calls.

    python bench/bench_kernels.py [--batch 32] [--repeats 7] [--calls 200]

(with neurosim installed, e.g. ``pip install -e .``, or ``PYTHONPATH=.`` from the repo root).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from neurosim import kernels as K


def _median_us(fn: Callable[[], object], repeats: int, calls: int) -> float:
    fn()  # compile / warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return float(np.median(times)) * 1e6


def _softmax_ce_numpy(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    shifted = z - z.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    s = p.sum(axis=1, keepdims=True)
    p /= s
    loss = float(np.mean(np.log(s[:, 0]) - shifted[np.arange(len(y)), y]))
    p[np.arange(len(y)), y] -= 1
    return loss, p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    bsz, n_in, n, classes = args.batch, 784, 800, 10
    x = rng.random((bsz, n_in), dtype=np.float32)
    w = (rng.standard_normal((n, n_in), dtype=np.float32) / np.sqrt(n_in)).astype(np.float32)
    w2 = (rng.standard_normal((n, n), dtype=np.float32) / np.sqrt(n)).astype(np.float32)
    b = np.zeros(n, dtype=np.float32)
    a, h = K.dense_forward(x, w, b, K.TANH, 0.0)
    delta = rng.standard_normal((bsz, n), dtype=np.float32)
    z = rng.standard_normal((bsz, classes), dtype=np.float32)
    y = rng.integers(0, classes, bsz)
    fb = rng.uniform(-1, 1, (n, classes)).astype(np.float32)
    idx = (np.arange(n) % classes).reshape(n, 1).astype(np.int64)
    val = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    p = w.copy()
    grad = np.full_like(w, 1e-9)

    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "dense_forward (x Wᵀ + b, tanh)",
            lambda: K.dense_forward(x, w, b, K.TANH, 0.0),
            lambda: np.tanh(x @ w.T + b),
        ),
        (
            "activation_backward (tanh)",
            lambda: K.activation_backward(delta.copy(), a, h, K.TANH, 0.0),
            lambda: delta * (1 - h * h),
        ),
        ("backward_input (δ W, 800x800)", lambda: K.backward_input(delta, w2), lambda: delta @ w2),
        (
            "weight_grad (δᵀ x / B, Σδ / B)",
            lambda: K.weight_grad(delta, x),
            lambda: (delta.T @ x / bsz, delta.mean(axis=0)),
        ),
        ("softmax_cross_entropy", lambda: K.softmax_cross_entropy(z, y), lambda: _softmax_ce_numpy(z, y)),
        ("dense_project (e Bᵀ)", lambda: K.dense_project(z, fb), lambda: z @ fb.T),
        ("sparse_project (s = 1)", lambda: K.sparse_project(z, idx, val), lambda: (z[:, idx] * val).sum(axis=2)),
        ("sgd_step (800x784, in place)", lambda: K.sgd_step(p, grad, 0.1), lambda: np.subtract(p, 0.1 * grad, out=p)),
    ]
    print(f"batch {bsz}, layer {n_in}->{n}, {classes} classes; median of {args.repeats} x {args.calls} calls")
    print(f"{'kernel':<36}{'numba [us]':>12}{'numpy [us]':>12}{'speedup':>10}")
    for name, fused, reference in cases:
        t_nb = _median_us(fused, args.repeats, args.calls)
        t_np = _median_us(reference, args.repeats, args.calls)
        print(f"{name:<36}{t_nb:>12.1f}{t_np:>12.1f}{t_np / t_nb:>9.2f}x")


if __name__ == "__main__":
    main()
