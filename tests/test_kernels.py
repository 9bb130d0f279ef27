"""Every numba kernel against a plain NumPy reference (float32 tolerances)."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim import kernels as K

SHAPES = [(1, 1, 1), (1, 7, 3), (5, 13, 11), (32, 784, 33), (17, 9, 800)]  # (batch, n_in, n_out)
ACTS = [K.IDENTITY, K.TANH, K.RELU, K.LEAKY_RELU]
SLOPE = 0.05
RTOL, ATOL = 1e-4, 1e-5


def _rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _f(a: np.ndarray, act: int) -> np.ndarray:
    if act == K.TANH:
        return np.tanh(a)
    if act == K.RELU:
        return np.maximum(a, 0)
    if act == K.LEAKY_RELU:
        return np.where(a > 0, a, SLOPE * a)
    return a


def _df(a: np.ndarray, act: int) -> np.ndarray:
    if act == K.TANH:
        return 1 - np.tanh(a) ** 2
    if act == K.RELU:
        return (a > 0).astype(a.dtype)
    if act == K.LEAKY_RELU:
        return np.where(a > 0, 1, SLOPE).astype(a.dtype)
    return np.ones_like(a)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("batch,n_in,n_out", SHAPES)
def test_dense_forward(batch: int, n_in: int, n_out: int, act: int) -> None:
    rng = np.random.default_rng(batch * 1000 + n_in + act)
    x, w, b = _rand(rng, batch, n_in), _rand(rng, n_out, n_in), _rand(rng, n_out)
    a, h = K.dense_forward(x, w, b, act, SLOPE)
    ref_a = x @ w.T + b
    np.testing.assert_allclose(a, ref_a, rtol=RTOL, atol=ATOL * np.sqrt(n_in))
    np.testing.assert_allclose(h, _f(ref_a, act), rtol=RTOL, atol=ATOL * np.sqrt(n_in))
    assert a.dtype == h.dtype == np.float32


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("batch,n", [(1, 1), (3, 17), (32, 800)])
def test_activation_backward(batch: int, n: int, act: int) -> None:
    rng = np.random.default_rng(n + act)
    a, g = _rand(rng, batch, n), _rand(rng, batch, n)
    a[0, 0] = 0.0  # the rectifiers' kink: derivative taken as the left one
    expected = g * _df(a, act)
    out = K.activation_backward(g.copy(), a, _f(a, act).astype(np.float32), act, SLOPE)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("batch,n_in,n_out", SHAPES)
def test_backward_input_and_jvp(batch: int, n_in: int, n_out: int) -> None:
    rng = np.random.default_rng(n_out)
    w, delta = _rand(rng, n_out, n_in), _rand(rng, batch, n_out)
    np.testing.assert_allclose(K.backward_input(delta, w), delta @ w, rtol=RTOL, atol=ATOL * np.sqrt(n_out))
    t, a = _rand(rng, batch, n_in), _rand(rng, batch, n_out)
    jvp = K.dense_jvp(t, w, a, np.tanh(a), K.TANH, SLOPE)
    np.testing.assert_allclose(jvp, (t @ w.T) * _df(a, K.TANH), rtol=RTOL, atol=ATOL * np.sqrt(n_in))


@pytest.mark.parametrize("batch,n_in,n_out", SHAPES)
def test_weight_grad(batch: int, n_in: int, n_out: int) -> None:
    rng = np.random.default_rng(n_in)
    delta, x = _rand(rng, batch, n_out), _rand(rng, batch, n_in)
    dw, db = K.weight_grad(delta, x)
    np.testing.assert_allclose(dw, delta.T @ x / batch, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(db, delta.mean(axis=0), rtol=RTOL, atol=ATOL)
    assert dw.shape == (n_out, n_in) and db.shape == (n_out,)


@pytest.mark.parametrize("batch,classes", [(1, 2), (7, 3), (32, 10), (5, 101)])
def test_softmax_cross_entropy(batch: int, classes: int) -> None:
    rng = np.random.default_rng(classes)
    z = (_rand(rng, batch, classes) * 5).astype(np.float32)
    z[0, 0] = 80.0  # large logits must not overflow
    y = rng.integers(0, classes, batch)
    loss, e = K.softmax_cross_entropy(z, y)
    z64 = z.astype(np.float64)
    logp = z64 - z64.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    onehot = np.eye(classes)[y]
    assert loss == pytest.approx(-logp[np.arange(batch), y].mean(), rel=1e-5, abs=1e-5)
    np.testing.assert_allclose(e, np.exp(logp) - onehot, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(K.one_hot(y, classes), onehot.astype(np.float32))


@pytest.mark.parametrize("batch,n,classes", [(1, 1, 2), (3, 17, 10), (32, 800, 10)])
def test_dense_project(batch: int, n: int, classes: int) -> None:
    rng = np.random.default_rng(n)
    e, b = _rand(rng, batch, classes), _rand(rng, n, classes)
    np.testing.assert_allclose(K.dense_project(e, b), e @ b.T, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("batch,n,classes,s", [(1, 1, 2, 1), (3, 17, 10, 3), (32, 800, 10, 1), (4, 9, 5, 5)])
def test_sparse_project(batch: int, n: int, classes: int, s: int) -> None:
    rng = np.random.default_rng(n * s)
    e = _rand(rng, batch, classes)
    idx = np.stack([rng.choice(classes, s, replace=False) for _ in range(n)]).astype(np.int64)
    val = _rand(rng, n, s)
    dense = np.zeros((n, classes), dtype=np.float32)
    dense[np.arange(n)[:, None], idx] = val
    np.testing.assert_allclose(K.sparse_project(e, idx, val), e @ dense.T, rtol=RTOL, atol=ATOL)


def _params(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return _rand(rng, 13, 7), _rand(rng, 13, 7)


def test_sgd_step() -> None:
    p, g = _params(np.random.default_rng(0))
    expected = p - np.float32(0.1) * g
    K.sgd_step(p, g, 0.1)
    np.testing.assert_allclose(p, expected, rtol=1e-6)


def test_momentum_step() -> None:
    p, g = _params(np.random.default_rng(1))
    v = _rand(np.random.default_rng(2), 13, 7)
    v_ref = 0.9 * v + g
    p_ref = p - 0.05 * v_ref
    K.momentum_step(p, g, v, 0.05, 0.9)
    np.testing.assert_allclose(v, v_ref, rtol=1e-6)
    np.testing.assert_allclose(p, p_ref, rtol=1e-6)


@pytest.mark.parametrize("t", [1, 7])
def test_adam_step(t: int) -> None:
    p, g = _params(np.random.default_rng(3))
    m = _rand(np.random.default_rng(4), 13, 7)
    v = np.abs(_rand(np.random.default_rng(5), 13, 7))
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    m_ref = b1 * m + (1 - b1) * g
    v_ref = b2 * v + (1 - b2) * g * g
    p_ref = p - lr * (m_ref / (1 - b1**t)) / (np.sqrt(v_ref / (1 - b2**t)) + eps)
    K.adam_step(p, g, m, v, lr, b1, b2, eps, t)
    np.testing.assert_allclose(m, m_ref, rtol=1e-5)
    np.testing.assert_allclose(v, v_ref, rtol=1e-5)
    np.testing.assert_allclose(p, p_ref, rtol=1e-5, atol=1e-7)


def test_activation_code() -> None:
    assert K.activation_code("tanh") == K.TANH
    with pytest.raises(ValueError, match="unknown activation"):
        K.activation_code("gelu")


def test_tanh_is_accurate_over_the_whole_range() -> None:
    x = np.linspace(-20, 20, 40001, dtype=np.float32).reshape(-1, 1)
    eye, zero = np.ones((1, 1), dtype=np.float32), np.zeros(1, dtype=np.float32)
    _, h = K.dense_forward(x, eye, zero, K.TANH, 0.0)
    np.testing.assert_allclose(h, np.tanh(x.astype(np.float64)), rtol=0, atol=5e-7)
    assert np.abs(h).max() <= 1.0
