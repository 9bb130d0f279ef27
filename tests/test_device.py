"""Device numerics (numerics: device): kernels against NumPy references, the
ideal switch, and each non-ideality's effect on a small net."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.config.base import load_model
from neurosim.config.hw import HwConfig
from neurosim.config.workload import Workload
from neurosim.data import load_dataset
from neurosim.errors import ConfigError
from neurosim.kernels.device import block_mvm, block_weights, curve, curve_inverse, dac_quantise, plain_mvm, pulse_update
from neurosim.learning import train
from neurosim.learning.device import CrossbarDevice, curve_np, shape_from_label
from neurosim.learning.trainer import _train
from neurosim.pipeline import device_write_records

from .conftest import REPO

HW_DEVICE = REPO / "hwconfigs" / "rram_tile_device.yaml"


def _hw(**device) -> HwConfig:
    hw = load_model(HW_DEVICE, HwConfig)
    return hw.model_copy(update={"device": hw.device.model_copy(update=device)})


# --------------------------------------------------------------------------- curve and label


@pytest.mark.parametrize(
    "label, shape",
    # NeuroSim's normalised A for these labels (MLP_NeuroSim_V3.0 formula.cpp getParamA table)
    [(0.01, 126.268958), (1.0, 1.251653), (2.4, 0.499181), (4.88, 0.200303), (9.0, 0.02281)],
)
def test_shape_from_label_matches_neurosim_table(label: float, shape: float) -> None:
    assert float(shape_from_label(label)) == pytest.approx(shape, rel=2e-3)


@pytest.mark.parametrize("a", [0.0, 0.5, -0.2, 3.0])
def test_curve_and_inverse(a: float) -> None:
    p = np.linspace(0, 1, 11)
    g = curve_np(p, a)
    assert g[0] == pytest.approx(0.0, abs=1e-12) and g[-1] == pytest.approx(1.0)
    assert np.all(np.diff(g) > 0)
    for pi, gi in zip(p, g):
        assert curve(pi, a) == pytest.approx(gi, rel=1e-12, abs=1e-12)
        assert curve_inverse(gi, a) == pytest.approx(pi, abs=1e-9)


# --------------------------------------------------------------------------- read path


def test_dac_quantise_against_numpy() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.5, 1.5, (5, 7)).astype(np.float32)
    scale = np.array([1.0, 0.5, 2.0, 1.0, 1.0], dtype=np.float32)
    for bits in (1, 3, 8):
        levels = 2**bits - 1
        m = np.minimum(np.abs(x) / scale[:, None], 1.0)
        ref = np.sign(x) * np.floor(m * levels + 0.5) / levels * scale[:, None]
        np.testing.assert_allclose(dac_quantise(x, scale, bits), ref, rtol=1e-6, atol=1e-7)


def test_block_mvm_adc_against_numpy() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (4, 10)).astype(np.float32)
    w = rng.uniform(-1, 1, (3, 10)).astype(np.float32)
    lsb = np.array([0.25, 0.5, 0.1, 1.0], dtype=np.float32)
    bits = 4
    ref = np.zeros((4, 3))
    for start in range(0, 10, 4):
        part = x[:, start : start + 4].astype(np.float64) @ w[:, start : start + 4].T
        code = np.clip(np.floor(part / lsb[:, None] + 0.5), -8, 7)
        ref += code * lsb[:, None]
    np.testing.assert_allclose(block_mvm(x, block_weights(w, 4), lsb, bits), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(plain_mvm(x, w), x.astype(np.float64) @ w.T, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- pulse update


def _pulse_reference(w, w_eff, g, a_ltp, a_ltd, frozen, levels_ltp, levels_ltd, w_max, differential):
    """Cell-by-cell NumPy reference of pulse_update without C2C."""
    g = g.copy()
    pulses = np.zeros(g.shape, dtype=np.int64)
    new = w_eff.astype(np.float64).copy()
    for j, k in np.ndindex(w.shape):
        dw = float(w[j, k]) - float(w_eff[j, k])
        if differential:
            side, levels, ltp = (0 if dw > 0 else 1), levels_ltp, True
            n = int(np.floor(abs(dw) / w_max * levels + 0.5))
        else:
            side, ltp = 0, dw > 0
            levels = levels_ltp if ltp else levels_ltd
            n = int(np.floor(abs(dw) / (2 * w_max) * levels + 0.5))
        if n == 0:
            continue
        pulses[side, j, k] = n
        if not frozen[side, j, k]:
            a = (a_ltp if ltp else a_ltd)[side, j, k] if a_ltp.size > 1 else (a_ltp if ltp else a_ltd)[0, 0, 0]
            norm = 1 - np.exp(-1 / a)
            p = -a * np.log(1 - g[side, j, k] * norm) + (n if ltp else -n) / levels
            p = min(max(p, 0.0), 1.0)
            g[side, j, k] = (1 - np.exp(-p / a)) / norm
        new[j, k] = w_max * (g[0, j, k] - g[1, j, k]) if differential else w_max * (2 * g[0, j, k] - 1)
    return new, g, pulses


@pytest.mark.parametrize("differential", [False, True])
@pytest.mark.parametrize("per_cell", [False, True])  # one shared curve: the closed-form step; per cell: log/exp
@pytest.mark.parametrize("shape, sparse", [((6, 9), False), ((5, 100), True), ((70, 40), False)])  # bit masks; row chunks
def test_pulse_update_against_numpy(differential: bool, per_cell: bool, shape: tuple[int, int], sparse: bool) -> None:
    rng = np.random.default_rng(2)
    sides = 2 if differential else 1
    g = rng.uniform(0, 1, (sides,) + shape)
    a_ltp = rng.uniform(0.3, 2.0, g.shape) if per_cell else np.full((1, 1, 1), 0.35)
    a_ltd = -rng.uniform(0.1, 1.0, g.shape) if per_cell else np.full((1, 1, 1), -0.2)
    frozen = rng.random(g.shape) < 0.2
    w_max = 0.8
    w_eff = (w_max * (g[0] - g[1]) if differential else w_max * (2 * g[0] - 1)).astype(np.float32)
    change = rng.normal(0, 0.05, shape) * (rng.random(shape) < 0.1 if sparse else 1.0)  # sparse: most cells stay
    w = (w_eff + change).astype(np.float32)
    ref_w, ref_g, ref_pulses = _pulse_reference(w, w_eff, g, a_ltp, a_ltd, frozen, 50, 60, w_max, differential)
    gk, wk, effk, tk = g.copy(), w.copy(), w_eff.copy(), block_weights(w_eff, 4)
    pulses = np.zeros(g.shape, dtype=np.int64)
    row_max = np.zeros((shape[1], 2), dtype=np.int64)
    ltp, ltd, written = pulse_update(wk, effk, tk, gk, a_ltp, a_ltd, frozen.copy(), pulses, 50, 60, w_max, 0.0, differential, 0, row_max, 1)
    np.testing.assert_array_equal(pulses, ref_pulses)
    np.testing.assert_allclose(gk, ref_g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wk, ref_w, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(wk, effk)
    np.testing.assert_array_equal(tk, block_weights(effk, 4))
    assert ltp + ltd == ref_pulses.sum() and written == np.count_nonzero(ref_pulses)
    assert row_max.sum(axis=1).max() <= ref_pulses.sum(axis=(0, 1)).max() + ref_pulses.max()


def test_c2c_spread_and_endurance() -> None:
    """One linear pulse from g = 0.5: the spread of g is c2c; an endurance of 1 freezes cells."""
    n = 20000
    g = np.full((1, 1, n), 0.5)
    w_eff = np.zeros((1, n), dtype=np.float32)
    w = np.full((1, n), 2.0 / 100 + 1e-4, dtype=np.float32)  # one LTP pulse (w_max 1, 100 levels)
    shared = np.zeros((1, 1, 1))
    frozen = np.zeros((1, 1, n), dtype=np.bool_)
    pulses = np.zeros((1, 1, n), dtype=np.int64)
    pulse_update(w, w_eff, block_weights(w_eff, 128), g, shared, shared, frozen, pulses, 100, 100, 1.0, 0.05, False, 1, np.zeros((n, 2), dtype=np.int64), 12345)
    assert np.mean(g) == pytest.approx(0.51, abs=2e-3)
    assert np.std(g) == pytest.approx(0.05, rel=0.05)
    assert frozen.all() and (pulses == 1).all()
    before = g.copy()
    w2 = w + np.float32(0.1)
    pulse_update(w2, w_eff, block_weights(w_eff, 128), g, shared, shared, frozen, pulses, 100, 100, 1.0, 0.05, False, 1, np.zeros((n, 2), dtype=np.int64), 12346)
    np.testing.assert_array_equal(g, before)


# --------------------------------------------------------------------------- training


def _workload(epochs: int = 2, batch: int = 8, lr: float = 0.1) -> Workload:
    return Workload.model_validate(
        {
            "name": "tiny",
            "seed": 0,
            "dataset": {"name": "mnist", "train_limit": 1000, "test_limit": 500},
            "network": {"layers": [784, 32, 10], "activation": "tanh"},
            "training": {"epochs": epochs, "batch_size": batch, "optimizer": {"name": "sgd", "learning_rate": lr}},
            "algorithms": ["bp", "dfa"],
        }
    )


def test_config_errors() -> None:
    hw = load_model(HW_DEVICE, HwConfig).model_dump(mode="json")
    bad = dict(hw, device=None)
    with pytest.raises(ValueError, match="device section is required"):
        HwConfig.model_validate(bad)
    bad = dict(hw, crossbar=dict(hw["crossbar"], cells_per_weight=4), device=dict(hw["device"], mapping="differential", reference="mid"))
    with pytest.raises(ValueError, match="cells_per_weight must be 1"):
        HwConfig.model_validate(bad)
    bad = dict(hw, device=dict(hw["device"], nonlinearity_ltp=12.0))
    with pytest.raises(ValueError, match="above 9"):
        HwConfig.model_validate(bad)


def test_ideal_numerics_and_switched_off_device_are_bit_identical(mnist_dir) -> None:
    wl = _workload()
    data = load_dataset(wl.dataset)
    args = (data.x_train, data.y_train, data.x_test, data.y_test)
    ideal = load_model(REPO / "hwconfigs" / "rram_tile.yaml", HwConfig)
    for name in ("bp", "dfa"):
        base = train(wl, wl.algorithm(name), *args)
        same = train(wl, wl.algorithm(name), *args, hw=ideal)
        off = CrossbarDevice(_hw(), np.random.SeedSequence(0), programmed=False, quantised_reads=False)
        dev = _train(wl, wl.algorithm(name), *args, None, off)
        for other in (same, dev):
            assert [h.test_accuracy for h in other.history] == [h.test_accuracy for h in base.history]
            for layer in base.weights:
                np.testing.assert_array_equal(other.weights[layer], base.weights[layer])


BENIGN = dict(
    levels_ltp=2000, levels_ltd=2000, nonlinearity_ltp=0.0, nonlinearity_ltd=0.0, c2c_sigma=0.0, adc_full_scale=1.0
)


def _benign(**change) -> HwConfig:
    """Many linear levels, no variation, a 12-bit ADC: trains like the ideal trainer."""
    hw = _hw(**{**BENIGN, **change})
    return hw.model_copy(update={"crossbar": hw.crossbar.model_copy(update={"adc_bits": 12})})


def _acc(hw: HwConfig, data, lr: float = 0.1) -> float:
    wl = _workload(lr=lr)
    return train(wl, wl.algorithm("bp"), data.x_train, data.y_train, data.x_test, data.y_test, hw=hw).final_test_accuracy


@pytest.mark.parametrize(
    "change",
    [
        {"levels_ltp": 16, "levels_ltd": 16},
        {"nonlinearity_ltp": 8.0, "nonlinearity_ltd": 8.0},
        {"c2c_sigma": 0.3},
        {"read_noise_sigma": 2.0},
        {"stuck_at_min_fraction": 0.3, "stuck_at_max_fraction": 0.3},
        {"endurance_pulses": 2},
        {"adc_bits": 3},
    ],
)
def test_each_nonideality_lowers_accuracy(mnist_dir, change: dict) -> None:
    data = load_dataset(_workload().dataset)
    good = _benign()
    device = {k: v for k, v in change.items() if k != "adc_bits"}
    bad = _benign(**device)
    if "adc_bits" in change:
        bad = bad.model_copy(update={"crossbar": bad.crossbar.model_copy(update={"adc_bits": change["adc_bits"]})})
    good_acc, bad_acc = _acc(good, data), _acc(bad, data)
    assert good_acc > 0.75
    assert bad_acc < good_acc - 0.03


def test_pulse_records_replace_one_write_per_cell(mnist_dir) -> None:
    wl = _workload(epochs=1)
    data = load_dataset(wl.dataset)
    hw = _benign()
    res = train(wl, wl.algorithm("bp"), data.x_train, data.y_train, data.x_test, data.y_test, hw=hw)
    assert [s.layer for s in res.device_writes] == ["fc1", "fc2"]
    steps = -(-1000 // 8)
    for s in res.device_writes:
        assert s.steps == steps
        assert 0 < s.cells_written_per_step <= s.cells
        assert s.pulses_per_step >= s.cells_written_per_step
        assert s.pulses_per_cell_mean * s.cells == pytest.approx(s.pulses_per_step * steps)
        assert sum(s.pulses_per_cell_counts) == s.cells
    recs = device_write_records(hw, res.device_writes)
    pulse = [r for r in recs if r.action == "pulse"]
    writes = [r for r in recs if r.action == "cell_write"]
    assert [r.count for r in pulse] == [s.pulses_per_step for s in res.device_writes]
    assert [r.count for r in writes] == [s.cells_written_per_step for s in res.device_writes]
    assert writes[0].cycles == res.device_writes[0].pulse_slots_per_step * hw.crossbar.write_pulse_cycles.value


def test_sweep_numerics_key_follows_the_device() -> None:
    from neurosim.sweep.runner import numerics_key

    wl = _workload()
    algo = wl.algorithm("bp")
    did = {"n_train": 1000, "source_dir": "x"}
    base = _hw()
    fewer = _hw(levels_ltp=16)
    ideal = load_model(REPO / "hwconfigs" / "rram_tile.yaml", HwConfig)
    assert numerics_key(wl, algo, did, base) != numerics_key(wl, algo, did, fewer)
    narrow_adc = base.model_copy(update={"crossbar": base.crossbar.model_copy(update={"adc_bits": 4})})
    assert numerics_key(wl, algo, did, base) != numerics_key(wl, algo, did, narrow_adc)
    for field, value in (("cols", 64), ("cells_per_weight", 2)):  # the transposed read; sliced weights
        other = base.model_copy(update={"crossbar": base.crossbar.model_copy(update={field: value})})
        assert numerics_key(wl, algo, did, base) != numerics_key(wl, algo, did, other)
    assert numerics_key(wl, algo, did, ideal) == numerics_key(wl, algo, did)
    other_ideal = ideal.model_copy(update={"crossbar": ideal.crossbar.model_copy(update={"adc_bits": 4})})
    assert numerics_key(wl, algo, did, other_ideal) == numerics_key(wl, algo, did, ideal)


@pytest.mark.parametrize("rule", ["bp", "sdfa"])
def test_device_training_same_bits_on_one_thread_and_two(mnist_dir, rule: str) -> None:
    """A whole device-numerics training (layers large enough for the shared pulse updates and
    reads, the background update and the pulses beside the next layer's SGD step) gives the
    same bits with numba's thread count 2 as with 1 (everything on the calling thread)."""
    import numba

    wl = Workload.model_validate(
        {
            "name": "threads",
            "seed": 3,
            "dataset": {"name": "mnist", "train_limit": 384, "test_limit": 128},
            "network": {"layers": [784, 96, 48, 10], "activation": "tanh"},  # 75,264 / 4,608 / 480 cells
            "training": {"epochs": 2, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 0.3}},
            "algorithms": [rule],
        }
    )
    data = load_dataset(wl.dataset)
    hw = load_model(HW_DEVICE, HwConfig)
    threads = numba.get_num_threads()
    runs = []
    try:
        for count in (2, 1):
            numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
            runs.append(train(wl, wl.algorithm(rule), data.x_train, data.y_train, data.x_test, data.y_test, hw=hw))
    finally:
        numba.set_num_threads(threads)
    two, one = runs
    assert [(h.loss, h.test_accuracy) for h in two.history] == [(h.loss, h.test_accuracy) for h in one.history]
    for layer in one.weights:
        np.testing.assert_array_equal(two.weights[layer], one.weights[layer])
    assert two.device_writes == one.device_writes
    assert one.device_writes[0].cells_written_per_step > 0
