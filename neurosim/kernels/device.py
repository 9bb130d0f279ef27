"""Device-faithful crossbar kernels: the quantised read and the pulse update.

Normalised conductance ``g ∈ [0, 1]`` (``g = (G - G_min)/(G_max - G_min)``),
pulse position ``p ∈ [0, 1]`` (pulses / levels). Curve with shape ``A``
(``A = 0`` means linear, ``A > 0`` LTP-like, ``A < 0`` LTD-like):

==============  =====================================================
curve           ``g(p) = (1 - e^{-p/A}) / (1 - e^{-1/A})``
inverse         ``p(g) = -A · ln(1 - g (1 - e^{-1/A}))``
DAC             ``x_q = s · sign(x) · round(min(|x|/s, 1) · (2^b - 1)) / (2^b - 1)``
ADC             ``y_q = clip(floor(y / lsb + ½), -2^(b-1), 2^(b-1) - 1) · lsb`` per array block,
                ``lsb = full_scale / 2^(b-1)``
==============  =====================================================

Every kernel is ``@njit(cache=True)``. The pulse update (with its formula table and its
counter-based cycle-to-cycle draws) is in :mod:`.device_pulse`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .dense import blas_dot
from .device_pulse import pulse_key, pulse_update, start_pulse_update
from .helper import run_items, two_threads

__all__ = [
    "curve",
    "curve_inverse",
    "dac_quantise",
    "block_mvm",
    "block_mvm_transposed",
    "block_weights",
    "plain_mvm",
    "pulse_update",
    "start_pulse_update",
    "pulse_key",
    "pulse_slots",
]


@njit(cache=True)
def curve(p: float, a: float) -> float:
    """Normalised conductance after pulse position ``p`` on a curve of shape ``a``."""
    if a == 0.0:
        return p
    return (1.0 - np.exp(-p / a)) / (1.0 - np.exp(-1.0 / a))


@njit(cache=True)
def curve_inverse(g: float, a: float) -> float:
    """Pulse position of normalised conductance ``g`` on a curve of shape ``a``."""
    if a == 0.0:
        return g
    return -a * np.log(1.0 - g * (1.0 - np.exp(-1.0 / a)))


@njit(cache=True)
def dac_quantise(x: np.ndarray, scale: np.ndarray, bits: int) -> np.ndarray:
    """Each row ``b`` of ``x`` on ``2^bits - 1`` magnitude steps of full scale ``scale[b]`` (sign kept)."""
    levels = np.float32(2**bits - 1)
    out = np.empty_like(x)
    rows, cols = x.shape
    for r in range(rows):
        s = scale[r]
        inv = np.float32(1.0) / s if s > 0 else np.float32(0.0)
        for c in range(cols):
            v = x[r, c]
            m = min(abs(v) * inv, np.float32(1.0))
            q = np.floor(m * levels + np.float32(0.5)) / levels * s
            out[r, c] = q if v >= 0 else -q
    return out


def plain_mvm(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x wᵀ`` exactly as :func:`dense_forward` computes it (the same NumPy BLAS call)."""
    return blas_dot(x, w.T)


@njit(cache=True, nogil=True)
def adc_quantise(part: np.ndarray, lsb: np.ndarray, bits: int) -> None:
    """One block's partial sums ``part`` (B, n_out) in place to their ADC values ``code · lsb[b]``."""
    rows, cols = part.shape
    top = np.float32(2 ** (bits - 1) - 1)
    bottom = np.float32(-(2 ** (bits - 1)))
    half = np.float32(0.5)
    for r in range(rows):
        step = lsb[r]
        inv = np.float32(1.0) / step if step > 0 else np.float32(0.0)
        for c in range(cols):
            code = np.floor(part[r, c] * inv + half)
            part[r, c] = min(max(code, bottom), top) * step


@njit(cache=True)
def _block_sum(parts: np.ndarray) -> np.ndarray:
    """``Σ_blk parts[blk]``, the blocks added in order."""
    out = np.zeros(parts.shape[1:], dtype=np.float32)
    for blk in range(parts.shape[0]):
        out += parts[blk]
    return out


#: Multiply-accumulates of one read from which its blocks are shared with the helper thread (kernels.helper).
SHARED_READ_MACS = 1 << 20


def _blocks(product, blocks: int, parts: np.ndarray, lsb: np.ndarray, adc_bits: int, macs: int) -> np.ndarray:
    """``product(i)`` (BLAS into ``parts[i]``) and its ADC for every block, on one thread or two; their sum."""

    def block(i: int) -> None:
        product(i)
        adc_quantise(parts[i], lsb, adc_bits)

    if macs >= SHARED_READ_MACS and blocks > 1 and two_threads():
        run_items(block, blocks)
    else:
        for i in range(blocks):
            block(i)
    return _block_sum(parts)


def block_weights(w: np.ndarray, block_rows: int) -> np.ndarray:
    """``w`` (n_out, n_in) as contiguous blocks of ``block_rows`` inputs (blocks, n_out, block_rows), zero-padded."""
    n_out, n_in = w.shape
    blocks = -(-n_in // block_rows)
    padded = np.zeros((n_out, blocks * block_rows), dtype=np.float32)
    padded[:, :n_in] = w
    return np.ascontiguousarray(padded.reshape(n_out, blocks, block_rows).transpose(1, 0, 2))


def block_mvm(x: np.ndarray, w_blocks: np.ndarray, lsb: np.ndarray, adc_bits: int) -> np.ndarray:
    """``x wᵀ`` summed over the row blocks of ``w`` (:func:`block_weights`), each block's column sums ADC-quantised.

    ``x`` (B, n_in); ``lsb[b]`` is sample ``b``'s ADC step. One BLAS product per
    block (a contiguous ``w_blocks[i]``) and its ADC (on two threads for large reads,
    :mod:`.helper`), then their sum in block order.
    """
    blocks, n_out, block_rows = w_blocks.shape
    n_in = x.shape[1]
    parts = np.empty((blocks, x.shape[0], n_out), dtype=np.float32)

    def product(i: int) -> None:
        start, stop = i * block_rows, min((i + 1) * block_rows, n_in)
        np.dot(x[:, start:stop], w_blocks[i, :, : stop - start].T, out=parts[i])

    return _blocks(product, blocks, parts, lsb, adc_bits, x.shape[0] * n_in * n_out)


def block_mvm_transposed(delta: np.ndarray, w: np.ndarray, block: int, lsb: np.ndarray, adc_bits: int) -> np.ndarray:
    """``δ w`` (``w`` (n_out, n_in), ``δ`` (B, n_out)) summed over blocks of ``block`` rows of ``w``
    (an array's columns in the transposed read), each block's partial sums ADC-quantised.

    A block of rows of ``w`` is contiguous, so no transposed copy is needed: one BLAS
    product per block and its ADC (on two threads for large reads, :mod:`.helper`), then their sum.
    """
    n_out, n_in = w.shape
    blocks = -(-n_out // block)
    parts = np.empty((blocks, delta.shape[0], n_in), dtype=np.float32)

    def product(i: int) -> None:
        start, stop = i * block, min((i + 1) * block, n_out)
        np.dot(delta[:, start:stop], w[start:stop], out=parts[i])

    return _blocks(product, blocks, parts, lsb, adc_bits, delta.shape[0] * n_in * n_out)


@njit(cache=True)
def pulse_slots(row_max: np.ndarray, rows: int) -> int:
    """Row-serial pulse slots of the slowest array: ``max`` over blocks of ``rows`` input rows of
    ``Σ_k (row_max[k, 0] + row_max[k, 1])`` (LTP then LTD, one row at a time); ``row_max`` is reset to 0."""
    slowest = 0
    for start in range(0, row_max.shape[0], rows):
        total = 0
        for k in range(start, min(start + rows, row_max.shape[0])):
            total += row_max[k, 0] + row_max[k, 1]
            row_max[k, 0] = 0
            row_max[k, 1] = 0
        slowest = max(slowest, total)
    return slowest
