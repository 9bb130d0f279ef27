"""Conv networks: BP against finite differences, every rule's errors against hand-wired NumPy, transfer."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from pydantic import TypeAdapter

from neurosim.config.network import NetworkConfig
from neurosim.config.workload import AlgorithmConfig, Workload
from neurosim.kernels import softmax_cross_entropy
from neurosim.learning import Network, load_checkpoint, make_rule, save_checkpoint, train
from neurosim.learning.layers import BatchNorm, WeightLayer

SLOPE = 0.1
INPUT = (2, 8, 8)
PLAIN = [
    {"kind": "conv2d", "channels": 4, "kernel": 3, "padding": 1},
    {"kind": "maxpool"},
    {"kind": "conv2d", "channels": 4, "kernel": 3, "padding": 1},
    {"kind": "maxpool"},
    {"kind": "flatten"},
    {"kind": "dense", "units": 6},
    {"kind": "dense", "units": 3},
]
NORMED = [
    {"kind": "conv2d", "channels": 4, "kernel": 3, "stride": 2, "padding": 1},
    {"kind": "batchnorm"},
    {"kind": "conv2d", "channels": 6, "kernel": 2, "groups": 2},
    {"kind": "avgpool", "kernel": 3},
    {"kind": "flatten"},
    {"kind": "dense", "units": 5},
    {"kind": "batchnorm"},
    {"kind": "dense", "units": 3},
]


def _algo(**cfg) -> AlgorithmConfig:
    return TypeAdapter(AlgorithmConfig).validate_python(cfg)


def _net(layers, seed=0, dtype=np.float32) -> Network:
    net = Network(NetworkConfig(layers=layers, activation="leaky_relu", leaky_slope=SLOPE), INPUT, np.random.default_rng(seed))
    if dtype == np.float64:
        for layer in net.layers:
            for attr in ("weight", "bias", "scale", "shift", "running_mean", "running_var"):
                if hasattr(layer, attr):
                    setattr(layer, attr, getattr(layer, attr).astype(np.float64))
            if isinstance(layer, WeightLayer):
                layer.params = [layer.weight, layer.bias]
            elif isinstance(layer, BatchNorm):
                layer.params = [layer.scale, layer.shift]
    return net


def _batch(n=5, dtype=np.float32, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, int(np.prod(INPUT)))).astype(dtype), rng.integers(0, 3, n)


def _loss64(net: Network, x: np.ndarray, y: np.ndarray) -> float:
    z = net.forward(x, train=True, update=False).logits
    z = z - z.max(axis=1, keepdims=True)
    return float(-(z - np.log(np.exp(z).sum(axis=1, keepdims=True)))[np.arange(len(y)), y].mean())


@pytest.mark.parametrize("layers", [PLAIN, NORMED])
def test_bp_on_a_conv_net_matches_finite_differences(layers) -> None:
    net = _net(layers, dtype=np.float64)
    x, y = _batch(dtype=np.float64)
    cache = net.forward(x, train=True, update=False)
    _, e = softmax_cross_entropy(cache.logits, y)
    grads = make_rule(_algo(name="bp"), net, 0).backward(net, cache, e, y).grads
    rng = np.random.default_rng(2)
    checked = 0
    for j, layer in enumerate(net.layers):
        for param, grad in zip(layer.params, grads[j] or []):
            for flat in rng.choice(param.size, size=min(param.size, 8), replace=False):
                idx = np.unravel_index(flat, param.shape)
                old = param[idx]
                param[idx] = old + 1e-6
                up = _loss64(net, x, y)
                param[idx] = old - 1e-6
                down = _loss64(net, x, y)
                param[idx] = old
                assert abs((up - down) / 2e-6 - grad[idx]) < 1e-6 + 1e-5 * abs(grad[idx]), (layer.name, idx)
                checked += 1
    assert checked >= 40


# --------------------------------------------------------------------------- hand-wired NumPy references


def _df(a):
    return np.where(a > 0, 1.0, SLOPE)


def _tconv(g, w, stride, padding, in_hw, groups=1):
    """Transposed convolution by scattering every tap (independent of im2col)."""
    batch, c_out, out_h, out_w = g.shape
    c_group, k = w.shape[1], w.shape[2]
    o_group = c_out // groups
    xp = np.zeros((batch, c_group * groups, in_hw[0] + 2 * padding, in_hw[1] + 2 * padding))
    for u in range(k):
        for v in range(k):
            for q in range(groups):
                part = np.einsum("noij,oc->ncij", g[:, q * o_group : (q + 1) * o_group], w[q * o_group : (q + 1) * o_group, :, u, v])
                xp[:, q * c_group : (q + 1) * c_group, u : u + stride * (out_h - 1) + 1 : stride, v : v + stride * (out_w - 1) + 1 : stride] += part
    return xp[:, :, padding : padding + in_hw[0], padding : padding + in_hw[1]]


def _conv(x, w, stride, padding):
    """Forward convolution without bias (groups 1), by taps."""
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = (x.shape[2] + 2 * padding - k) // stride + 1
    y = np.zeros((x.shape[0], w.shape[0], out, out))
    for u in range(k):
        for v in range(k):
            y += np.einsum("ncij,oc->noij", xp[:, :, u : u + stride * (out - 1) + 1 : stride, v : v + stride * (out - 1) + 1 : stride], w[:, :, u, v])
    return y


def _maxpool_back(g, x):
    """2×2 max-pool backward: each gradient to the first maximum of its window."""
    dx = np.zeros_like(x, dtype=np.float64)
    for n, c, i, j in np.ndindex(g.shape):
        window = x[n, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        u, v = np.unravel_index(np.argmax(window), (2, 2))
        dx[n, c, 2 * i + u, 2 * j + v] += g[n, c, i, j]
    return dx


def _dense_b(fb) -> np.ndarray:
    if fb.idx is None:
        return fb.matrix.astype(np.float64)
    b = np.zeros((fb.idx.shape[0], 3))
    b[np.arange(fb.idx.shape[0])[:, None], fb.idx] = fb.matrix
    return b


def _reference(name, rule, net, cache, e, y, **cfg):
    """δ of conv1, conv2, fc1, fc2 on PLAIN, each rule wired by hand."""
    c = cache.layers  # conv1, pool1, conv2, pool2, flatten1, fc1, fc2
    w = [layer.weight.astype(np.float64) for layer in net.weight_layers]
    a1, a2, a3 = (c[j].a.astype(np.float64) for j in (0, 2, 5))
    e = e.astype(np.float64)
    signal = {"sign_dfa": np.sign(e), "drtp": np.eye(3)[y]}.get(name, e)
    if name in ("bp", "fa"):
        m = w if name == "bp" else [None] + [rule.chain_feedback[i].astype(np.float64) for i in (1, 2, 3)]
        d3 = (e @ m[3]) * _df(a3)
        g = (d3 @ m[2]).reshape(-1, 4, 2, 2)
        d2 = _maxpool_back(g, c[2].h) * _df(a2)
        d1 = _maxpool_back(_tconv(d2, m[1], 1, 1, (4, 4)), c[0].h) * _df(a1)
        return [d1, d2, d3, e]
    if name == "hybrid_dfa":  # direct_to conv2, dilation 2, fanin 2, error_groups 2
        d3 = (e @ w[3]) * _df(a3)
        grid = (e @ _dense_b(rule.direct[1]).T).reshape(-1, 4, 2, 2)
        g = np.zeros((len(y), 4, 4, 4))
        g[:, :, ::2, ::2] = grid
        d2 = g * _df(a2)
        block = np.stack([w[1][0:2, 0:2], w[1][2:4, 2:4]]).reshape(4, 2, 3, 3)
        d1 = _maxpool_back(_tconv(d2, block, 1, 1, (4, 4), groups=2), c[0].h) * _df(a1)
        return [d1, d2, d3, e]
    outs = [(4, 8, 8), (4, 4, 4), (6,)]
    return [(signal @ _dense_b(rule.direct[i]).T).reshape((-1,) + outs[i]) * _df(a) for i, a in enumerate((a1, a2, a3))] + [e]


RULES = [
    {"name": "bp"},
    {"name": "fa"},
    {"name": "dfa"},
    {"name": "sdfa", "fanin": 2},
    {"name": "sign_dfa"},
    {"name": "drtp"},
    {"name": "hybrid_dfa", "direct_to": ["conv2"], "feedback_dilation": 2, "fanin": 2, "error_groups": 2},
]


@pytest.mark.parametrize("cfg", RULES, ids=[r["name"] for r in RULES])
def test_rule_errors_on_a_conv_net_match_numpy(cfg) -> None:
    net = _net(PLAIN)
    x, y = _batch()
    rule = make_rule(_algo(**cfg), net, 5)
    cache = net.forward(x)
    _, e = softmax_cross_entropy(cache.logits, y)
    deltas = rule.backward(net, cache, e.copy(), y).deltas
    for name, got, want in zip(net.names, deltas, _reference(cfg["name"], rule, net, cache, e, y)):
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=name)
    if cfg["name"] == "hybrid_dfa":  # the dilated grid: 4 channels × 2 × 2 rows of s = 2 nonzeros
        assert rule.direct[1].idx.shape == (16, 2) and set(rule.direct) == {1}


def test_fdfa_tangent_through_conv_layers_matches_numpy() -> None:
    net = _net(PLAIN)
    x, y = _batch()
    rule = make_rule(_algo(name="fdfa", feedback_rate=0.5), net, 3)
    for fb in rule.direct.values():
        fb.matrix[...] = 0.25
    cache = net.forward(x)
    rng = copy.deepcopy(rule.sample_rng)
    rule.learn_feedback(net, cache)
    c = cache.layers
    w = [layer.weight.astype(np.float64) for layer in net.weight_layers]
    u1, u2, u3 = (rng.standard_normal((5,) + s, dtype=np.float32).astype(np.float64) for s in ((4, 8, 8), (4, 4, 4), (6,)))

    def pool(t, h):  # gather t at h's 2×2 window maxima
        out = np.empty(t.shape[:2] + (t.shape[2] // 2, t.shape[3] // 2))
        for n, ch, i, j in np.ndindex(out.shape):
            u, v = np.unravel_index(np.argmax(h[n, ch, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]), (2, 2))
            out[n, ch, i, j] = t[n, ch, 2 * i + u, 2 * j + v]
        return out

    t = pool(u1, c[0].h)
    t = _conv(t, w[1], 1, 1) * _df(c[2].a) + u2
    t = pool(t, c[2].h).reshape(5, -1)
    t = (t @ w[2].T) * _df(c[5].a) + u3
    d = t @ w[3].T
    for i, u in enumerate((u1, u2, u3)):
        np.testing.assert_allclose(rule.direct[i].matrix, 0.5 * 0.25 + 0.5 * u.reshape(5, -1).T @ d / 5, rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- transfer and checkpoints


def _conv_workload(algo, epochs=1):
    layers = [{"kind": "conv2d", "channels": 4, "kernel": 5}, {"kind": "maxpool", "kernel": 4},
              {"kind": "batchnorm"}, {"kind": "flatten"}, {"kind": "dense", "units": 12}, {"kind": "dense", "units": 10}]
    return Workload(name="t", network={"layers": layers, "activation": "relu"},
                    training={"epochs": epochs, "batch_size": 16, "optimizer": {"name": "sgd", "learning_rate": 0.05}},
                    algorithms=[algo])


def _data(n=64):
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n), rng.random((20, 784), dtype=np.float32), rng.integers(0, 10, 20)


def test_transfer_from_a_checkpoint_freezes_the_listed_layers(tmp_path) -> None:
    data = _data()
    wl = _conv_workload("bp")
    source = train(wl, wl.algorithms[0], *data)
    path = save_checkpoint(source.state, tmp_path / "checkpoint_bp.npz")
    assert set(load_checkpoint(path)) == {"conv1.weight", "conv1.bias", "bn1.scale", "bn1.shift", "bn1.running_mean",
                                          "bn1.running_var", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    wl2 = _conv_workload({"name": "sdfa", "fanin": 1, "transfer": {"layers": ["conv1", "bn1"], "checkpoint": str(path)}}, epochs=2)
    result = train(wl2, wl2.algorithms[0], *data)
    for key in ("conv1.weight", "conv1.bias", "bn1.scale", "bn1.running_var"):
        np.testing.assert_array_equal(result.state[key], source.state[key])
    fresh = train(_conv_workload("bp"), _conv_workload("bp").algorithms[0], *data)
    assert not np.array_equal(result.state["fc1.weight"], fresh.state["fc1.weight"])
    assert set(result.history[-1].alignment_deg) == {"fc1"}


def test_transfer_by_bp_pretraining_uses_bp_weights_and_counts_its_steps() -> None:
    data = _data()
    calls = []
    wl = _conv_workload({"name": "dfa", "transfer": {"layers": ["conv1", "bn1"], "bp_epochs": 1}})
    result = train(wl, wl.algorithms[0], *data, progress=lambda s, t, _accuracy: calls.append((s, t)))
    bp = train(_conv_workload("bp"), _conv_workload("bp").algorithms[0], *data)
    assert calls[-1] == (8, 8) and result.steps == 4
    assert not np.array_equal(result.state["conv1.weight"], bp.state["conv1.weight"])  # the pre-training shuffles its own way
    again = train(wl, wl.algorithms[0], *data)
    np.testing.assert_array_equal(result.state["conv1.weight"], again.state["conv1.weight"])


def test_frozen_layers_below_every_direct_layer_get_no_error() -> None:
    net = _net(PLAIN)
    x, y = _batch()
    rule = make_rule(_algo(name="dfa", transfer={"layers": ["conv1"], "bp_epochs": 1}), net, 0)
    cache = net.forward(x)
    _, e = softmax_cross_entropy(cache.logits, y)
    out = rule.backward(net, cache, e, y)
    assert out.deltas[0] is None and out.grads[0] is None and out.grads[2] is not None
    assert [p.error for p in rule.plan] == ["none", "direct", "direct", "output"]


def test_learning_rate_decays_per_epoch(monkeypatch) -> None:
    import neurosim.learning.trainer as trainer

    seen: list[float] = []
    real = trainer.make_optimizer

    def recording(cfg, params, layers=None):
        opt = real(cfg, params, layers)
        step = opt.step
        opt.step = lambda grads: (seen.append(opt.lr), step(grads))[1]
        return opt

    monkeypatch.setattr(trainer, "make_optimizer", recording)
    fused = trainer._sgd_layers  # plain SGD steps each layer itself, at the optimizer's rate
    monkeypatch.setattr(trainer, "_sgd_layers", lambda *args: (seen.append(args[4].lr), fused(*args))[1])
    wl = Workload(name="t", network={"layers": [784, 8, 10]},
                  training={"epochs": 3, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 0.2, "lr_decay": 0.5}},
                  algorithms=["dfa"])
    train(wl, wl.algorithms[0], *_data(64))
    assert seen == [0.2, 0.2, 0.1, 0.1, 0.05, 0.05]


@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu", "sigmoid"])
def test_every_activation_on_conv_and_batchnorm_outputs(activation) -> None:
    """The activation after a conv (and after a batchnorm) is the configured function (NumPy, float64)."""
    net = Network(NetworkConfig(activation=activation, leaky_slope=0.1, layers=[
        {"kind": "conv2d", "channels": 2, "kernel": 3}, {"kind": "conv2d", "channels": 2, "kernel": 3},
        {"kind": "batchnorm"}, {"kind": "flatten"}, {"kind": "dense", "units": 3}]), (1, 7, 7), np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((4, 49)).astype(np.float32)
    cache = net.forward(x)
    f = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0), "leaky_relu": lambda a: np.where(a > 0, a, 0.1 * a),
         "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a))}[activation]
    for j in (0, 2):  # conv1 carries its activation; conv2's is carried by its batchnorm
        c = cache.layers[j]
        np.testing.assert_allclose(c.h, f(c.a.astype(np.float64)), rtol=2e-6, atol=2e-6)
