"""Network, rules, optimizers and trainer against independent NumPy references."""

from __future__ import annotations

import copy
import dataclasses
import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from neurosim.config.workload import NetworkConfig, OptimizerConfig, Workload
from neurosim.kernels import softmax_cross_entropy
from neurosim.learning import EpochRecord, Network, TrainResult, make_optimizer, make_rule, train
from neurosim.learning.rules import bp_rule, sparse_connectivity

TINY = [6, 5, 4, 3]
ACTIVATIONS = ["tanh", "relu", "leaky_relu"]


# --------------------------------------------------------------------------- helpers


def _net(activation: str = "tanh", layers: list[int] = TINY, seed: int = 0) -> Network:
    cfg = NetworkConfig(layers=layers, activation=activation, leaky_slope=0.1)
    return Network(cfg, (layers[0],), np.random.default_rng(seed))


def _weights(net: Network) -> list[np.ndarray]:
    return [layer.weight for layer in net.weight_layers]


def _biases(net: Network) -> list[np.ndarray]:
    return [layer.bias for layer in net.weight_layers]


def _inputs(net: Network, cache) -> list[np.ndarray]:
    return [c.x for c in cache.layers]


def _batch(seed: int = 1, n: int = 4, dims: tuple[int, int] = (TINY[0], TINY[-1])) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dims[0])).astype(np.float32), rng.integers(0, dims[1], n)


def _f64(a: np.ndarray, activation: str) -> np.ndarray:
    if activation == "tanh":
        return np.tanh(a)
    if activation == "relu":
        return np.maximum(a, 0.0)
    return np.where(a > 0, a, 0.1 * a)


def _df64(a: np.ndarray, activation: str) -> np.ndarray:
    if activation == "tanh":
        return 1.0 - np.tanh(a) ** 2
    if activation == "relu":
        return (a > 0).astype(np.float64)
    return np.where(a > 0, 1.0, 0.1)


def _forward64(ws, bs, x, activation):
    """Float64 forward pass: lists of pre-activations and outputs (h[0] = x)."""
    h, a = [x.astype(np.float64)], []
    for i, (w, b) in enumerate(zip(ws, bs)):
        a.append(h[-1] @ w.T + b)
        h.append(a[-1] if i == len(ws) - 1 else _f64(a[-1], activation))
    return a, h


def _loss64(ws, bs, x, y, activation) -> float:
    z = _forward64(ws, bs, x, activation)[1][-1]
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def _rule_deltas(name: str, net: MLP, x: np.ndarray, y: np.ndarray, **cfg):
    rule = make_rule(_algo(name, **cfg), net, 7)
    cache = net.forward(x)
    _, e = softmax_cross_entropy(cache.logits, y)
    return rule, cache, e, rule.backward(net, cache, e.copy(), y).deltas


def _algo(name: str, **cfg):
    return Workload(name="t", network={"layers": [784, 10]}, algorithms=[{"name": name, **cfg}]).algorithms[0]


def _mnist(limit_train: int, limit_test: int):
    folder = Path(os.environ.get("NEUROSIM_DATA_DIR", Path(__file__).resolve().parents[2] / "shared/data/mnist-10k"))
    if not (folder / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST not found in {folder}")

    def read(name: str, offset: int) -> np.ndarray:
        with gzip.open(folder / name) as fh:
            return np.frombuffer(fh.read(), dtype=np.uint8, offset=offset)

    def images(name: str, limit: int) -> np.ndarray:
        return (read(name, 16).reshape(-1, 784)[:limit] / np.float32(255)).astype(np.float32)

    return (
        images("train-images-idx3-ubyte.gz", limit_train),
        read("train-labels-idx1-ubyte.gz", 8)[:limit_train].astype(np.int64),
        images("t10k-images-idx3-ubyte.gz", limit_test),
        read("t10k-labels-idx1-ubyte.gz", 8)[:limit_test].astype(np.int64),
    )


def _workload(algorithms, epochs=1, batch=32, lr=0.3, seed=0, layers=(784, 64, 64, 10)) -> Workload:
    return Workload(
        name="test",
        seed=seed,
        network={"layers": list(layers)},
        training={"epochs": epochs, "batch_size": batch, "optimizer": {"name": "sgd", "learning_rate": lr}},
        algorithms=algorithms,
    )


# --------------------------------------------------------------------------- gradients and rules


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_bp_gradient_matches_finite_differences(activation: str) -> None:
    net = _net(activation)
    x, y = _batch()
    _, cache, _, deltas = _rule_deltas("bp", net, x, y)
    ws = [w.astype(np.float64) for w in _weights(net)]
    bs = [b.astype(np.float64) for b in _biases(net)]
    eps = 1e-6
    for layer, (delta, h_in) in enumerate(zip(deltas, _inputs(net, cache))):
        for params, analytic in ((ws[layer], delta.T @ h_in / len(y)), (bs[layer], delta.mean(axis=0))):
            numeric = np.zeros_like(params)
            for i in np.ndindex(params.shape):
                old = params[i]
                params[i] = old + eps
                up = _loss64(ws, bs, x, y, activation)
                params[i] = old - eps
                down = _loss64(ws, bs, x, y, activation)
                params[i] = old
                numeric[i] = (up - down) / (2 * eps)
            np.testing.assert_allclose(analytic, numeric, rtol=1e-3, atol=1e-5)


def _reference_deltas(net: Network, x: np.ndarray, e: np.ndarray, signal: np.ndarray, feedback, chain: bool):
    """Hand-written δ_1..δ_{L-1}: chain (BP/FA) through ``feedback[l]`` or direct ``signal feedback[l]ᵀ``."""
    a, _ = _forward64(_weights(net), _biases(net), x, "tanh")
    deltas = [e.astype(np.float64)]
    for layer in range(len(net.weight_layers) - 1, 0, -1):
        g = deltas[0] @ feedback[layer] if chain else signal @ feedback[layer - 1].T
        deltas.insert(0, g * _df64(a[layer - 1], "tanh"))
    return deltas[:-1]


@pytest.mark.parametrize("name", ["bp", "fa", "dfa", "sign_dfa", "drtp", "sdfa"])
def test_rule_deltas_match_numpy(name: str) -> None:
    net = _net()
    x, y = _batch()
    rule, _, e, deltas = _rule_deltas(name, net, x, y)
    onehot = np.eye(TINY[-1])[y]
    if name == "bp":
        ref = _reference_deltas(net, x, e, e, [None] + _weights(net)[1:], chain=True)
    elif name == "fa":
        ref = _reference_deltas(net, x, e, e, [None] + [rule.chain_feedback[i] for i in (1, 2)], chain=True)
    elif name == "sdfa":
        dense = []
        for idx, val in ((rule.direct[i].idx, rule.direct[i].matrix) for i in (0, 1)):
            b = np.zeros((idx.shape[0], TINY[-1]))
            b[np.arange(idx.shape[0])[:, None], idx] = val
            dense.append(b)
        ref = _reference_deltas(net, x, e, e, dense, chain=False)
    else:
        signal = {"dfa": e, "sign_dfa": np.sign(e), "drtp": onehot}[name]
        ref = _reference_deltas(net, x, e, signal, [rule.direct[i].matrix for i in (0, 1)], chain=False)
    assert len(deltas) == len(net.weight_layers)
    np.testing.assert_array_equal(deltas[-1], e)
    for got, want in zip(deltas[:-1], ref):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_fdfa_feedback_update_matches_numpy() -> None:
    net = _net()
    x, y = _batch()
    rule, cache, e, deltas = _rule_deltas("fdfa", net, x, y, feedback_rate=0.25)
    # B starts at 0, so before any feedback learning the hidden errors vanish.
    assert all(not d.any() for d in deltas[:-1])
    for fb in rule.direct.values():
        fb.matrix[...] = 0.5
    before = [rule.direct[i].matrix.astype(np.float64) for i in (0, 1)]
    rng = copy.deepcopy(rule.sample_rng)
    rule.learn_feedback(net, cache)
    ws = _weights(net)
    a, _ = _forward64(ws, _biases(net), x, "tanh")
    us = [rng.standard_normal((len(y), n), dtype=np.float32).astype(np.float64) for n in TINY[1:-1]]
    t = us[0]
    for layer in range(2, len(ws)):
        t = (t @ ws[layer - 1].T) * _df64(a[layer - 1], "tanh") + us[layer - 1]
    d = t @ ws[-1].T
    feedback = [rule.direct[i].matrix for i in (0, 1)]
    for got, b0, u in zip(feedback, before, us):
        np.testing.assert_allclose(got, 0.75 * b0 + 0.25 * u.T @ d / len(y), rtol=1e-4, atol=1e-6)
    ref = _reference_deltas(net, x, e, e, feedback, chain=False)
    for got, want in zip(rule.backward(net, cache, e.copy(), y).deltas[:-1], ref):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_fdfa_feedback_estimates_the_output_jacobian() -> None:
    """With many copies of one sample and rate 1, ``B_l`` ≈ (∂z/∂h_l)ᵀ (the estimate is unbiased)."""
    net = _net()
    x, _ = _batch(n=1)
    copies = np.repeat(x, 20000, axis=0)
    rule = make_rule(_algo("fdfa", feedback_rate=1.0), net, 3)
    rule.learn_feedback(net, net.forward(copies))
    ws = _weights(net)
    a, _ = _forward64(ws, _biases(net), x, "tanh")
    # ∂z/∂h_l = W_L diag(f'(a_{L-1})) W_{L-1} ... W_{l+1}
    jac = ws[-1].astype(np.float64)
    expected = [None] * (len(ws) - 1)
    for layer in range(len(ws) - 1, 0, -1):
        expected[layer - 1] = jac.T
        jac = (jac * _df64(a[layer - 1], "tanh")[0]) @ ws[layer - 1]
    for got, want in zip([rule.direct[i].matrix for i in (0, 1)], expected):
        np.testing.assert_allclose(got, want, atol=0.05 * np.abs(want).max() + 0.03)


@pytest.mark.parametrize("n,classes,s", [(800, 10, 1), (800, 10, 3), (37, 10, 1), (37, 10, 4), (5, 10, 2), (13, 3, 3)])
def test_sparse_connectivity_is_balanced(n: int, classes: int, s: int) -> None:
    idx = sparse_connectivity(n, classes, s, np.random.default_rng(0))
    assert idx.shape == (n, s)
    assert all(len(set(row)) == s for row in idx.tolist())
    counts = np.bincount(idx.ravel(), minlength=classes)
    assert counts.sum() == n * s and counts.max() - counts.min() <= 1


def test_sdfa_rows_have_exactly_s_nonzeros() -> None:
    net = _net(layers=[6, 40, 30, 10])
    rule = make_rule(_algo("sdfa", fanin=2), net, 0)
    for idx, val, n in ((rule.direct[0].idx, rule.direct[0].matrix, 40), (rule.direct[1].idx, rule.direct[1].matrix, 30)):
        b = np.zeros((n, 10))
        b[np.arange(n)[:, None], idx] = val
        assert (np.count_nonzero(b, axis=1) == 2).all()
        assert np.abs(val).max() <= 1.0 / np.sqrt(2)


# --------------------------------------------------------------------------- optimizers


def test_optimizers_match_numpy() -> None:
    rng = np.random.default_rng(0)
    p0 = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
    grads = [[rng.standard_normal(p.shape).astype(np.float32) for p in p0] for _ in range(2)]
    lr, mu, b1, b2, eps = 0.1, 0.9, 0.8, 0.99, 1e-8

    def run(name: str) -> list[np.ndarray]:
        params = [p.copy() for p in p0]
        opt = make_optimizer(OptimizerConfig(name=name, learning_rate=lr, momentum=mu, beta1=b1, beta2=b2), params)
        for g in grads:
            opt.step(g)
        return params

    sgd = [p - lr * grads[0][i] - lr * grads[1][i] for i, p in enumerate(p0)]
    mom = [p - lr * g0 - lr * (mu * g0 + g1) for p, g0, g1 in zip(p0, *grads)]
    adam = []
    for i, p in enumerate(p0):
        p, m, v = p.astype(np.float64), 0.0, 0.0
        for t, g in enumerate((grads[0][i], grads[1][i]), start=1):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        adam.append(p)
    for name, ref in (("sgd", sgd), ("momentum", mom), ("adam", adam)):
        for got, want in zip(run(name), ref):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- trainer


def _random_data(n_train=300, n_test=50, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.random((n_train, 784), dtype=np.float32),
        rng.integers(0, 10, n_train),
        rng.random((n_test, 784), dtype=np.float32),
        rng.integers(0, 10, n_test),
    )


@pytest.mark.parametrize("name", ["bp", "fdfa", "sdfa"])
def test_same_seed_is_bit_identical(name: str) -> None:
    data = _random_data()
    wl = _workload([name], epochs=2, batch=19)
    first, second = train(wl, wl.algorithms[0], *data), train(wl, wl.algorithms[0], *data)
    assert first.history == second.history
    for layer in first.weights:
        np.testing.assert_array_equal(first.weights[layer], second.weights[layer])
        np.testing.assert_array_equal(first.biases[layer], second.biases[layer])
    other = _workload([name], epochs=2, batch=19, seed=1)
    assert not np.array_equal(train(other, other.algorithms[0], *data).weights["fc1"], first.weights["fc1"])


def test_train_result_shape_and_progress() -> None:
    data = _random_data(n_train=100)
    wl = _workload(["bp", "dfa"], epochs=2, batch=32)
    calls: list[tuple[int, int, float]] = []
    result = train(wl, wl.algorithm("dfa"), *data, progress=lambda s, t, acc: calls.append((s, t, acc)))
    assert isinstance(result, TrainResult) and result.algorithm == "dfa"
    assert result.steps == 8 and [c[:2] for c in calls] == [(s, 8) for s in range(1, 9)]
    # the running accuracy at an epoch's last step is the epoch's train accuracy
    assert [calls[3][2], calls[7][2]] == [r.train_accuracy for r in result.history]
    assert [r.epoch for r in result.history] == [1, 2]
    assert result.final_test_accuracy == result.history[-1].test_accuracy
    record = result.history[-1]
    assert isinstance(record, EpochRecord) and set(record.alignment_deg) == {"fc1", "fc2"}
    assert all(0.0 <= v <= 180.0 for v in record.alignment_deg.values())
    assert {k: w.shape for k, w in result.weights.items()} == {"fc1": (64, 784), "fc2": (64, 64), "fc3": (10, 64)}
    assert train(wl, wl.algorithm("bp"), *data).history[0].alignment_deg == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.steps = 0  # type: ignore[misc]


def test_bp_alignment_with_itself_is_zero() -> None:
    from neurosim.learning import alignment_deg

    net = _net()
    x, y = _batch(n=8)
    fa_like = make_rule(_algo("fa", feedback_scale=1.0), net, 0)
    fa_like.chain_feedback = {i: w for i, w in enumerate(_weights(net)) if i}  # FA with B = W is BP
    assert all(v == pytest.approx(0.0, abs=1e-3) for v in alignment_deg(net, fa_like, x, y).values())
    assert alignment_deg(net, bp_rule(net), x, y) == {}


@pytest.mark.parametrize("name", ["bp", "dfa", "sdfa"])
def test_short_mnist_run_learns(name: str) -> None:
    x_train, y_train, x_test, y_test = _mnist(3000, 1000)
    wl = _workload([name], epochs=2, lr=0.1, layers=(784, 256, 256, 10))
    result = train(wl, wl.algorithms[0], x_train, y_train, x_test, y_test)
    assert result.steps == 2 * 94
    assert result.final_test_accuracy > 0.8, result.history
    assert result.history[-1].loss < result.history[0].loss


def test_rule_learning_rate_overrides_the_optimizer() -> None:
    data = _random_data(n_train=100)
    own = _workload([{"name": "dfa", "learning_rate": 0.05}], lr=0.3)
    same = _workload(["dfa"], lr=0.05)
    other = _workload(["dfa"], lr=0.3)
    result = train(own, own.algorithms[0], *data)
    np.testing.assert_array_equal(result.weights["fc1"], train(same, same.algorithms[0], *data).weights["fc1"])
    assert not np.array_equal(result.weights["fc1"], train(other, other.algorithms[0], *data).weights["fc1"])


def test_results_do_not_depend_on_the_blas_thread_count() -> None:
    # Unpinned, OpenBLAS rounds these products differently with 1 and 2 threads.
    from threadpoolctl import threadpool_limits

    data = _random_data(n_train=256)
    wl = _workload(["bp"], layers=(784, 256, 256, 10))
    weights = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            weights.append(train(wl, wl.algorithms[0], *data).weights["fc1"])
    np.testing.assert_array_equal(weights[0], weights[1])
