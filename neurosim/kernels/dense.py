"""Dense (fully connected) layer kernels, forward and backward side by side.

Shapes follow the row-major batch convention: a batch ``x`` is ``(B, n_in)``,
a weight matrix ``w`` is ``(n_out, n_in)`` (one row per output neuron), a bias
``b`` is ``(n_out,)``. All arrays are float32 and C-contiguous. The matrix
products call BLAS through NumPy's ``np.dot`` from Python, outside ``@njit``:
numba's ``np.dot`` binds SciPy's OpenBLAS, which on the trainer's shapes (batch 32,
800×784) is 1.3× (``x wᵀ``) to 4× (``δᵀ x``, ``δ w``, transposed operands)
slower than NumPy's; both run the same one-thread sgemm, so the products are
bit-identical (``tests/test_mlp_regression.py`` pins them). The element-wise
parts (bias, activation, its derivative, the ``1/B`` scaling) stay fused numba loops.
Like those, the products stay silent on overflow (a diverging run is caught by the
trainer's finite-loss check, not by a NumPy warning): :func:`blas_dot`. Plain SGD
does not form ``ΔW`` at all: :func:`dense_sgd_update` is one sgemm with ``β = 1``
into ``W`` (SciPy's OpenBLAS ``sgemm``, called without the GIL by :mod:`.sgemm`: NumPy's
binding has no ``β``).

Activations are selected by an integer code (numba cannot dispatch on
strings cheaply): :data:`IDENTITY`, :data:`TANH`, :data:`RELU`,
:data:`LEAKY_RELU` (slope ``slope`` for negative inputs), :data:`SIGMOID`
(``1/(1 + e^{-a})``, MLP+NeuroSim's activation).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .sgemm import sgemm_accumulate

__all__ = [
    "IDENTITY",
    "TANH",
    "RELU",
    "LEAKY_RELU",
    "SIGMOID",
    "activation_code",
    "activate",
    "dense_forward",
    "activate",
    "bias_activation",
    "activation_backward",
    "backward_input",
    "dense_jvp",
    "weight_grad",
    "dense_sgd_update",
    "blas_dot",
]

IDENTITY = 0
TANH = 1
RELU = 2
LEAKY_RELU = 3
SIGMOID = 4

_CODES = {"identity": IDENTITY, "tanh": TANH, "relu": RELU, "leaky_relu": LEAKY_RELU, "sigmoid": SIGMOID}


def activation_code(name: str) -> int:
    """The kernel code of an activation named as in the workload config."""
    try:
        return _CODES[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(_CODES)}") from None


# --------------------------------------------------------------------------- forward


def blas_dot(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``np.dot`` without NumPy's floating-point warnings (inf/NaN propagate as in numba)."""
    with np.errstate(all="ignore"):
        return np.dot(left, right)

_TANH_CLAMP = np.float32(7.90531110763549805)


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _tanh_into(a: np.ndarray, h: np.ndarray) -> None:
    """``h = tanh(a)`` by a vectorisable rational approximation (Eigen's float tanh).

    ``tanh(x) ≈ x·P(x²)/Q(x²)`` on ``x`` clamped to ``±7.905`` (where float32 tanh
    is 1 to within an ulp), ``P`` of degree 6 and ``Q`` of degree 3; the error is
    below 3e-7, i.e. a few float32 ulp. ``error_model="numpy"`` drops Python's
    zero-division check (``Q ≥ 0.0049``), which is what lets the loop vectorise: 5×
    faster than the checked scalar loop, same bits (only fused multiply-adds allowed,
    no reciprocal approximation).
    """
    rows, cols = a.shape
    for r in range(rows):
        for c in range(cols):
            x = min(max(a[r, c], -_TANH_CLAMP), _TANH_CLAMP)
            x2 = x * x
            p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
            p = p * x2 + np.float32(-8.60467152213735e-11)
            p = p * x2 + np.float32(5.12229709037114e-08)
            p = p * x2 + np.float32(1.48572235717979e-05)
            p = p * x2 + np.float32(6.37261928875436e-04)
            p = p * x2 + np.float32(4.89352455891786e-03)
            q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
            q = q * x2 + np.float32(2.26843463243900e-03)
            q = q * x2 + np.float32(4.89352518554385e-03)
            h[r, c] = x * p / q


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, act: int, slope: float):
    """``a = x wᵀ + b`` (NumPy BLAS) and ``h = f(a)`` (one fused numba pass).

    Returns ``(a, h)``: the pre-activation (kept for the derivative) and the
    output. For :data:`IDENTITY` both are the same array.
    """
    return bias_activation(blas_dot(x, w.T), b, act, slope)


@njit(cache=True)
def bias_activation(a: np.ndarray, b: np.ndarray, act: int, slope: float):
    """``a += b`` in place, then ``(a, f(a))`` (the MVM's result is ``a``; the device read path uses it too)."""
    rows, cols = a.shape
    for r in range(rows):
        for c in range(cols):
            a[r, c] += b[c]
    return a, activate(a, act, slope)


@njit(cache=True, error_model="numpy")
def activate(a: np.ndarray, act: int, slope: float) -> np.ndarray:
    """``f(a)`` (a new array; ``a`` itself for :data:`IDENTITY`)."""
    if act == IDENTITY:
        return a
    rows, cols = a.shape
    h = np.empty_like(a)
    if act == TANH:
        _tanh_into(a, h)
        return h
    if act == SIGMOID:
        one = np.float32(1.0)
        for r in range(rows):
            for c in range(cols):
                h[r, c] = one / (one + np.exp(-a[r, c]))
        return h
    s = np.float32(0.0) if act == RELU else np.float32(slope)
    for r in range(rows):
        for c in range(cols):
            v = a[r, c]
            h[r, c] = v if v > np.float32(0.0) else s * v
    return h


# --------------------------------------------------------------------------- backward


@njit(cache=True)
def activation_backward(g: np.ndarray, a: np.ndarray, h: np.ndarray, act: int, slope: float):
    """``δ = g ⊙ f'(a)``, in place on ``g`` (which is also returned).

    ``f'`` is taken from the stored output for tanh (``1 - h²``) and sigmoid
    (``h (1 - h)``) and from the
    stored pre-activation for the rectifiers (``1`` if ``a > 0`` else ``0`` or
    ``slope``).
    """
    if act == IDENTITY:
        return g
    rows, cols = g.shape
    if act == TANH:
        one = np.float32(1.0)
        for r in range(rows):
            for c in range(cols):
                hv = h[r, c]
                g[r, c] *= one - hv * hv
        return g
    if act == SIGMOID:
        one = np.float32(1.0)
        for r in range(rows):
            for c in range(cols):
                hv = h[r, c]
                g[r, c] *= hv * (one - hv)
        return g
    s = np.float32(0.0) if act == RELU else np.float32(slope)
    for r in range(rows):
        for c in range(cols):
            if a[r, c] <= np.float32(0.0):
                g[r, c] *= s
    return g


def backward_input(delta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The transpose-chain product ``g = δ w`` (i.e. ``wᵀ δ`` per sample).

    With ``w`` the forward weights this is BP's error for the layer below
    (before ``f'``); with a fixed random matrix of the same shape it is FA's.
    """
    return blas_dot(delta, w)


def weight_grad(delta: np.ndarray, x: np.ndarray):
    """Batch-mean gradients ``ΔW = δᵀ x / B`` and ``Δb = Σ_b δ / B``.

    ``delta`` is ``(B, n_out)`` and ``x`` the layer input ``(B, n_in)``.
    The ``1/B`` scaling is applied to ``δ`` before the product (cheaper than
    scaling ``ΔW``).
    """
    scaled, db = _scale_rows(delta)
    return blas_dot(scaled.T, x), db


@njit(cache=True)
def _scale_rows(delta: np.ndarray):
    """``(δ/B, Σ_b δ/B)``: the scaled error and the bias gradient, in one pass."""
    rows, cols = delta.shape
    scaled = np.empty_like(delta)
    db = np.zeros(cols, dtype=delta.dtype)
    inv = np.float32(1.0 / rows)
    for r in range(rows):
        for c in range(cols):
            v = delta[r, c] * inv
            scaled[r, c] = v
            db[c] += v
    return scaled, db


def dense_sgd_update(delta: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, lr: float) -> None:
    """One plain-SGD step of a dense layer, in place: ``W ← W - η δᵀx/B``, ``b ← b - η Σ_b δ/B``.

    The weight step is one sgemm with ``β = 1`` writing into ``W`` (SciPy's OpenBLAS
    ``sgemm``, which takes ``β``; NumPy's binding does not, called without the GIL by
    :func:`~.sgemm.sgemm_accumulate`): no ``ΔW`` array, no update pass.
    ``W`` (n_out, n_in) row-major is ``Wᵀ`` column-major, so the call computes
    ``Wᵀ ← Wᵀ + α xᵀ δ`` with ``α = -η/B`` on the arrays' own memory (``x.T``, ``δ.T``
    and ``W.T`` are Fortran-ordered views: no copies). Equal to :func:`weight_grad` then
    :func:`~neurosim.kernels.update.sgd_step` in exact arithmetic; in float32 it rounds
    once per element where that pair rounds three times (``δ/B``, ``ΔW``, ``η ΔW``), so
    the bits differ. The bias step is the pair's, bit for bit.
    """
    alpha = np.float32(-np.float32(lr) * np.float32(1.0 / delta.shape[0]))
    if w.dtype != np.float32 or not w.flags.c_contiguous:  # a copy would lose the step
        raise ValueError("dense_sgd_update needs a C-contiguous float32 weight matrix")
    # SciPy's sgemm without the GIL (kernels.sgemm): the same routine and arguments as
    # scipy.linalg.blas.sgemm(alpha, x.T, delta.T, 1.0, w.T, trans_b=1, overwrite_c=1)
    sgemm_accumulate(alpha, np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(delta, dtype=np.float32), w)
    _bias_sgd(delta, b, lr)


@njit(cache=True)
def _bias_sgd(delta: np.ndarray, b: np.ndarray, lr: float) -> None:
    """``b ← b - η Σ_b (δ/B)`` in place (the sums as :func:`_scale_rows` forms them)."""
    rows, cols = delta.shape
    db = np.zeros(cols, dtype=delta.dtype)
    inv = np.float32(1.0 / rows)
    for r in range(rows):
        for c in range(cols):
            db[c] += delta[r, c] * inv
    eta = np.float32(lr)
    for c in range(cols):
        b[c] -= eta * db[c]


# --------------------------------------------------------------------------- forward mode


def dense_jvp(t: np.ndarray, w: np.ndarray, a: np.ndarray, h: np.ndarray, act: int, slope: float):
    """Forward-mode product: the tangent of ``h = f(x wᵀ + b)`` for input tangent ``t``.

    ``ṫ = (t wᵀ) ⊙ f'(a)``, with ``a``/``h`` the stored forward values.
    """
    return activation_backward(blas_dot(t, w.T), a, h, act, slope)
