"""The trainer's fused kernels against NumPy references: the one-sgemm SGD step of a dense
layer and the float64 sums of the alignment's figures (estimator, per-sample cosines); and the trainer's fused
SGD path against the unfused one (same run up to rounding, bit-identical run to run)."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim import kernels as K
from neurosim.config.workload import Workload
from neurosim.kernels.stats import estimator_sums, row_sums
from neurosim.learning import train

SHAPES = [(1, 1, 1), (1, 7, 3), (5, 13, 11), (32, 784, 33), (17, 9, 800), (32, 800, 800)]  # (batch, n_in, n_out)


def _rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("batch,n_in,n_out", SHAPES)
def test_dense_sgd_update_matches_numpy(batch: int, n_in: int, n_out: int) -> None:
    rng = np.random.default_rng(batch * 7 + n_in + n_out)
    delta, x = _rand(rng, batch, n_out), _rand(rng, batch, n_in)
    w, b = _rand(rng, n_out, n_in), _rand(rng, n_out)
    lr = 0.3
    want_w = w.astype(np.float64) - lr * (delta.astype(np.float64).T @ x.astype(np.float64)) / batch
    want_b = b.astype(np.float64) - lr * delta.astype(np.float64).mean(axis=0)
    w_before = w
    K.dense_sgd_update(delta, x, w, b, lr)
    assert w is w_before and w.dtype == np.float32 and w.flags.c_contiguous  # in place
    np.testing.assert_allclose(w, want_w, rtol=1e-5, atol=1e-5 * np.sqrt(batch))
    np.testing.assert_allclose(b, want_b, rtol=1e-5, atol=1e-6)


def test_dense_sgd_update_bias_is_the_unfused_step_bit_for_bit() -> None:
    rng = np.random.default_rng(4)
    delta, x = _rand(rng, 32, 50), _rand(rng, 32, 20)
    w, b = _rand(rng, 50, 20), _rand(rng, 50)
    b_ref = b.copy()
    K.sgd_step(b_ref, K.weight_grad(delta, x)[1], 0.1)
    K.dense_sgd_update(delta, x, w, b, 0.1)
    np.testing.assert_array_equal(b, b_ref)


def test_dense_sgd_update_refuses_a_weight_it_cannot_write() -> None:
    rng = np.random.default_rng(5)
    delta, x = _rand(rng, 4, 6), _rand(rng, 4, 5)
    w = np.asfortranarray(_rand(rng, 6, 5))
    with pytest.raises(ValueError, match="C-contiguous float32"):
        K.dense_sgd_update(delta, x, w, _rand(rng, 6), 0.1)


@pytest.mark.parametrize("draws,size", [(1, 1), (1, 1000), (3, 17), (8, 5000)])
def test_estimator_sums_match_numpy(draws: int, size: int) -> None:
    rng = np.random.default_rng(draws * size)
    hats, g = _rand(rng, draws, size), _rand(rng, size)
    gg, hh, hg, dd, spread = estimator_sums(hats, g)
    h64, g64 = hats.astype(np.float64), g.astype(np.float64)
    assert gg == pytest.approx(g64 @ g64, rel=1e-12)
    np.testing.assert_allclose(hh, (h64**2).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(hg, h64 @ g64, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dd, ((h64 - g64) ** 2).sum(axis=1), rtol=1e-12)
    assert spread == pytest.approx(((h64 - h64.mean(axis=0)) ** 2).sum(), rel=1e-10, abs=1e-12)
    if draws == 1:
        assert spread == 0.0


@pytest.mark.parametrize("rows,size", [(1, 1), (7, 13), (256, 800)])
def test_row_sums_match_numpy(rows: int, size: int) -> None:
    rng = np.random.default_rng(rows + size)
    u, v = _rand(rng, rows, size), _rand(rng, rows, size)
    u[0] = 0.0
    uu, vv, uv = row_sums(u, v)
    u64, v64 = u.astype(np.float64), v.astype(np.float64)
    np.testing.assert_allclose(uu, (u64**2).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(vv, (v64**2).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(uv, (u64 * v64).sum(axis=1), rtol=1e-10, atol=1e-10)
    assert uu[0] == 0.0 and uv[0] == 0.0


def _workload(optimizer: str) -> Workload:
    return Workload(
        name="fused",
        seed=1,
        network={"layers": [784, 48, 32, 10]},
        training={"epochs": 1, "batch_size": 32, "optimizer": {"name": optimizer, "learning_rate": 0.3}},
        dataset={"name": "mnist", "train_limit": 640, "test_limit": 200},
        algorithms=["bp", "dfa", {"name": "sdfa", "fanin": 1}],
    )


@pytest.mark.parametrize("rule", [0, 1, 2])
def test_fused_sgd_training_tracks_the_unfused_step(rule: int, mnist_dir, monkeypatch) -> None:
    """The trainer's plain-SGD path (one sgemm into W per layer) against the Optimizer path,
    forced by making the SGD optimizer look like another class: the same run up to rounding."""
    from neurosim.data import load_dataset
    from neurosim.learning import optim, trainer

    wl = _workload("sgd")
    data = load_dataset(wl.dataset)
    args = (wl, wl.algorithms[rule], data.x_train, data.y_train, data.x_test, data.y_test)
    fused = train(*args)
    again = train(*args)

    class Unfused(optim.SGD):
        """Plain SGD through :meth:`Optimizer.step` (the trainer fuses only ``type(...) is SGD``)."""

    monkeypatch.setattr(trainer, "make_optimizer", lambda cfg, params, layers=None: Unfused(params, cfg.learning_rate))
    unfused = train(*args)
    for name in fused.weights:
        np.testing.assert_array_equal(fused.weights[name], again.weights[name])  # deterministic
        np.testing.assert_allclose(fused.weights[name], unfused.weights[name], rtol=0, atol=1e-6)
        np.testing.assert_allclose(fused.biases[name], unfused.biases[name], rtol=0, atol=1e-6)
    assert fused.history[-1].loss == pytest.approx(unfused.history[-1].loss, rel=1e-6)
