"""Forward DFA's feedback optimizers and the forward-gradient rule against NumPy references."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from neurosim.config.workload import NetworkConfig, Workload
from neurosim.kernels import softmax_cross_entropy
from neurosim.learning import Network, make_rule

TINY = [6, 5, 4, 3]


def _net(seed: int = 0) -> Network:
    return Network(NetworkConfig(layers=TINY, activation="tanh"), (TINY[0],), np.random.default_rng(seed))


def _algo(name: str, **cfg):
    return Workload(name="t", network={"layers": [784, 10]}, algorithms=[{"name": name, **cfg}]).algorithms[0]


def _batch(n: int = 8):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, TINY[0])).astype(np.float32), rng.integers(0, TINY[-1], n)


def _forward64(net: Network, x: np.ndarray):
    ws = [layer.weight.astype(np.float64) for layer in net.weight_layers]
    bs = [layer.bias.astype(np.float64) for layer in net.weight_layers]
    h, a = x.astype(np.float64), []
    for k, (w, b) in enumerate(zip(ws, bs)):
        a.append(h @ w.T + b)
        h = np.tanh(a[-1]) if k < len(ws) - 1 else a[-1]
    return ws, a


def _tangent64(net: Network, x: np.ndarray, rng: np.random.Generator):
    """The perturbations u_l at each hidden output and the logits' tangent (one forward-mode pass)."""
    ws, a = _forward64(net, x)
    us = [rng.standard_normal((len(x), n), dtype=np.float32).astype(np.float64) for n in TINY[1:-1]]
    t = us[0]
    for layer in range(2, len(ws)):
        t = (t @ ws[layer - 1].T) * (1.0 - np.tanh(a[layer - 1]) ** 2) + us[layer - 1]
    return us, t @ ws[-1].T, ws, a


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_feedback_optimizer_steps_on_b_minus_estimate(kind):
    net, (x, y) = _net(), _batch()
    rate = 0.05
    rule = make_rule(_algo("fdfa", feedback_optimizer=kind, feedback_rate=rate), net, 7)
    cache = net.forward(x)
    rng = copy.deepcopy(rule.sample_rng)
    b = [np.zeros_like(rule.direct[i].matrix, dtype=np.float64) for i in (0, 1)]
    m = [np.zeros_like(v) for v in b]
    v = [np.zeros_like(w) for w in b]
    for step in range(1, 4):
        rule.learn_feedback(net, cache)
        us, d, _, _ = _tangent64(net, x, rng)
        for k, u in enumerate(us):
            grad = b[k] - u.T @ d / len(y)
            if kind == "sgd":
                b[k] = b[k] - rate * grad
            else:
                m[k] = 0.9 * m[k] + 0.1 * grad
                v[k] = 0.999 * v[k] + 0.001 * grad**2
                mh, vh = m[k] / (1 - 0.9**step), v[k] / (1 - 0.999**step)
                b[k] = b[k] - rate * mh / (np.sqrt(vh) + 1e-8)
        for k in (0, 1):
            np.testing.assert_allclose(rule.direct[k].matrix, b[k], rtol=2e-4, atol=2e-6)
    assert any(np.abs(rule.direct[k].matrix).max() > 0 for k in (0, 1))


def test_sgd_feedback_is_the_moving_average():
    net, (x, y) = _net(), _batch()
    rules = [make_rule(_algo("fdfa", feedback_optimizer=k, feedback_rate=0.2), net, 7) for k in ("ema", "sgd")]
    cache = net.forward(x)
    for _ in range(3):
        for r in rules:
            r.learn_feedback(net, cache)
    for i in (0, 1):
        np.testing.assert_allclose(rules[0].direct[i].matrix, rules[1].direct[i].matrix, rtol=1e-5, atol=1e-7)


def test_forward_gradient_matches_numpy():
    net, (x, y) = _net(), _batch()
    rule = make_rule(_algo("fwd_grad"), net, 7)
    assert rule.direct == {} and type(_algo("fwd_grad")).dataflow.mapped is False
    cache = net.forward(x)
    _, e = softmax_cross_entropy(cache.logits, y)
    got = rule.backward(net, cache, e.copy(), y, np.random.default_rng(11)).deltas
    us, d, _, a = _tangent64(net, x, np.random.default_rng(11))
    slope = (e.astype(np.float64) * d).sum(axis=1, keepdims=True)
    for k, u in enumerate(us):
        np.testing.assert_allclose(got[k], u * slope * (1.0 - np.tanh(a[k]) ** 2), rtol=1e-4, atol=1e-6)


def test_forward_gradient_is_unbiased_for_bp():
    net, (x, y) = _net(), _batch(4)
    cache = net.forward(x)
    _, e = softmax_cross_entropy(cache.logits, y)
    bp = make_rule(_algo("bp"), net, 0).backward(net, cache, e.copy(), y).deltas
    rule, rng = make_rule(_algo("fwd_grad"), net, 7), np.random.default_rng(3)
    draws = 20000
    mean = [np.zeros_like(d, dtype=np.float64) for d in bp[:-1]]
    for _ in range(draws):
        for k, d in enumerate(rule.backward(net, cache, e.copy(), y, rng).deltas[:-1]):
            mean[k] += d / draws
    for k in range(len(mean)):
        # the mean of 20,000 draws is within a few standard errors of BP's δ
        scale = np.abs(bp[k]).max()
        np.testing.assert_allclose(mean[k], bp[k], atol=0.08 * scale)
        assert np.corrcoef(mean[k].ravel(), bp[k].ravel())[0, 1] > 0.98


def test_preflight_refuses_the_forward_gradient_on_the_chip():
    from neurosim.config import hw as hwcfg
    from neurosim.errors import NeurosimError
    from neurosim.preflight import preflight

    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    hw = hwcfg.load(root / "hwconfigs" / "rram_tile.yaml")
    wl = Workload(name="t", network={"layers": [784, 16, 10]}, algorithms=["fwd_grad"])
    with pytest.raises(NeurosimError, match="fwd_grad is not modelled on the chip"):
        preflight(hw, wl, wl.algorithms, None)
