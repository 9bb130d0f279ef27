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
    """``g[b, i] = Σ_k val[i, k] · e[b, idx[i, k]]`` for ``idx``/``val`` of shape (n, s)."""
    batch = e.shape[0]
    n, s = idx.shape
    g = np.zeros((batch, n), dtype=e.dtype)
    for r in range(batch):
        for i in range(n):
            acc = np.float32(0.0)
            for k in range(s):
                acc += val[i, k] * e[r, idx[i, k]]
            g[r, i] = acc
    return g

