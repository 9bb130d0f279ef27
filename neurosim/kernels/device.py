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

Every kernel is ``@njit(cache=True)``; the cycle-to-cycle draws come from a
small xorshift64* + Box-Muller generator whose state the caller seeds from NumPy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .dense import blas_dot

__all__ = [
    "curve",
    "curve_inverse",
    "dac_quantise",
    "block_mvm",
    "block_mvm_transposed",
    "block_weights",
    "plain_mvm",
    "adc_sum",
    "pulse_update",
    "normal_draw",
]


@njit(cache=True)
def normal_draw(state: np.ndarray) -> float:
    """One N(0, 1) draw: xorshift64* uniforms (state ``state[0]``, nonzero) through Box-Muller."""
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    u1 = (float((x * np.uint64(2685821657736338717)) >> np.uint64(11)) + 0.5) / 9007199254740992.0
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    u2 = float((x * np.uint64(2685821657736338717)) >> np.uint64(11)) / 9007199254740992.0
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


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


@njit(cache=True)
def adc_sum(parts: np.ndarray, lsb: np.ndarray, bits: int) -> np.ndarray:
    """Sum over blocks of the ADC-quantised partial sums ``parts`` (blocks, B, n_out)."""
    blocks, rows, cols = parts.shape
    out = np.zeros((rows, cols), dtype=np.float32)
    top = np.float32(2 ** (bits - 1) - 1)
    bottom = np.float32(-(2 ** (bits - 1)))
    half = np.float32(0.5)
    for blk in range(blocks):
        for r in range(rows):
            step = lsb[r]
            inv = np.float32(1.0) / step if step > 0 else np.float32(0.0)
            for c in range(cols):
                code = np.floor(parts[blk, r, c] * inv + half)
                out[r, c] += min(max(code, bottom), top) * step
    return out


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
    block (a contiguous ``w_blocks[i]``), then :func:`adc_sum`.
    """
    blocks, n_out, block_rows = w_blocks.shape
    n_in = x.shape[1]
    parts = np.empty((blocks, x.shape[0], n_out), dtype=np.float32)
    for i in range(blocks):
        start, stop = i * block_rows, min((i + 1) * block_rows, n_in)
        np.dot(x[:, start:stop], w_blocks[i, :, : stop - start].T, out=parts[i])
    return adc_sum(parts, lsb, adc_bits)


def block_mvm_transposed(delta: np.ndarray, w: np.ndarray, block: int, lsb: np.ndarray, adc_bits: int) -> np.ndarray:
    """``δ w`` (``w`` (n_out, n_in), ``δ`` (B, n_out)) summed over blocks of ``block`` rows of ``w``
    (an array's columns in the transposed read), each block's partial sums ADC-quantised.

    A block of rows of ``w`` is contiguous, so no transposed copy is needed: one BLAS
    product per block, then :func:`adc_sum`.
    """
    n_out, n_in = w.shape
    blocks = -(-n_out // block)
    parts = np.empty((blocks, delta.shape[0], n_in), dtype=np.float32)
    for i in range(blocks):
        start, stop = i * block, min((i + 1) * block, n_out)
        np.dot(delta[:, start:stop], w[start:stop], out=parts[i])
    return adc_sum(parts, lsb, adc_bits)


#: Columns :func:`pulse_update` marks in one bit mask before it looks at single cells.
_CHUNK = 32
#: For each byte value, how many bits are set and their positions (lowest first).
_BIT_COUNTS = np.array([bin(b).count("1") for b in range(256)], dtype=np.int64)
_BIT_POSITIONS = np.array([[i for i in range(8) if b >> i & 1] + [0] * (8 - bin(b).count("1")) for b in range(256)], dtype=np.int64)


@njit(cache=True)
def pulse_update(
    w: np.ndarray,
    w_eff: np.ndarray,
    w_blocks: np.ndarray,
    g: np.ndarray,
    a_ltp: np.ndarray,
    a_ltd: np.ndarray,
    frozen: np.ndarray,
    pulses: np.ndarray,
    levels_ltp: int,
    levels_ltd: int,
    w_max: float,
    c2c: float,
    differential: bool,
    endurance: int,
    row_max: np.ndarray,
    rng_state: np.ndarray,
    g_ref: float = 0.5,
) -> tuple[int, int, int]:
    """Program the change ``w - w_eff`` into the cells as pulses; ``w``/``w_eff`` get the new weights.

    ``w`` (n_out, n_in) holds the weights the optimizer wants, ``w_eff`` the ones the
    cells hold and ``w_blocks`` the same in row blocks (:func:`block_weights`); all kept up to date. Reference mapping: one cell per weight, ``g[0]`` (n_out, n_in),
    ``w = w_max (2g - 1)``, ``n = round(Δw / 2w_max · levels)``, LTP on ``a_ltp``,
    LTD on ``a_ltd``. Differential: ``g[0] = G⁺``, ``g[1] = G⁻``, ``w = w_max (g⁺ - g⁻)``,
    ``n = round(|Δw| / w_max · levels_ltp)`` LTP pulses on ``G⁺`` (Δw > 0) or ``G⁻``.
    ``a_*`` and ``frozen`` are per cell (shape of ``g``) or of shape (1, 1, 1) (shared).
    C2C adds ``c2c · √|n| · ξ``, ``ξ ~ N(0, 1)`` from :func:`normal_draw` on
    ``rng_state`` (uint64[1]; drawn only for written cells, in cell order). A frozen cell (stuck, or worn out after
    ``endurance`` pulses when ``endurance > 0``) keeps its conductance.
    ``pulses`` counts every pulse sent per cell; ``row_max[k, 0/1]`` gets the largest
    LTP/LTD pulse count sent on input row ``k``. Returns (LTP pulses, LTD pulses, cells written).
    """
    n_out, n_in = w.shape
    ltp_total = 0
    ltd_total = 0
    written = 0
    shared_a = a_ltp.size == 1
    shared_f = frozen.size == 1
    a_shared_ltp = a_ltp[0, 0, 0]
    a_shared_ltd = a_ltd[0, 0, 0]
    norm_ltp = 1.0 - np.exp(-1.0 / a_shared_ltp) if a_shared_ltp != 0.0 else 1.0
    norm_ltd = 1.0 - np.exp(-1.0 / a_shared_ltd) if a_shared_ltd != 0.0 else 1.0
    block_rows = w_blocks.shape[2]
    span = w_max if differential else 2.0 * w_max
    inv_ltp = np.float32(levels_ltp / span)
    inv_ltd = np.float32((levels_ltp if differential else levels_ltd) / span)
    half = np.float32(0.5)
    zero = np.float32(0.0)
    # fast path: safely below half a pulse either way nothing is sent (the rest is rounded below)
    up = np.float32(0.5 * (1.0 - 1e-6) * span / levels_ltp)
    down = np.float32(0.5 * (1.0 - 1e-6) * span / (levels_ltp if differential else levels_ltd))
    block_of = np.arange(n_in) // block_rows  # w_blocks[block_of[k], j, offset[k]] is w_eff[j, k]
    offset = np.arange(n_in) - block_of * block_rows
    for j in range(n_out):
        w_row = w[j]
        eff_row = w_eff[j]
        for start in range(0, n_in, _CHUNK):
            stop = min(start + _CHUNK, n_in)
            mask = np.int64(0)
            for k in range(start, stop):  # branch-free, vectorised: bit k - start marks half a pulse or more
                dw = w_row[k] - eff_row[k]
                mask |= np.int64((dw >= up) | (-dw >= down)) << np.int64(k - start)
            base = start
            while mask != 0:  # the marked cells a byte at a time, in column order (the C2C draws keep their order)
                byte = mask & 255
                for t in range(_BIT_COUNTS[byte]):
                    k = base + _BIT_POSITIONS[byte, t]
                    dw = w[j, k] - w_eff[j, k]
                    n = int(np.floor(dw * inv_ltp + half)) if dw > zero else int(np.floor(-dw * inv_ltd + half))
                    if n == 0:
                        continue
                    if differential:
                        side = 0 if dw > zero else 1
                        levels = levels_ltp
                        ltp = True
                    else:
                        side = 0
                        levels = levels_ltp if dw > zero else levels_ltd
                        ltp = dw > zero
                    written += 1
                    if ltp:
                        ltp_total += n
                        if n > row_max[k, 0]:
                            row_max[k, 0] = n
                    else:
                        ltd_total += n
                        if n > row_max[k, 1]:
                            row_max[k, 1] = n
                    pulses[side, j, k] += n
                    dead = frozen[0, 0, 0] if shared_f else frozen[side, j, k]
                    if not dead:
                        if shared_a:
                            a = a_shared_ltp if ltp else a_shared_ltd
                            norm = norm_ltp if ltp else norm_ltd
                        else:
                            a = a_ltp[side, j, k] if ltp else a_ltd[side, j, k]
                            norm = 1.0 - np.exp(-1.0 / a) if a != 0.0 else 1.0
                        gv = np.float32(g[side, j, k])  # float32 math: the pulse step is far above its rounding
                        af = np.float32(a)
                        nf = np.float32(norm)
                        one = np.float32(1.0)
                        step = np.float32(n if ltp else -n) / np.float32(levels)
                        p = (-af * np.log(one - gv * nf) if af != 0.0 else gv) + step
                        p = min(max(p, np.float32(0.0)), one)
                        gn = (one - np.exp(-p / af)) / nf if af != 0.0 else p
                        if c2c > 0.0:
                            gn += np.float32(c2c * np.sqrt(n) * normal_draw(rng_state))
                        g[side, j, k] = min(max(gn, 0.0), 1.0)
                        if endurance > 0 and pulses[side, j, k] >= endurance and not shared_f:
                            frozen[side, j, k] = True
                    if differential:
                        value = w_max * (g[0, j, k] - g[1, j, k])
                    else:
                        value = w_max * (2.0 * g[0, j, k] - 2.0 * g_ref)
                    w[j, k] = value
                    w_eff[j, k] = value
                    w_blocks[block_of[k], j, offset[k]] = value
                mask >>= 8
                base += 8
        for k in range(n_in):  # every cell not written keeps what it holds
            w[j, k] = w_eff[j, k]
    return ltp_total, ltd_total, written
