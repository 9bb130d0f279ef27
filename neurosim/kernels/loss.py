"""Softmax cross-entropy: loss forward and output error side by side.

For logits ``z`` (B, C) and integer labels ``y`` (B,):

- ``p = softmax(z)`` row-wise (max-shifted for stability),
- ``loss = -(1/B) Σ_b log p[b, y_b]``,
- output error ``e = p - onehot(y)``, which is ``∂(B·loss)/∂z``: the per-sample
  gradient of the loss w.r.t. the logits. The ``1/B`` of the batch mean is
  applied once, in :func:`neurosim.kernels.dense.weight_grad`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["softmax_cross_entropy", "one_hot"]


@njit(cache=True)
def softmax_cross_entropy(z: np.ndarray, y: np.ndarray):
    """Returns ``(loss, e)``: mean cross-entropy (float) and ``e = softmax(z) - onehot(y)``."""
    rows, cols = z.shape
    e = np.empty_like(z)
    total = 0.0
    for r in range(rows):
        m = z[r, 0]
        for c in range(1, cols):
            if z[r, c] > m:
                m = z[r, c]
        s = np.float32(0.0)
        for c in range(cols):
            v = np.exp(z[r, c] - m)
            e[r, c] = v
            s += v
        inv = np.float32(1.0) / s
        for c in range(cols):
            e[r, c] *= inv
        label = y[r]
        total += np.log(s) - (z[r, label] - m)
        e[r, label] -= np.float32(1.0)
    return total / rows, e


@njit(cache=True)
def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    """``(B, classes)`` float32 matrix with a 1 at ``[b, y_b]``."""
    out = np.zeros((y.shape[0], classes), dtype=np.float32)
    for r in range(y.shape[0]):
        out[r, y[r]] = np.float32(1.0)
    return out
