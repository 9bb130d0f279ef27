r"""Max and average pooling (NCHW, no padding), forward and backward side by side.

Window ``k``, stride ``s``; output ``H' = ⌊(H - k)/s⌋ + 1``.

- max:  ``y[n, c, i, j] = max_{u, v < k} x[n, c, i·s + u, j·s + v]``; the forward pass
  keeps the flat index ``argmax`` (into ``H·W``) of the first maximum in row-major window
  order, and the backward pass adds ``g[n, c, i, j]`` at that index (overlapping windows
  accumulate). The forward-mode tangent is the tangent gathered at the same index.
- avg:  ``y = (1/k²) Σ_{u, v} x[…]``; backward spreads ``g/k²`` over the window; the
  tangent is the average of the tangent.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["maxpool_forward", "maxpool_backward", "maxpool_gather", "avgpool_forward", "avgpool_backward"]


@njit(cache=True)
def maxpool_forward(x: np.ndarray, kernel: int, stride: int):
    """Returns ``(y, argmax)``: the pooled map and the flat input index of each maximum."""
    batch, channels, height, width = x.shape
    out_h = (height - kernel) // stride + 1
    out_w = (width - kernel) // stride + 1
    y = np.empty((batch, channels, out_h, out_w), dtype=x.dtype)
    arg = np.empty((batch, channels, out_h, out_w), dtype=np.int32)
    for n in range(batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    best = x[n, c, i * stride, j * stride]
                    where = i * stride * width + j * stride
                    for u in range(kernel):
                        for v in range(kernel):
                            val = x[n, c, i * stride + u, j * stride + v]
                            if val > best:
                                best = val
                                where = (i * stride + u) * width + j * stride + v
                    y[n, c, i, j] = best
                    arg[n, c, i, j] = where
    return y, arg


@njit(cache=True)
def maxpool_backward(g: np.ndarray, arg: np.ndarray, height: int, width: int) -> np.ndarray:
    """``dx``: each output gradient added at its window's maximum."""
    batch, channels, out_h, out_w = g.shape
    dx = np.zeros((batch, channels, height * width), dtype=g.dtype)
    for n in range(batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    dx[n, c, arg[n, c, i, j]] += g[n, c, i, j]
    return dx.reshape(batch, channels, height, width)


@njit(cache=True)
def maxpool_gather(t: np.ndarray, arg: np.ndarray) -> np.ndarray:
    """Forward-mode tangent of max pooling: ``t`` read at each window's maximum."""
    batch, channels, height, width = t.shape
    out_h, out_w = arg.shape[2], arg.shape[3]
    flat = np.ascontiguousarray(t).reshape(batch, channels, height * width)
    y = np.empty((batch, channels, out_h, out_w), dtype=t.dtype)
    for n in range(batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    y[n, c, i, j] = flat[n, c, arg[n, c, i, j]]
    return y


@njit(cache=True)
def avgpool_forward(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """The window means."""
    batch, channels, height, width = x.shape
    out_h = (height - kernel) // stride + 1
    out_w = (width - kernel) // stride + 1
    y = np.empty((batch, channels, out_h, out_w), dtype=x.dtype)
    inv = 1.0 / (kernel * kernel)
    for n in range(batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    acc = x[n, c, 0, 0] * 0
                    for u in range(kernel):
                        for v in range(kernel):
                            acc += x[n, c, i * stride + u, j * stride + v]
                    y[n, c, i, j] = acc * inv
    return y


@njit(cache=True)
def avgpool_backward(g: np.ndarray, kernel: int, stride: int, height: int, width: int) -> np.ndarray:
    """``dx``: each output gradient spread evenly (``g/k²``) over its window."""
    batch, channels, out_h, out_w = g.shape
    dx = np.zeros((batch, channels, height, width), dtype=g.dtype)
    inv = 1.0 / (kernel * kernel)
    for n in range(batch):
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    share = g[n, c, i, j] * inv
                    for u in range(kernel):
                        for v in range(kernel):
                            dx[n, c, i * stride + u, j * stride + v] += share
    return dx
