"""Direct feedback projections of the output error onto a hidden layer.

Dense: a fixed (or learned) matrix ``B`` of shape ``(n, C)`` maps the output
error ``e`` (B, C) to the hidden layer, ``g = e Bᵀ``, i.e. ``g_i = Σ_c B[i, c] e_c``.

Sparse (Crafton et al. 2019): neuron ``i`` listens to only ``s`` of the ``C``
errors, stored as index/value arrays ``idx, val`` of shape ``(n, s)``:
``g_i = Σ_k val[i, k] · e[idx[i, k]]``.

The results are the hidden error before ``f'``; see
:func:`neurosim.kernels.dense.activation_backward`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .dense import blas_dot

__all__ = ["dense_project", "sparse_project"]


def dense_project(e: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``g = e Bᵀ`` for ``e`` (batch, C) and ``B`` (n, C) (NumPy's BLAS: see :mod:`.dense`)."""
    return blas_dot(e, b.T)


@njit(cache=True)
def sparse_project(e: np.ndarray, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
    """``g[b, i] = Σ_k val[i, k] · e[b, idx[i, k]]`` for ``idx``/``val`` of shape (n, s).

    A gather: each unit reads its ``s`` errors, ``k`` outermost so that every ``(i, k)``
    pair is loaded once for the whole batch (4× faster than the per-sample order on
    32×800, s = 1); the sum over ``k`` runs in the same order, so the bits are the same.
    """
    batch = e.shape[0]
    n, s = idx.shape
    g = np.zeros((batch, n), dtype=e.dtype)
    for k in range(s):
        for i in range(n):
            c = idx[i, k]
            v = val[i, k]
            for r in range(batch):
                g[r, i] += v * e[r, c]
    return g
