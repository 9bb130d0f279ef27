"""Dense (fully connected) layer kernels, forward and backward side by side.

Shapes follow the row-major batch convention: a batch ``x`` is ``(B, n_in)``,
a weight matrix ``w`` is ``(n_out, n_in)`` (one row per output neuron), a bias
``b`` is ``(n_out,)``. All arrays are float32 and C-contiguous; the matrix
products call BLAS through ``np.dot`` inside ``@njit``.

Activations are selected by an integer code (numba cannot dispatch on
strings cheaply): :data:`IDENTITY`, :data:`TANH`, :data:`RELU`,
:data:`LEAKY_RELU` (slope ``slope`` for negative inputs).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "IDENTITY",
    "TANH",
    "RELU",
    "LEAKY_RELU",
    "activation_code",
    "dense_forward",
    "activation_backward",
    "backward_input",
    "dense_jvp",
    "weight_grad",
]

IDENTITY = 0
TANH = 1
RELU = 2
LEAKY_RELU = 3

_CODES = {"identity": IDENTITY, "tanh": TANH, "relu": RELU, "leaky_relu": LEAKY_RELU}


def activation_code(name: str) -> int:
    """The kernel code of an activation named as in the workload config."""
    try:
        return _CODES[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(_CODES)}") from None


# --------------------------------------------------------------------------- forward


@njit(cache=True)
def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, act: int, slope: float):
    """Fused ``a = x wᵀ + b`` and ``h = f(a)``.

    Returns ``(a, h)``: the pre-activation (kept for the derivative) and the
    output. For :data:`IDENTITY` both are the same array.
    """
    a = np.dot(x, w.T)
    rows, cols = a.shape
    for r in range(rows):
        for c in range(cols):
            a[r, c] += b[c]
    if act == IDENTITY:
        return a, a
    h = np.empty_like(a)
    s = np.float32(slope)
    zero = np.float32(0.0)
    for r in range(rows):
        for c in range(cols):
            v = a[r, c]
            if act == TANH:
                h[r, c] = np.tanh(v)
            elif act == RELU:
                h[r, c] = v if v > zero else zero
            else:
                h[r, c] = v if v > zero else s * v
    return a, h


# --------------------------------------------------------------------------- backward


@njit(cache=True)
def activation_backward(g: np.ndarray, a: np.ndarray, h: np.ndarray, act: int, slope: float):
    """``δ = g ⊙ f'(a)``, in place on ``g`` (which is also returned).

    ``f'`` is taken from the stored output for tanh (``1 - h²``) and from the
    stored pre-activation for the rectifiers (``1`` if ``a > 0`` else ``0`` or
    ``slope``).
    """
    if act == IDENTITY:
        return g
    rows, cols = g.shape
    one = np.float32(1.0)
    zero = np.float32(0.0)
    s = np.float32(slope)
    for r in range(rows):
        for c in range(cols):
            if act == TANH:
                hv = h[r, c]
                g[r, c] *= one - hv * hv
            elif act == RELU:
                if a[r, c] <= zero:
                    g[r, c] = zero
            else:
                if a[r, c] <= zero:
                    g[r, c] *= s
    return g


@njit(cache=True)
def backward_input(delta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The transpose-chain product ``g = δ w`` (i.e. ``wᵀ δ`` per sample).

    With ``w`` the forward weights this is BP's error for the layer below
    (before ``f'``); with a fixed random matrix of the same shape it is FA's.
    """
    return np.dot(delta, w)


@njit(cache=True)
def weight_grad(delta: np.ndarray, x: np.ndarray):
    """Batch-mean gradients ``ΔW = δᵀ x / B`` and ``Δb = Σ_b δ / B``.

    ``delta`` is ``(B, n_out)`` and ``x`` the layer input ``(B, n_in)``.
    The ``1/B`` scaling is applied to ``δ`` before the product (cheaper than
    scaling ``ΔW``).
    """
    rows, cols = delta.shape
    scaled = np.empty_like(delta)
    db = np.zeros(cols, dtype=delta.dtype)
    inv = np.float32(1.0 / rows)
    for r in range(rows):
        for c in range(cols):
            v = delta[r, c] * inv
            scaled[r, c] = v
            db[c] += v
    return np.dot(scaled.T, x), db


# --------------------------------------------------------------------------- forward mode


@njit(cache=True)
def dense_jvp(t: np.ndarray, w: np.ndarray, a: np.ndarray, h: np.ndarray, act: int, slope: float):
    """Forward-mode product: the tangent of ``h = f(x wᵀ + b)`` for input tangent ``t``.

    ``ṫ = (t wᵀ) ⊙ f'(a)``, with ``a``/``h`` the stored forward values.
    """
    return activation_backward(np.dot(t, w.T), a, h, act, slope)
