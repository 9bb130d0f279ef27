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

Every kernel is ``@njit(cache=True)``; randomness (cycle-to-cycle variation)
comes in as pre-drawn standard normals so that NumPy's generator fixes it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .dense import activate

__all__ = [
    "curve",
    "curve_inverse",
    "dac_quantise",
    "adc_quantise_",
    "block_mvm",
    "bias_activation",
    "pulse_update",
    "seed_device_rng",
]


@njit(cache=True)
def seed_device_rng(seed: int) -> None:
    """Seed numba's generator (cycle-to-cycle draws of :func:`pulse_update`)."""
    np.random.seed(seed)


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


@njit(cache=True)
def adc_quantise_(y: np.ndarray, lsb: np.ndarray, bits: int) -> None:
    """In place: ``y[r, c]`` to signed ``bits``-bit codes of step ``lsb[r]``, clipped to the range."""
    top = np.float32(2 ** (bits - 1) - 1)
    bottom = np.float32(-(2 ** (bits - 1)))
    rows, cols = y.shape
    for r in range(rows):
        step = lsb[r]
        if step <= 0:
            for c in range(cols):
                y[r, c] = np.float32(0.0)
            continue
        for c in range(cols):
            code = np.floor(y[r, c] / step + np.float32(0.5))
            y[r, c] = min(max(code, bottom), top) * step


@njit(cache=True)
def block_mvm(x: np.ndarray, w: np.ndarray, block_rows: int, lsb: np.ndarray, adc_bits: int) -> np.ndarray:
    """``x wᵀ`` summed over blocks of ``block_rows`` inputs, each block's column sums ADC-quantised.

    ``x`` (B, n_in), ``w`` (n_out, n_in); ``lsb[b]`` is sample ``b``'s ADC step.
    ``adc_bits = 0``: no ADC, one product ``x wᵀ`` (as :func:`dense_forward`).
    """
    if adc_bits == 0:
        return np.dot(x, w.T)
    n_in = x.shape[1]
    out = np.zeros((x.shape[0], w.shape[0]), dtype=np.float32)
    for start in range(0, n_in, block_rows):
        stop = min(start + block_rows, n_in)
        part = np.dot(np.ascontiguousarray(x[:, start:stop]), np.ascontiguousarray(w[:, start:stop]).T)
        adc_quantise_(part, lsb, adc_bits)
        out += part
    return out


@njit(cache=True)
def bias_activation(a: np.ndarray, b: np.ndarray, act: int, slope: float):
    """``a += b`` in place, then ``(a, f(a))`` exactly as :func:`dense_forward` applies them."""
    rows, cols = a.shape
    for r in range(rows):
        for c in range(cols):
            a[r, c] += b[c]
    return a, activate(a, act, slope)


@njit(cache=True)
def pulse_update(
    w: np.ndarray,
    w_eff: np.ndarray,
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
) -> tuple[int, int, int]:
    """Program the change ``w - w_eff`` into the cells as pulses; ``w``/``w_eff`` get the new weights.

    ``w`` (n_out, n_in) holds the weights the optimizer wants, ``w_eff`` the ones the
    cells hold. Reference mapping: one cell per weight, ``g[0]`` (n_out, n_in),
    ``w = w_max (2g - 1)``, ``n = round(Δw / 2w_max · levels)``, LTP on ``a_ltp``,
    LTD on ``a_ltd``. Differential: ``g[0] = G⁺``, ``g[1] = G⁻``, ``w = w_max (g⁺ - g⁻)``,
    ``n = round(|Δw| / w_max · levels_ltp)`` LTP pulses on ``G⁺`` (Δw > 0) or ``G⁻``.
    ``a_*`` and ``frozen`` are per cell (shape of ``g``) or of shape (1, 1, 1) (shared).
    C2C adds ``c2c · √|n| · ξ``, ``ξ ~ N(0, 1)`` from numba's generator (seed it with
    :func:`seed_device_rng`; drawn only for written cells, in cell order). A frozen cell (stuck, or worn out after
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
    for j in range(n_out):
        for k in range(n_in):
            dw = np.float64(w[j, k]) - np.float64(w_eff[j, k])
            if differential:
                side = 0 if dw > 0 else 1
                levels = levels_ltp
                n = int(np.floor(abs(dw) / w_max * levels + 0.5))
                ltp = True
            else:
                side = 0
                levels = levels_ltp if dw > 0 else levels_ltd
                n = int(np.floor(abs(dw) / (2.0 * w_max) * levels + 0.5))
                ltp = dw > 0
            if n == 0:
                w[j, k] = w_eff[j, k]
                continue
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
                    a = a_ltp[0, 0, 0] if ltp else a_ltd[0, 0, 0]
                else:
                    a = a_ltp[side, j, k] if ltp else a_ltd[side, j, k]
                p = curve_inverse(g[side, j, k], a) + (n if ltp else -n) / levels
                p = min(max(p, 0.0), 1.0)
                gn = curve(p, a)
                if c2c > 0.0:
                    gn += c2c * np.sqrt(n) * np.random.standard_normal()
                g[side, j, k] = min(max(gn, 0.0), 1.0)
                if endurance > 0 and pulses[side, j, k] >= endurance and not shared_f:
                    frozen[side, j, k] = True
            if differential:
                value = w_max * (g[0, j, k] - g[1, j, k])
            else:
                value = w_max * (2.0 * g[0, j, k] - 1.0)
            w[j, k] = value
            w_eff[j, k] = value
    return ltp_total, ltd_total, written
