r"""2-D convolution kernels, forward and backward side by side (im2col + BLAS).

Layout NCHW: a batch ``x`` is ``(N, C_in, H, W)``, the weights ``w`` are
``(C_out, C_in/g, k, k)`` for ``g`` groups, the bias ``b`` is ``(C_out,)``, the output
``(N, C_out, H', W')`` with ``H' = ⌊(H + 2p - k)/s⌋ + 1`` (stride ``s``, zero padding ``p``).

==================  =======================================================================
forward             ``y[n, o, i, j] = b[o] + Σ_{c ∈ G(o), u, v} w[o, c, u, v] ·
                    x[n, c, i·s - p + u, j·s - p + v]`` (``G(o)``: the input channels of
                    ``o``'s group; out-of-range ``x`` is 0)
input gradient      ``dx = Σ`` over every output the weight times ``g`` (a transposed
                    convolution): ``dcols = wᵀ g`` per group, scattered back by col2im
weight gradient     ``dw = (1/N) Σ_{n, i, j} g[n, o, i, j] · x[n, c, i·s - p + u, j·s - p + v]``,
                    ``db = (1/N) Σ_{n, i, j} g[n, o, i, j]`` (batch mean, as for dense layers)
==================  =======================================================================

im2col unrolls the whole batch into ``cols`` of shape ``(C_in·k·k, N·H'·W')``, row
``(c·k + u)·k + v``, column ``n·H'W' + i·W' + j``; group ``q``'s rows are the contiguous
block ``[q·K_g, (q+1)·K_g)`` with ``K_g = C_in/g·k·k``. Then each of the three passes is
one BLAS product per group over the whole batch: ``y_q = w_q (C_out/g, K_g) · cols_q``,
``dcols_q = w_qᵀ · g_q`` (then col2im), ``dw_q = g_q · cols_qᵀ`` with ``g`` laid out
channel-major ``(C_out, N·H'W')``. The products are NumPy's BLAS, called from Python
between the numba loops (as for dense layers, :mod:`.dense`). The forward pass returns ``cols`` for the weight
gradient, so the input is unrolled once per step. Measured against a direct (7-loop) numba convolution on the shapes of
``workloads/mnist_conv_compare.yaml``: see ``bench/bench_conv.py``.

The kernels are dtype-generic (float32 in training, float64 in the gradient tests).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["conv_out_size", "im2col", "col2im", "conv2d_forward", "conv2d_input_grad", "conv2d_weight_grad"]


@njit(cache=True)
def conv_out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """``⌊(size + 2p - k)/s⌋ + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


@njit(cache=True)
def _valid(out_size: int, size: int, offset: int, stride: int):
    """``[lo, hi)``: the output indices ``i`` with ``0 ≤ i·stride + offset < size``."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = 0 if size - 1 - offset < 0 else min(out_size, (size - 1 - offset) // stride + 1)
    return lo, max(lo, hi)


@njit(cache=True)
def im2col(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """``cols[(c·k + u)·k + v, n·H'W' + i·W' + j] = x[n, c, i·s - p + u, j·s - p + v]`` (0 outside)."""
    batch, channels, height, width = x.shape
    out_h = conv_out_size(height, kernel, stride, padding)
    out_w = conv_out_size(width, kernel, stride, padding)
    positions = out_h * out_w
    cols = np.zeros((channels * kernel * kernel, batch * positions), dtype=x.dtype)
    for c in range(channels):
        for u in range(kernel):
            for v in range(kernel):
                row = (c * kernel + u) * kernel + v
                i_lo, i_hi = _valid(out_h, height, u - padding, stride)
                j_lo, j_hi = _valid(out_w, width, v - padding, stride)
                for n in range(batch):
                    for i in range(i_lo, i_hi):
                        y = i * stride - padding + u
                        base = n * positions + i * out_w
                        for j in range(j_lo, j_hi):
                            cols[row, base + j] = x[n, c, y, j * stride - padding + v]
    return cols


@njit(cache=True)
def col2im(cols: np.ndarray, batch: int, channels: int, height: int, width: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    """The adjoint of :func:`im2col`: every column entry added back to its input pixel."""
    out_h = conv_out_size(height, kernel, stride, padding)
    out_w = conv_out_size(width, kernel, stride, padding)
    positions = out_h * out_w
    x = np.zeros((batch, channels, height, width), dtype=cols.dtype)
    for c in range(channels):
        for u in range(kernel):
            for v in range(kernel):
                row = (c * kernel + u) * kernel + v
                i_lo, i_hi = _valid(out_h, height, u - padding, stride)
                j_lo, j_hi = _valid(out_w, width, v - padding, stride)
                for n in range(batch):
                    for i in range(i_lo, i_hi):
                        y = i * stride - padding + u
                        base = n * positions + i * out_w
                        for j in range(j_lo, j_hi):
                            x[n, c, y, j * stride - padding + v] += cols[row, base + j]
    return x


def _gemm(left: np.ndarray, right: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = left · right`` by NumPy's BLAS (silent on overflow, as numba's products are)."""
    with np.errstate(all="ignore"):
        return np.dot(left, right, out=out)


@njit(cache=True)
def _to_channel_major(g: np.ndarray) -> np.ndarray:
    """``(N, C, H', W')`` → ``(C, N·H'W')``."""
    batch, channels, out_h, out_w = g.shape
    positions = out_h * out_w
    g3 = np.ascontiguousarray(g).reshape(batch, channels, positions)
    out = np.empty((channels, batch * positions), dtype=g.dtype)
    for c in range(channels):
        for n in range(batch):
            out[c, n * positions : (n + 1) * positions] = g3[n, c]
    return out


@njit(cache=True)
def _add_bias_batch_major(prod: np.ndarray, b: np.ndarray, batch: int) -> np.ndarray:
    """``y[n, o, p] = prod[o, n·P + p] + b[o]``: the channel-major product to ``(N, C_out, P)``."""
    c_out = prod.shape[0]
    positions = prod.shape[1] // batch
    y = np.empty((batch, c_out, positions), dtype=prod.dtype)
    for o in range(c_out):
        bias = b[o]
        for n in range(batch):
            base = n * positions
            for p in range(positions):
                y[n, o, p] = prod[o, base + p] + bias
    return y


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: int, groups: int):
    """Returns ``(y, cols)``: the convolution ``(N, C_out, H', W')`` and the unrolled input.

    im2col and the bias are numba loops; the product is NumPy's BLAS, one per group
    (numba's ``np.dot`` binds SciPy's OpenBLAS, 1.5× slower on these shapes; same bits).
    """
    batch, _, height, width = x.shape
    c_out, _, kernel, _ = w.shape
    out_h = conv_out_size(height, kernel, stride, padding)
    out_w = conv_out_size(width, kernel, stride, padding)
    cols = im2col(x, kernel, stride, padding)
    k_group = cols.shape[0] // groups
    o_group = c_out // groups
    w3 = np.ascontiguousarray(w).reshape(groups, o_group, k_group)
    c3 = cols.reshape(groups, k_group, cols.shape[1])
    prod = np.empty((c_out, cols.shape[1]), dtype=x.dtype)
    for q in range(groups):
        _gemm(w3[q], c3[q], prod[q * o_group : (q + 1) * o_group])
    y = _add_bias_batch_major(prod, b, batch)
    return y.reshape(batch, c_out, out_h, out_w), cols


def conv2d_input_grad(g: np.ndarray, w: np.ndarray, height: int, width: int, stride: int, padding: int, groups: int) -> np.ndarray:
    """The transposed convolution ``dx`` (N, C_in, H, W) of the output gradient ``g`` (N, C_out, H', W')."""
    batch, c_out, out_h, out_w = g.shape
    _, c_group, kernel, _ = w.shape
    channels = c_group * groups
    k_group = c_group * kernel * kernel
    o_group = c_out // groups
    w3 = np.ascontiguousarray(w).reshape(groups, o_group, k_group)
    g3 = _to_channel_major(g).reshape(groups, o_group, batch * out_h * out_w)
    dcols = np.empty((groups * k_group, batch * out_h * out_w), dtype=g.dtype)
    for q in range(groups):
        _gemm(w3[q].T, g3[q], dcols[q * k_group : (q + 1) * k_group])
    return col2im(dcols, batch, channels, height, width, kernel, stride, padding)


def conv2d_weight_grad(g: np.ndarray, cols: np.ndarray, kernel: int, groups: int):
    """Batch-mean ``(dw, db)`` from the output gradient ``g`` and the forward pass's ``cols``."""
    batch, c_out = g.shape[0], g.shape[1]
    k_group = cols.shape[0] // groups
    o_group = c_out // groups
    gc = _to_channel_major(g)
    g3 = gc.reshape(groups, o_group, gc.shape[1])
    c3 = cols.reshape(groups, k_group, cols.shape[1])
    dw = np.empty((c_out, k_group), dtype=g.dtype)
    for q in range(groups):
        _gemm(g3[q], c3[q].T, dw[q * o_group : (q + 1) * o_group])
    db = _batch_mean_scale(gc, dw, batch)
    return dw.reshape(c_out, k_group // (kernel * kernel), kernel, kernel), db


@njit(cache=True)
def _batch_mean_scale(gc: np.ndarray, dw: np.ndarray, batch: int) -> np.ndarray:
    """``db[o] = Σ_p gc[o, p] / N`` and ``dw /= N`` in place (the batch means)."""
    c_out, k_group = dw.shape
    inv = 1.0 / batch
    db = np.empty(c_out, dtype=gc.dtype)
    for o in range(c_out):
        acc = gc[o, 0] * 0
        for p in range(gc.shape[1]):
            acc += gc[o, p]
        db[o] = acc * inv
        for r in range(k_group):
            dw[o, r] *= inv
    return db
