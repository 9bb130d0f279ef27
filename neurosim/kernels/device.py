"""Device-faithful crossbar kernels: the quantised read and the pulse update.

Normalised conductance ``g ∈ [0, 1]`` (``g = (G - G_min)/(G_max - G_min)``),
pulse position ``p ∈ [0, 1]`` (pulses / levels). Curve with shape ``A``
(``A = 0`` means linear, ``A > 0`` LTP-like, ``A < 0`` LTD-like):

==============  =====================================================
curve           ``g(p) = (1 - e^{-p/A}) / (1 - e^{-1/A})``
inverse         ``p(g) = -A · ln(1 - g (1 - e^{-1/A}))``
DAC             ``x_q = s · sign(x) · round(min(|x|/s, 1) · (2^b - 1)) / (2^b - 1)``
ADC             ``y_q = clip(floor(y / lsb + ½), -2^(b-1), 2^(b-1) - 1) · lsb`` per array block,
                ``lsb = full_scale / 2^(b-1)``; the blocks' ``y_q`` added in block order
==============  =====================================================

Every kernel is ``@njit(cache=True)``. The pulse update (with its formula table and its
counter-based cycle-to-cycle draws) is in :mod:`.device_pulse`, its threads in :mod:`.pulse_threads`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .dense import blas_dot
from .device_pulse import pulse_key
from .helper import run_items, two_threads
from .pulse_threads import pulse_update, start_pulse_update

__all__ = [
    "curve",
    "curve_inverse",
    "dac_quantise",
    "block_mvm",
    "block_mvm_transposed",
    "block_weights",
    "adc_sum",
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
def adc_sum(parts: np.ndarray, lsb: np.ndarray, bits: int) -> np.ndarray:
    """``Σ_blk adc(parts[blk])``: each block's partial sums (blocks, B, n_out) to their ADC values
    ``code · lsb[b]``, added in block order from 0 (one pass; ``parts`` is left as it is)."""
    blocks, rows, cols = parts.shape
    top = np.float32(2 ** (bits - 1) - 1)
    bottom = np.float32(-(2 ** (bits - 1)))
    half = np.float32(0.5)
    out = np.zeros((rows, cols), dtype=np.float32)
    for r in range(rows):
        step = lsb[r]
        inv = np.float32(1.0) / step if step > 0 else np.float32(0.0)
        for blk in range(blocks):
            part = parts[blk, r]
            for c in range(cols):
                code = np.floor(part[c] * inv + half)
                out[r, c] += min(max(code, bottom), top) * step
    return out


#: Multiply-accumulates of one read from which its blocks are shared with the helper thread (kernels.helper).
SHARED_READ_MACS = 1 << 20


def _blocks(product, blocks: int, parts: np.ndarray, lsb: np.ndarray, adc_bits: int, macs: int) -> np.ndarray:
    """``product(i)`` (BLAS into ``parts[i]``) for every block, on one thread or two; then their ADC and sum."""
    if macs >= SHARED_READ_MACS and blocks > 1 and two_threads():
        run_items(product, blocks)
    else:
        for i in range(blocks):
            product(i)
    return adc_sum(parts, lsb, adc_bits)


def block_weights(w: np.ndarray, block_rows: int, transposed: bool = False) -> np.ndarray:
    """``w`` (n_out, n_in) as contiguous blocks of ``block_rows`` inputs, zero-padded: (blocks, n_out, block_rows),
    or with ``transposed`` each block input-major (blocks, block_rows, n_out); starting on a cache line
    (:func:`line_aligned`)."""
    n_out, n_in = w.shape
    blocks = -(-n_in // block_rows)
    padded = np.zeros((n_out, blocks * block_rows), dtype=np.float32)
    padded[:, :n_in] = w
    order = (1, 2, 0) if transposed else (1, 0, 2)
    out = line_aligned((blocks, block_rows, n_out) if transposed else (blocks, n_out, block_rows))
    out[...] = padded.reshape(n_out, blocks, block_rows).transpose(order)
    return out


#: Bytes of a cache line (x86-64).
CACHE_LINE = 64


def line_aligned(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised C-contiguous float32 array whose first element starts a cache line.

    The pulse update's row chunks (:data:`~.device_pulse.ROWS_PER_CHUNK` output rows, a multiple
    of 16) write input-major blocks on two threads at once: with 800 outputs each input's row of a
    block is a whole number of lines, so on an aligned array no line holds outputs of two chunks
    (NumPy's own arrays start 16 bytes into a line or anywhere else, and then every input's line
    at a chunk boundary is written by both threads)."""
    count = int(np.prod(shape))
    raw = np.empty(count * 4 + CACHE_LINE, dtype=np.uint8)
    start = (-raw.ctypes.data) % CACHE_LINE
    return raw[start : start + count * 4].view(np.float32).reshape(shape)


def block_mvm(x: np.ndarray, w_blocks: np.ndarray, lsb: np.ndarray, adc_bits: int, transposed: bool = False) -> np.ndarray:
    """``x wᵀ`` summed over the row blocks of ``w`` (:func:`block_weights`, ``transposed`` as made), each
    block's column sums ADC-quantised.

    ``x`` (B, n_in); ``lsb[b]`` is sample ``b``'s ADC step. One BLAS product per block
    (on two threads for large reads, :mod:`.helper`), then one pass for the ADC of every
    block and their sum in block order (:func:`adc_sum`). An input-major block
    (``transposed``) is the faster operand for OpenBLAS's sgemm and gives the same bits for
    ``B ≥ 2``; with one sample NumPy calls sgemv, whose sums depend on the operand's order,
    so such a read copies each block back to output-major first (the bits of the default layout).
    """
    if transposed:
        blocks, block_rows, n_out = w_blocks.shape
    else:
        blocks, n_out, block_rows = w_blocks.shape
    n_in = x.shape[1]
    parts = np.empty((blocks, x.shape[0], n_out), dtype=np.float32)
    one_sample = x.shape[0] == 1

    def product(i: int) -> None:
        start, stop = i * block_rows, min((i + 1) * block_rows, n_in)
        if not transposed:
            np.dot(x[:, start:stop], w_blocks[i, :, : stop - start].T, out=parts[i])
        elif one_sample:
            np.dot(x[:, start:stop], np.ascontiguousarray(w_blocks[i].T)[:, : stop - start].T, out=parts[i])
        else:
            np.dot(x[:, start:stop], w_blocks[i, : stop - start], out=parts[i])

    return _blocks(product, blocks, parts, lsb, adc_bits, x.shape[0] * n_in * n_out)


def block_mvm_transposed(delta: np.ndarray, w: np.ndarray, block: int, lsb: np.ndarray, adc_bits: int) -> np.ndarray:
    """``δ w`` (``w`` (n_out, n_in), ``δ`` (B, n_out)) summed over blocks of ``block`` rows of ``w``
    (an array's columns in the transposed read), each block's partial sums ADC-quantised.

    A block of rows of ``w`` is contiguous, so no transposed copy is needed: one BLAS
    product per block (on two threads for large reads, :mod:`.helper`), then the ADC and sum pass.
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
