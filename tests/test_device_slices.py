"""Several cells per weight (crossbar.cells_per_weight > 1 with numerics: device):
significance-weighted cells, updates into the lowest-order cell, carried up — against
a NumPy reference on linear cells."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.config.base import load_model
from neurosim.config.hw import HwConfig
from neurosim.config.workload import Workload
from neurosim.data import load_dataset
from neurosim.learning import train
from neurosim.learning.device import CrossbarDevice

from .conftest import REPO

HW_DEVICE = REPO / "hwconfigs" / "rram_tile_device.yaml"
LINEAR = dict(nonlinearity_ltp=0.0, nonlinearity_ltd=0.0, c2c_sigma=0.0, levels_ltp=100, levels_ltd=100, weight_max=1.0)


def _hw(cells: int, **device) -> HwConfig:
    hw = load_model(HW_DEVICE, HwConfig)
    return hw.model_copy(update={"device": hw.device.model_copy(update={**LINEAR, **device}),
                                 "crossbar": hw.crossbar.model_copy(update={"cells_per_weight": cells})})


class _Net:
    """The two attributes program_weights reads."""

    def __init__(self, w: np.ndarray):
        layer = type("L", (), {})()
        layer.name, layer.weight = "fc1", w
        layer.shape = type("S", (), {"kind": "dense"})()
        self.weight_layers = [layer]


def _reference(w0: np.ndarray, deltas: list[np.ndarray], carry_every: int, sig: float, levels: int = 100):
    """Linear cells at g_ref = ½: cell k spans ±w_k = sig^k / Σ sig^j; returns the weights and pulses."""
    ranges = [sig**k / (1 + sig) for k in range(2)]
    g = [np.full(w0.shape, 0.5), np.clip(w0 / (2 * ranges[1]) + 0.5, 0, 1)]
    g[0] = np.clip((w0 - ranges[1] * (2 * g[1] - 1)) / (2 * ranges[0]) + 0.5, 0, 1)
    weight = lambda k: ranges[k] * (2 * g[k] - 1)  # noqa: E731
    pulses = 0
    for step, d in enumerate(deltas, start=1):
        n = np.floor(np.abs(d.astype(np.float64)) / (2 * ranges[0]) * levels + 0.5) * np.sign(d)
        pulses += int(np.abs(n).sum())
        g[0] = np.clip(g[0] + n / levels, 0, 1)
        if step % carry_every == 0:
            move = weight(0)
            n = np.floor(np.abs(move) / (2 * ranges[1]) * levels + 0.5) * np.sign(move)
            pulses += int(np.abs(n).sum())
            g[1] = np.clip(g[1] + n / levels, 0, 1)
            pulses += int(np.floor(np.abs(g[0] - 0.5) * levels + 0.5).sum())  # the reset of the lower cell
            g[0] = np.full(w0.shape, 0.5)
    return weight(0) + weight(1), pulses


def test_two_cells_against_numpy() -> None:
    rng = np.random.default_rng(7)
    w0 = rng.uniform(-0.9, 0.9, (6, 5)).astype(np.float32)
    deltas = [rng.normal(0, 0.01, w0.shape).astype(np.float32) for _ in range(7)]
    # F = 3.7: a carry is never an exact half pulse of the upper cell (with F = 4 and equal
    # levels two lower pulses are one half upper pulse, and float32 rounding decides the tie)
    dev = CrossbarDevice(_hw(2, significance=3.7, carry_every_steps=3), np.random.SeedSequence(0))
    assert dev.slice_w_max == pytest.approx([1 / 4.7, 3.7 / 4.7])
    w = w0.copy()
    dev.program_weights(_Net(w))
    np.testing.assert_allclose(w, w0, atol=1e-6)  # written exactly, split over the two cells
    for d in deltas:
        w += d
        dev.write([w])
    ref, pulses = _reference(w0, deltas, 3, 3.7)
    np.testing.assert_allclose(w, ref, atol=2e-5)
    (stats,) = dev.stats()
    assert stats.layer == "fc1" and stats.cells == 2 * w0.size
    assert round(stats.pulses_per_step * stats.steps) == pulses


def test_lower_cell_gives_finer_steps_than_one_cell() -> None:
    """An update of a tenth of one cell's pulse is lost on one cell, kept on the lowest of two."""
    w0 = np.zeros((2, 3), dtype=np.float32)
    small = np.full(w0.shape, 0.006, dtype=np.float32)  # one cell: pulse 0.02, lowest of two (F 4): 0.004
    for cells, moved in ((1, False), (2, True)):
        dev = CrossbarDevice(_hw(cells, carry_every_steps=1000), np.random.SeedSequence(0))
        w = w0.copy()
        dev.program_weights(_Net(w))
        w += small
        dev.write([w])
        assert (np.abs(w).max() > 0) == moved


def test_reads_add_every_cell() -> None:
    """The forward read of a two-cell layer equals the sum of each cell's own quantised read."""
    dev = CrossbarDevice(_hw(2, carry_every_steps=5), np.random.SeedSequence(0))
    rng = np.random.default_rng(8)
    w = rng.uniform(-0.5, 0.5, (4, 300)).astype(np.float32)
    dev.program_weights(_Net(w))
    x = rng.uniform(0, 1, (3, 300)).astype(np.float32)
    got = dev.mvm(0, x)
    parts = dev._read(dev.layers[0], x) + dev._read(dev.upper[0][0], x)
    np.testing.assert_array_equal(got, parts)
    assert np.abs(got - x @ w.T).max() < 0.05 * np.abs(x @ w.T).max()


def test_two_cells_train_a_small_net(mnist_dir) -> None:
    wl = Workload.model_validate({
        "name": "tiny", "seed": 0, "dataset": {"name": "mnist", "train_limit": 1000, "test_limit": 500},
        "network": {"layers": [784, 32, 10], "activation": "tanh"},
        "training": {"epochs": 2, "batch_size": 8, "optimizer": {"name": "sgd", "learning_rate": 0.1}},
        "algorithms": ["bp"],
    })
    data = load_dataset(wl.dataset)
    accuracy = {}
    for cells in (1, 2):  # 16-level linear cells, exact 12-bit reads, carry once per epoch
        hw = _hw(cells, weight_max=0.25, adc_full_scale=1.0, levels_ltp=16, levels_ltd=16)
        hw = hw.model_copy(update={"crossbar": hw.crossbar.model_copy(update={"adc_bits": 12})})
        res = train(wl, wl.algorithm("bp"), data.x_train, data.y_train, data.x_test, data.y_test, hw=hw)
        accuracy[cells] = res.final_test_accuracy
        assert res.device_writes[0].cells == cells * 784 * 32
    assert accuracy[1] < 0.3  # one 16-level cell: BP's updates round to zero pulses
    assert accuracy[2] > 0.6  # the lowest of two cells has 5x finer pulses (F = 4): it learns


def test_differential_needs_one_cell() -> None:
    hw = load_model(HW_DEVICE, HwConfig).model_dump(mode="json")
    bad = dict(hw, crossbar=dict(hw["crossbar"], cells_per_weight=2),
               device=dict(hw["device"], mapping="differential", reference="mid"))
    with pytest.raises(ValueError, match="cells_per_weight must be 1"):
        HwConfig.model_validate(bad)
