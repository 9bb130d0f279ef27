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

im2col unrolls each sample into ``cols[n]`` of shape ``(C_in·k·k, H'·W')``, row
``(c·k + u)·k + v``; group ``q``'s rows are the contiguous block
``[q·K_g, (q+1)·K_g)`` with ``K_g = C_in/g·k·k``. Then the forward pass is one BLAS
product per sample and group, ``y[n, q] = w_q (C_out/g, K_g) · cols[n, q] (K_g, H'W')``.
The forward pass returns ``cols`` for the weight gradient, so it is unrolled once per
step. Measured against a direct (7-loop) numba convolution on the shapes of
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
def im2col(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """``cols[n, (c·k + u)·k + v, i·W' + j] = x[n, c, i·s - p + u, j·s - p + v]`` (0 outside)."""
    batch, channels, height, width = x.shape
    out_h = conv_out_size(height, kernel, stride, padding)
    out_w = conv_out_size(width, kernel, stride, padding)
    cols = np.zeros((batch, channels * kernel * kernel, out_h * out_w), dtype=x.dtype)
    for n in range(batch):
        for c in range(channels):
            for u in range(kernel):
                for v in range(kernel):
                    row = (c * kernel + u) * kernel + v
                    for i in range(out_h):
                        y = i * stride - padding + u
                        if y < 0 or y >= height:
                            continue
                        base = i * out_w
                        for j in range(out_w):
                            xx = j * stride - padding + v
                            if 0 <= xx < width:
                                cols[n, row, base + j] = x[n, c, y, xx]
    return cols


@njit(cache=True)
def col2im(cols: np.ndarray, channels: int, height: int, width: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    """The adjoint of :func:`im2col`: every column entry added back to its input pixel."""
    batch = cols.shape[0]
    out_h = conv_out_size(height, kernel, stride, padding)
    out_w = conv_out_size(width, kernel, stride, padding)
    x = np.zeros((batch, channels, height, width), dtype=cols.dtype)
    for n in range(batch):
        for c in range(channels):
            for u in range(kernel):
                for v in range(kernel):
                    row = (c * kernel + u) * kernel + v
                    for i in range(out_h):
                        y = i * stride - padding + u
                        if y < 0 or y >= height:
                            continue
                        base = i * out_w
                        for j in range(out_w):
                            xx = j * stride - padding + v
                            if 0 <= xx < width:
                                x[n, c, y, xx] += cols[n, row, base + j]
    return x


@njit(cache=True)
def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: int, groups: int):
    """Returns ``(y, cols)``: the convolution ``(N, C_out, H', W')`` and the unrolled input."""
    batch, _, height, width = x.shape
    c_out, _, kernel, _ = w.shape
    out_h = conv_out_size(height, kernel, stride, padding)
    out_w = conv_out_size(width, kernel, stride, padding)
    cols = im2col(x, kernel, stride, padding)
    k_group = cols.shape[1] // groups
    o_group = c_out // groups
    w2 = np.ascontiguousarray(w).reshape(c_out, k_group)
    y = np.empty((batch, c_out, out_h * out_w), dtype=x.dtype)
    for n in range(batch):
        for q in range(groups):
            wq = np.ascontiguousarray(w2[q * o_group : (q + 1) * o_group])
            cq = np.ascontiguousarray(cols[n, q * k_group : (q + 1) * k_group])
            y[n, q * o_group : (q + 1) * o_group] = np.dot(wq, cq)
        for o in range(c_out):
            y[n, o] += b[o]
    return y.reshape(batch, c_out, out_h, out_w), cols


@njit(cache=True)
def conv2d_input_grad(g: np.ndarray, w: np.ndarray, height: int, width: int, stride: int, padding: int, groups: int) -> np.ndarray:
    """The transposed convolution ``dx`` (N, C_in, H, W) of the output gradient ``g`` (N, C_out, H', W')."""
    batch, c_out, out_h, out_w = g.shape
    _, c_group, kernel, _ = w.shape
    channels = c_group * groups
    k_group = c_group * kernel * kernel
    o_group = c_out // groups
    w2 = np.ascontiguousarray(w).reshape(c_out, k_group)
    g3 = np.ascontiguousarray(g).reshape(batch, c_out, out_h * out_w)
    dcols = np.empty((batch, channels * kernel * kernel, out_h * out_w), dtype=g.dtype)
    for q in range(groups):
        wq_t = np.ascontiguousarray(w2[q * o_group : (q + 1) * o_group].T)
        for n in range(batch):
            gq = np.ascontiguousarray(g3[n, q * o_group : (q + 1) * o_group])
            dcols[n, q * k_group : (q + 1) * k_group] = np.dot(wq_t, gq)
    return col2im(dcols, channels, height, width, kernel, stride, padding)


@njit(cache=True)
def conv2d_weight_grad(g: np.ndarray, cols: np.ndarray, kernel: int, groups: int):
    """Batch-mean ``(dw, db)`` from the output gradient ``g`` and the forward pass's ``cols``."""
    batch, c_out, out_h, out_w = g.shape
    positions = out_h * out_w
    k_group = cols.shape[1] // groups
    o_group = c_out // groups
    inv = 1.0 / batch
    g3 = np.ascontiguousarray(g).reshape(batch, c_out, positions)
    dw = np.zeros((c_out, k_group), dtype=g.dtype)
    db = np.zeros(c_out, dtype=g.dtype)
    for n in range(batch):
        for q in range(groups):
            gq = np.ascontiguousarray(g3[n, q * o_group : (q + 1) * o_group])
            cq_t = np.ascontiguousarray(cols[n, q * k_group : (q + 1) * k_group].T)
            dw[q * o_group : (q + 1) * o_group] += np.dot(gq, cq_t)
        for o in range(c_out):
            acc = g3[n, o, 0] * 0
            for p in range(positions):
                acc += g3[n, o, p]
            db[o] += acc
    for o in range(c_out):
        db[o] *= inv
        for r in range(k_group):
            dw[o, r] *= inv
    return dw.reshape(c_out, k_group // (kernel * kernel), kernel, kernel), db
