"""Conv, pooling and batchnorm kernels against independent NumPy references and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim import kernels as K

# (batch, c_in, c_out, size, kernel, stride, padding, groups)
CONV_CASES = [
    (2, 1, 3, 6, 3, 1, 0, 1),
    (3, 4, 6, 7, 3, 2, 1, 2),
    (1, 2, 4, 5, 5, 1, 2, 1),
    (2, 6, 6, 8, 2, 2, 0, 3),
    (4, 3, 5, 9, 4, 3, 2, 1),
]


def _windows(x: np.ndarray, kernel: int, stride: int, padding: int):
    """Yield ``(u, v, patch)``: the padded input seen by kernel tap ``(u, v)`` at every output position."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h = (x.shape[2] + 2 * padding - kernel) // stride + 1
    out_w = (x.shape[3] + 2 * padding - kernel) // stride + 1
    for u in range(kernel):
        for v in range(kernel):
            yield u, v, xp[:, :, u : u + stride * (out_h - 1) + 1 : stride, v : v + stride * (out_w - 1) + 1 : stride]


def _conv_ref(x, w, b, stride, padding, groups):
    c_out, c_group, kernel, _ = w.shape
    o_group = c_out // groups
    y = None
    for u, v, patch in _windows(x.astype(np.float64), kernel, stride, padding):
        for q in range(groups):
            part = np.einsum("ncij,oc->noij", patch[:, q * c_group : (q + 1) * c_group], w[q * o_group : (q + 1) * o_group, :, u, v])
            if y is None:
                y = np.zeros((x.shape[0], c_out) + part.shape[2:])
            y[:, q * o_group : (q + 1) * o_group] += part
    return y + b[None, :, None, None]


def _conv_case(case, dtype=np.float32, seed=0):
    batch, c_in, c_out, size, kernel, stride, padding, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, c_in, size, size)).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups, kernel, kernel)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    return x, w, b, stride, padding, groups


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_matches_einsum(case) -> None:
    x, w, b, stride, padding, groups = _conv_case(case)
    y, cols = K.conv2d_forward(x, w, b, stride, padding, groups)
    ref = _conv_ref(x, w, b, stride, padding, groups)
    assert y.shape == ref.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    assert cols.shape == (x.shape[1] * w.shape[2] ** 2, x.shape[0] * y.shape[2] * y.shape[3])


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_gradients_match_einsum(case) -> None:
    x, w, b, stride, padding, groups = _conv_case(case)
    y, cols = K.conv2d_forward(x, w, b, stride, padding, groups)
    g = np.random.default_rng(9).standard_normal(y.shape).astype(np.float32)
    c_out, c_group, kernel, _ = w.shape
    o_group = c_out // groups
    # independent adjoints: scatter g through every tap (input) and correlate it with the patches (weights)
    xp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * padding, x.shape[3] + 2 * padding))
    dw_ref = np.zeros(w.shape)
    out_h, out_w = y.shape[2:]
    for u, v, patch in _windows(x.astype(np.float64), kernel, stride, padding):
        for q in range(groups):
            cs, os_ = slice(q * c_group, (q + 1) * c_group), slice(q * o_group, (q + 1) * o_group)
            xp[:, cs, u : u + stride * (out_h - 1) + 1 : stride, v : v + stride * (out_w - 1) + 1 : stride] += np.einsum(
                "noij,oc->ncij", g[:, os_], w[os_, :, u, v]
            )
            dw_ref[os_, :, u, v] = np.einsum("ncij,noij->oc", patch[:, cs], g[:, os_]) / x.shape[0]
    dx_ref = xp[:, :, padding : padding + x.shape[2], padding : padding + x.shape[3]]
    dx = K.conv2d_input_grad(g, w, x.shape[2], x.shape[3], stride, padding, groups)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-4)
    dw, db = K.conv2d_weight_grad(g, cols, kernel, groups)
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, g.sum(axis=(0, 2, 3)) / x.shape[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", CONV_CASES[1:3])
def test_conv2d_gradients_match_finite_differences(case) -> None:
    """float64: ∂/∂x and ∂/∂w of L = Σ y ⊙ G / N by central differences."""
    x, w, b, stride, padding, groups = _conv_case(case, np.float64, seed=3)
    y, cols = K.conv2d_forward(x, w, b, stride, padding, groups)
    big_g = np.random.default_rng(4).standard_normal(y.shape)
    batch = x.shape[0]

    def loss(xv, wv, bv):
        return float(np.sum(K.conv2d_forward(xv, wv, bv, stride, padding, groups)[0] * big_g)) / batch

    dx = K.conv2d_input_grad(big_g, w, x.shape[2], x.shape[3], stride, padding, groups) / batch
    dw, db = K.conv2d_weight_grad(big_g, cols, w.shape[2], groups)
    h = 1e-6
    for arr, grad in ((x, dx), (w, dw), (b, db)):
        for flat in np.random.default_rng(5).choice(arr.size, size=min(arr.size, 12), replace=False):
            idx = np.unravel_index(flat, arr.shape)
            old = arr[idx]
            arr[idx] = old + h
            up = loss(x, w, b)
            arr[idx] = old - h
            down = loss(x, w, b)
            arr[idx] = old
            assert abs((up - down) / (2 * h) - grad[idx]) < 1e-6 * max(1.0, abs(grad[idx]))


def test_im2col_col2im_are_adjoint() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 6))
    cols = K.im2col(x, 3, 2, 1)
    c = rng.standard_normal(cols.shape)
    assert np.isclose(np.sum(cols * c), np.sum(x * K.col2im(c, 2, 3, 7, 6, 3, 2, 1)))


# --------------------------------------------------------------------------- pooling

POOL_CASES = [(2, 3, 6, 2, 2), (1, 2, 7, 3, 2), (3, 1, 5, 2, 1), (2, 2, 8, 4, 4)]  # batch, channels, size, kernel, stride


def _pool_loops(x, kernel, stride, fn):
    n, c, h, w = x.shape
    oh, ow = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = fn(x[:, :, i * stride : i * stride + kernel, j * stride : j * stride + kernel], axis=(2, 3))
    return out


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_forward_matches_loops(case) -> None:
    batch, channels, size, kernel, stride = case
    x = np.random.default_rng(size).standard_normal((batch, channels, size, size)).astype(np.float32)
    y, arg = K.maxpool_forward(x, kernel, stride)
    np.testing.assert_array_equal(y, _pool_loops(x, kernel, stride, np.max))
    np.testing.assert_array_equal(x.reshape(batch, channels, -1)[np.arange(batch)[:, None, None, None], np.arange(channels)[None, :, None, None], arg], y)
    np.testing.assert_allclose(K.avgpool_forward(x, kernel, stride), _pool_loops(x, kernel, stride, np.mean), rtol=1e-5, atol=1e-6)
    t = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(K.maxpool_gather(t, arg), t.reshape(batch, channels, -1)[np.arange(batch)[:, None, None, None], np.arange(channels)[None, :, None, None], arg])


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_backward_matches_finite_differences(case) -> None:
    batch, channels, size, kernel, stride = case
    rng = np.random.default_rng(7 + size)
    x = rng.permutation(batch * channels * size * size).reshape(batch, channels, size, size).astype(np.float64)  # distinct: max is unique
    y, arg = K.maxpool_forward(x, kernel, stride)
    g = rng.standard_normal(y.shape)
    grads = {
        "max": (lambda v: np.sum(K.maxpool_forward(v, kernel, stride)[0] * g), K.maxpool_backward(g, arg, size, size)),
        "avg": (lambda v: np.sum(K.avgpool_forward(v, kernel, stride) * g), K.avgpool_backward(g, kernel, stride, size, size)),
    }
    h = 1e-3  # below half the gap between distinct values: the argmax does not move
    for loss, dx in grads.values():
        fd = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            old = x[idx]
            x[idx] = old + h
            up = loss(x)
            x[idx] = old - h
            down = loss(x)
            x[idx] = old
            fd[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(dx, fd, atol=1e-7)


# --------------------------------------------------------------------------- batchnorm


@pytest.mark.parametrize("shape", [(5, 3, 4), (8, 6, 1), (2, 2, 9)])
def test_batchnorm_forward_matches_numpy(shape) -> None:
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    gamma, beta = rng.standard_normal(shape[1]).astype(np.float32), rng.standard_normal(shape[1]).astype(np.float32)
    rm, rv = rng.standard_normal(shape[1]).astype(np.float32), rng.uniform(0.5, 2, shape[1]).astype(np.float32)
    rm0, rv0 = rm.copy(), rv.copy()
    y, xhat, inv_std = K.batchnorm_train(x, gamma, beta, 1e-5, rm, rv, 0.1)
    x64 = x.astype(np.float64)
    mu, var = x64.mean(axis=(0, 2)), x64.var(axis=(0, 2))
    ref_hat = (x64 - mu[None, :, None]) / np.sqrt(var[None, :, None] + 1e-5)
    np.testing.assert_allclose(xhat, ref_hat, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, gamma[None, :, None] * ref_hat + beta[None, :, None], rtol=1e-5, atol=1e-5)
    count = shape[0] * shape[2]
    np.testing.assert_allclose(rm, 0.9 * rm0 + 0.1 * mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, 0.9 * rv0 + 0.1 * var * count / (count - 1), rtol=1e-5, atol=1e-6)
    ev = K.batchnorm_eval(x, gamma, beta, 1e-5, rm, rv)
    ref_ev = gamma[None, :, None] * (x64 - rm[None, :, None]) / np.sqrt(rv[None, :, None] + 1e-5) + beta[None, :, None]
    np.testing.assert_allclose(ev, ref_ev, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(5, 3, 4), (6, 2, 1)])
def test_batchnorm_backward_matches_finite_differences(shape) -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape) * 2 + 0.5
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    g = rng.standard_normal(shape)
    rm, rv = np.zeros(shape[1]), np.ones(shape[1])

    def loss(xv, gv, bv):  # Σ y ⊙ g, per-sample-summed like the output error
        return float(np.sum(K.batchnorm_train(xv, gv, bv, 1e-5, rm.copy(), rv.copy(), 0.1)[0] * g))

    _, xhat, inv_std = K.batchnorm_train(x, gamma, beta, 1e-5, rm.copy(), rv.copy(), 0.1)
    dx, dgamma, dbeta = K.batchnorm_backward(g, xhat, gamma, inv_std)
    h = 1e-6
    batch = shape[0]
    for arr, grad, scale in ((x, dx, 1.0), (gamma, dgamma, batch), (beta, dbeta, batch)):
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + h
            up = loss(x, gamma, beta)
            arr[idx] = old - h
            down = loss(x, gamma, beta)
            arr[idx] = old
            assert abs((up - down) / (2 * h) - grad[idx] * scale) < 1e-5 * max(1.0, abs(grad[idx] * scale))
    # eval mode: the statistics are constants
    rv2 = rng.uniform(0.5, 2, shape[1])
    dx_eval = K.batchnorm_eval_backward(g, gamma, rv2, 1e-5)
    np.testing.assert_allclose(dx_eval, g * (gamma / np.sqrt(rv2 + 1e-5))[None, :, None])
