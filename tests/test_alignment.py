"""Error-signal alignment (Launay et al.) against an independent NumPy computation."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.config.workload import DFAConfig, FAConfig, NetworkConfig
from neurosim.learning import Network, make_rule
from neurosim.learning.alignment import error_alignment_deg, measures_at, per_sample_cosine

TINY = [6, 5, 4, 3]


def _net(seed: int = 0) -> Network:
    return Network(NetworkConfig(layers=TINY, activation="tanh"), (TINY[0],), np.random.default_rng(seed))


def _reference(net: Network, rule, x: np.ndarray, y: np.ndarray, chain_b: bool) -> dict[str, float]:
    """BP's and the rule's δ at each hidden layer in float64, per-sample cosine, mean, arccos."""
    ws = [layer.weight.astype(np.float64) for layer in net.weight_layers]
    bs = [layer.bias.astype(np.float64) for layer in net.weight_layers]
    h, a = [x.astype(np.float64)], []
    for k, (w, b) in enumerate(zip(ws, bs)):
        a.append(h[-1] @ w.T + b)
        h.append(np.tanh(a[-1]) if k < len(ws) - 1 else a[-1])
    z = a[-1] - a[-1].max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    e = (p - np.eye(TINY[-1])[y]) / len(y)
    bp, est = [None] * len(ws), [None] * len(ws)
    bp[-1] = est[-1] = e
    for k in range(len(ws) - 2, -1, -1):
        d = 1.0 - np.tanh(a[k]) ** 2
        bp[k] = (bp[k + 1] @ ws[k + 1]) * d
        if chain_b:
            est[k] = (est[k + 1] @ rule.chain_feedback[k + 1].astype(np.float64)) * d
        else:
            est[k] = (e @ rule.direct[k].matrix.astype(np.float64).T) * d
    out = {}
    for k in range(len(ws) - 1):
        num = (bp[k] * est[k]).sum(axis=1)
        cos = num / (np.linalg.norm(bp[k], axis=1) * np.linalg.norm(est[k], axis=1))
        out[f"fc{k + 1}"] = float(np.degrees(np.arccos(cos.mean())))
    return out


@pytest.mark.parametrize("algo,chain_b", [(DFAConfig(name="dfa"), False), (FAConfig(name="fa"), True)])
def test_error_alignment_matches_numpy(algo, chain_b):
    net = _net()
    rule = make_rule(algo, net, 3)
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((16, TINY[0])).astype(np.float32), rng.integers(0, TINY[-1], 16)
    got = error_alignment_deg(net, rule, x, y)
    want = _reference(net, rule, x, y, chain_b)
    assert set(got) == set(want) == {"fc1", "fc2"}
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=1e-3)
        assert 0.0 < got[name] < 180.0


def test_bp_records_nothing():
    from neurosim.config.workload import BPConfig

    net = _net()
    x = np.random.default_rng(1).standard_normal((8, TINY[0])).astype(np.float32)
    y = np.arange(8) % TINY[-1]
    assert error_alignment_deg(net, make_rule(BPConfig(name="bp"), net, 0), x, y) == {}


def test_per_sample_cosine_conventions():
    u = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [2.0, 2.0]])
    v = np.array([[0.0, 3.0], [0.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])
    np.testing.assert_allclose(per_sample_cosine(u, v), [0.0, 1.0, 0.0, -1.0])


def test_schedule_dense_in_the_first_epoch():
    per_epoch = 250
    steps = [s for s in range(0, 3 * per_epoch + 1) if measures_at(s, per_epoch, None)]
    first = [s for s in steps if s <= per_epoch]
    assert first == list(range(0, 251, 10))
    assert [s for s in steps if s > per_epoch] == [310, 372, 434, 496, 558, 620, 682, 744]
    assert [s for s in range(0, 101) if measures_at(s, per_epoch, 25)] == [0, 25, 50, 75, 100]


def test_estimator_statistics_match_numpy():
    from neurosim.config.workload import Workload
    from neurosim.kernels import softmax_cross_entropy
    from neurosim.learning.alignment import ESTIMATOR_DRAWS, measure

    net = _net()
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((16, TINY[0])).astype(np.float32), rng.integers(0, TINY[-1], 16)
    fg = Workload(name="t", network={"layers": [784, 10]}, algorithms=["fwd_grad"]).algorithms[0]
    cache = net.forward(x)
    _, e = softmax_cross_entropy(cache.logits, y)
    from neurosim.learning.rules import bp_rule

    true = bp_rule(net).backward(net, cache, e.copy(), y).deltas
    for algo, draws in ((DFAConfig(name="dfa"), 1), (fg, ESTIMATOR_DRAWS)):
        rule = make_rule(algo, net, 4)
        got = measure(net, rule, x, y)
        for i, name in enumerate(("fc1", "fc2")):
            inp = cache.layers[net.weight_positions[i]].x.astype(np.float64)
            g = (true[i].astype(np.float64).T @ inp / len(y)).ravel()
            hats = np.stack([(rule.backward(net, cache, e.copy(), y, np.random.default_rng(k)).deltas[i].astype(np.float64).T
                              @ inp / len(y)).ravel() for k in range(draws)])
            cos = np.mean([h @ g / np.linalg.norm(h) / np.linalg.norm(g) for h in hats])
            var = np.mean(((hats - hats.mean(axis=0)) ** 2).sum(axis=1)) / (g @ g)
            mse = np.mean(((hats - g) ** 2).sum(axis=1)) / (g @ g)
            assert got[name][1:] == pytest.approx((cos, var, mse), rel=1e-3, abs=1e-9)
        if draws == 1:
            assert all(v[2] == 0.0 for v in got.values())
        else:
            assert all(v[2] > 0.0 for v in got.values())


def _batch(n: int = 16, seed: int = 5):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, TINY[0])).astype(np.float32), rng.integers(0, TINY[-1], n)


@pytest.mark.parametrize("sign,want", [(1.0, 0.0), (-1.0, 180.0)])
def test_last_hidden_layer_angle_when_w_out_is_b_transposed(sign, want):
    """DFA's fc2 error is e·B₂ᵀ ⊙ f'; BP's is e·W₃ ⊙ f'. With W₃ = ±B₂ᵀ they coincide (0°) or are
    opposite (180°): checks the sign convention and that fc2's angle uses fc2's B (not fc1's)."""
    net = _net()
    rule = make_rule(DFAConfig(name="dfa"), net, 3)
    net.weight_layers[2].weight[...] = sign * 2.5 * rule.direct[1].matrix.T
    x, y = _batch()
    got = error_alignment_deg(net, rule, x, y)
    assert got["fc2"] == pytest.approx(want, abs=1e-3)
    assert 1.0 < got["fc1"] < 179.0  # fc1's B is another draw
    assert got["fc1"] == pytest.approx(_reference(net, rule, x, y, chain_b=False)["fc1"], abs=1e-3)


def test_fa_with_b_equal_to_w_is_bp():
    """FA whose B_l is W_l carries BP's error down the whole chain: 0° at every hidden layer."""
    net = _net()
    rule = make_rule(FAConfig(name="fa"), net, 3)
    for i in rule.chain_feedback:
        rule.chain_feedback[i] = net.weight_layers[i].weight.copy()
    x, y = _batch()
    assert error_alignment_deg(net, rule, x, y) == pytest.approx({"fc1": 0.0, "fc2": 0.0}, abs=1e-3)


@pytest.mark.parametrize("algo", [DFAConfig(name="dfa"), FAConfig(name="fa")])
def test_output_layer_error_is_bps(algo):
    """The output layer's δ is e for every rule, bit for bit BP's (angle 0, so it is not recorded)."""
    from neurosim.kernels import softmax_cross_entropy
    from neurosim.learning.rules import bp_rule

    net = _net()
    x, y = _batch()
    cache = net.forward(x)
    _, e = softmax_cross_entropy(cache.logits, y)
    got = make_rule(algo, net, 3).backward(net, cache, e.copy(), y).deltas[-1]
    np.testing.assert_array_equal(got, bp_rule(net).backward(net, cache, e.copy(), y).deltas[-1])
    np.testing.assert_allclose(per_sample_cosine(got, e), 1.0, atol=1e-6)


def test_measure_after_training_steps_matches_numpy():
    """After DFA updates (weights far from their initial draw) the measure still equals the
    NumPy reference computed from the current weights and B."""
    from neurosim.kernels import softmax_cross_entropy

    net = _net()
    rule = make_rule(DFAConfig(name="dfa"), net, 3)
    x, y = _batch(64, seed=9)
    for step in range(20):
        xb, yb = x[step % 4 * 16 : step % 4 * 16 + 16], y[step % 4 * 16 : step % 4 * 16 + 16]
        cache = net.forward(xb)
        _, e = softmax_cross_entropy(cache.logits, yb)
        result = rule.backward(net, cache, e, yb)
        for j, layer in enumerate(net.layers):
            for p, g in zip(layer.params, result.grads[j] or []):
                p -= np.float32(0.5) * g
    xh, yh = _batch(32, seed=11)
    got = error_alignment_deg(net, rule, xh, yh)
    want = _reference(net, rule, xh, yh, chain_b=False)
    assert got == pytest.approx(want, abs=1e-3)
    assert any(abs(v - 90.0) > 5.0 for v in got.values())  # training moved the alignment


def test_training_csv_carries_each_epochs_last_error_angle(mnist_dir):
    """training.csv's ``error_angle_deg_<layer>`` is, per epoch, the angle of that epoch's
    last measure in alignment.csv (read back from the two frames a run writes)."""
    from types import SimpleNamespace

    from neurosim.config.workload import Workload
    from neurosim.data import load_dataset
    from neurosim.learning import train
    from neurosim.report.files import alignment_frame, training_frame

    wl = Workload.model_validate({
        "name": "tiny", "seed": 0, "dataset": {"name": "mnist", "train_limit": 160, "test_limit": 64},
        "network": {"layers": [784, 16, 12, 10], "activation": "tanh"},
        "training": {"epochs": 3, "batch_size": 16, "alignment_every": 3,
                     "optimizer": {"name": "sgd", "learning_rate": 0.1}},
        "algorithms": ["dfa"]})
    data = load_dataset(wl.dataset)
    result = train(wl, wl.algorithm("dfa"), data.x_train, data.y_train, data.x_test, data.y_test)
    run = SimpleNamespace(algorithms={"dfa": SimpleNamespace(training=result)})
    steps = alignment_frame(run)
    assert sorted(steps["step"].unique()) == list(range(0, 31, 3))  # every 3 of the 30 steps
    last = steps.loc[steps.groupby(["epoch", "layer"])["step"].idxmax()]
    per_epoch = training_frame(run).set_index("epoch")
    assert list(per_epoch.index) == [1, 2, 3]
    for row in last.itertuples():
        assert per_epoch.loc[row.epoch, f"error_angle_deg_{row.layer}"] == row.angle_deg
    assert {"error_angle_deg_fc1", "error_angle_deg_fc2"} <= set(per_epoch.columns)
