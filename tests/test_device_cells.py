"""Device numerics, the rest: the reference column at the symmetry point, per-layer
learning rates, and the report's ideal-against-real-cells table (cells.csv)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from neurosim.cli import cli
from neurosim.config.base import load_model
from neurosim.config.hw import HwConfig
from neurosim.config.workload import OptimizerConfig, Workload
from neurosim.data import load_dataset
from neurosim.kernels.device import block_weights, pulse_update
from neurosim.learning import train
from neurosim.learning.device import CrossbarDevice, curve_inverse_np, curve_np, shape_from_label, symmetry_point
from neurosim.learning.optim import make_optimizer

from .conftest import REPO

HW_DEVICE = REPO / "hwconfigs" / "rram_tile_device.yaml"


# --------------------------------------------------------------------------- symmetry point


def _steps(g: np.ndarray, a_ltp: float, a_ltd: float, levels_ltp: int, levels_ltd: int) -> tuple[np.ndarray, np.ndarray]:
    """One LTP pulse's and one LTD pulse's |Δg| from ``g``, on the curves themselves."""
    up = curve_np(curve_inverse_np(g, a_ltp) + 1.0 / levels_ltp, a_ltp) - g
    down = g - curve_np(curve_inverse_np(g, a_ltd) - 1.0 / levels_ltd, a_ltd)
    return up, down


def test_symmetry_point_equalises_one_pulse_each_way() -> None:
    a_ltp, a_ltd = float(shape_from_label(2.4)), -float(shape_from_label(4.88))
    star = symmetry_point(a_ltp, a_ltd, 97, 100)
    # brute force on the curves: where one LTP pulse and one LTD pulse move g alike
    grid = np.linspace(0.05, 0.95, 9001)
    up, down = _steps(grid, a_ltp, a_ltd, 97, 100)
    crossing = grid[np.argmin(np.abs(up - down))]
    assert star == pytest.approx(crossing, abs=5e-3)
    assert 0.3 < star < 0.36  # NeuroSim's Ag:a-Si: LTD is the steeper curve, so g* lies below mid
    below, above = _steps(np.array([star - 0.1, star + 0.1]), a_ltp, a_ltd, 97, 100)
    assert below[0] > above[0] and below[1] < above[1]  # LTP wins below g*, LTD above: cells drift to g*


def test_symmetry_point_of_symmetric_and_linear_curves() -> None:
    assert symmetry_point(0.0, 0.0, 100, 100) is None  # equal steps everywhere
    assert symmetry_point(0.0, 0.0, 100, 50) is None  # LTD steps always larger: no point inside
    a = float(shape_from_label(3.0))
    assert symmetry_point(a, -a, 64, 64) == pytest.approx(0.5, abs=1e-12)
    hw = load_model(HW_DEVICE, HwConfig)
    linear = hw.model_copy(update={"device": hw.device.model_copy(update={"nonlinearity_ltp": 0.0, "nonlinearity_ltd": 0.0})})
    assert CrossbarDevice(linear, np.random.SeedSequence(0)).g_ref == 0.5  # no symmetry point: mid


def test_pulse_update_reference_shifts_only_the_weights() -> None:
    """The reference conductance changes the weight of a conductance, not the pulses or g."""
    rng = np.random.default_rng(3)
    shape = (5, 7)
    g = rng.uniform(0.1, 0.9, (1,) + shape)
    a_ltp, a_ltd = np.full((1, 1, 1), 0.5), np.full((1, 1, 1), -0.2)
    w_max = 0.5
    out = {}
    for g_ref in (0.5, 0.3):
        w_eff = (w_max * (2 * g[0] - 2 * g_ref)).astype(np.float32)
        w = (w_eff + rng.normal(0, 0.05, shape)).astype(np.float32) if g_ref == 0.5 else w_eff + out[0.5][3]
        gk, pulses = g.copy(), np.zeros(g.shape, dtype=np.int64)
        effk = w_eff.copy()
        want = w.copy()
        pulse_update(w, effk, block_weights(effk, 4), gk, a_ltp, a_ltd, np.zeros((1, 1, 1), np.bool_), pulses, 50, 60,
                     w_max, 0.0, False, 0, np.zeros((shape[1], 2), np.int64), 1, g_ref)
        out[g_ref] = (gk, pulses, w, want - w_eff)
        np.testing.assert_allclose(w, w_max * (2 * gk[0] - 2 * g_ref), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out[0.5][1], out[0.3][1])
    np.testing.assert_allclose(out[0.5][0], out[0.3][0], atol=1e-6)


def test_program_puts_weight_zero_at_the_symmetry_point() -> None:
    hw = load_model(HW_DEVICE, HwConfig)
    assert hw.device.reference == "symmetry_point"
    dev = CrossbarDevice(hw, np.random.SeedSequence(0))
    w = np.array([[0.0, 0.1, -0.1]], dtype=np.float32)
    cells = dev._cells("fc1", w.shape)
    dev._program(cells, w, exact=True)
    g_star = symmetry_point(float(shape_from_label(2.4)), -float(shape_from_label(4.88)), 97, 100)
    w_max = hw.device.weight_max
    np.testing.assert_allclose(cells.g[0, 0], [g_star, g_star + 0.1 / (2 * w_max), g_star - 0.1 / (2 * w_max)], atol=1e-12)
    np.testing.assert_allclose(w, [[0.0, 0.1, -0.1]], atol=1e-6)


def test_symmetry_point_needs_a_reference_column() -> None:
    hw = load_model(HW_DEVICE, HwConfig).model_dump(mode="json")
    bad = dict(hw, device=dict(hw["device"], mapping="differential"))
    with pytest.raises(ValueError, match="symmetry_point needs mapping: reference"):
        HwConfig.model_validate(bad)


# --------------------------------------------------------------------------- per-layer learning rates


def _workload(**optimizer) -> Workload:
    return Workload.model_validate({
        "name": "tiny", "seed": 0,
        "dataset": {"name": "mnist", "train_limit": 400, "test_limit": 200},
        "network": {"layers": [784, 32, 10], "activation": "tanh"},
        "training": {"epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "learning_rate": 0.1, **optimizer}},
        "algorithms": ["bp", "dfa"],
    })


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_layer_lr_steps_each_layer_at_its_rate(name: str) -> None:
    rng = np.random.default_rng(4)
    params = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(3)]
    grads = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(3)]
    cfg = OptimizerConfig(name=name, learning_rate=0.2, layer_lr={"fc2": 0.05})
    got = [p.copy() for p in params]
    make_optimizer(cfg, got, ["fc1", "fc1", "fc2"]).step(grads)
    for i, rate in enumerate((0.2, 0.2, 0.05)):  # reference: each parameter alone at its own rate
        alone = [params[i].copy()]
        make_optimizer(cfg.model_copy(update={"learning_rate": rate, "layer_lr": {}}), alone).step([grads[i]])
        np.testing.assert_array_equal(got[i], alone[0])


def test_layer_lr_reaches_the_trainer(mnist_dir) -> None:
    base = _workload()
    data = load_dataset(base.dataset)
    args = (data.x_train, data.y_train, data.x_test, data.y_test)
    plain = train(base, base.algorithm("dfa"), *args)
    same = _workload(layer_lr={"fc1": 0.1, "fc2": 0.1})
    again = train(same, same.algorithm("dfa"), *args)
    for layer in plain.weights:  # every layer at the shared rate: bit for bit the plain run
        np.testing.assert_array_equal(again.weights[layer], plain.weights[layer])
    slow = _workload(layer_lr={"fc1": 1e-7})
    still = _workload(learning_rate=1e-7)
    a = train(slow, slow.algorithm("dfa"), *args)
    b = train(still, still.algorithm("dfa"), *args)
    assert np.abs(a.weights["fc1"] - b.weights["fc1"]).max() < 1e-4  # fc1 hardly moved in either
    assert np.abs(a.weights["fc2"] - b.weights["fc2"]).max() > 1e-2  # fc2 trained at 0.1 in a only
    assert np.abs(plain.weights["fc1"] - b.weights["fc1"]).max() > 1e-2


def test_layer_lr_unknown_layer_is_one_line(tmp_path) -> None:
    data = yaml.safe_load((REPO / "workloads" / "neurosim_v3_mnist.yaml").read_text())
    data["training"]["optimizer"]["layer_lr"] = {"fc9": 0.2}
    wl = tmp_path / "wl.yaml"
    wl.write_text(yaml.safe_dump(data))
    r = CliRunner().invoke(cli, ["validate", str(wl)])
    assert r.exit_code == 2
    line = r.stderr.strip()
    assert "\n" not in line and str(wl) in line
    assert "layer_lr: 'fc9' is not a layer with parameters (those are fc1, fc2)" in line


def test_neurosim_workload_uses_its_per_layer_rates() -> None:
    wl = load_model(REPO / "workloads" / "neurosim_v3_mnist.yaml", Workload)
    assert wl.training.optimizer.learning_rate == 0.4 and wl.training.optimizer.layer_lr == {"fc2": 0.2}


# --------------------------------------------------------------------------- ideal against real cells


@pytest.fixture(scope="module")
def device_run(tmp_path_factory):
    from .conftest import DATA_DIR

    if not (DATA_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("MNIST subset not found")
    tmp = tmp_path_factory.mktemp("cells")
    data = {
        "name": "cells", "seed": 0,
        "dataset": {"name": "mnist", "data_dir": str(DATA_DIR), "train_limit": 320, "test_limit": 200},
        "network": {"layers": [784, 32, 10], "activation": "tanh"},
        "training": {"epochs": 2, "batch_size": 16, "optimizer": {"name": "sgd", "learning_rate": 0.3}},
        "algorithms": ["bp", "dfa", {"name": "sdfa", "fanin": 1, "learning_rate": 0.03, "feedback_scale": 3}],
    }
    wl = tmp / "wl.yaml"
    wl.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp / "run"
    r = CliRunner().invoke(cli, ["run", str(HW_DEVICE), str(wl), "--out", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    return out, wl, r.output


def _html_table(html: str) -> list[list[str]]:
    body = html[html.index('<table id="cells">'):]
    body = body[:body.index("</table>")]
    return [re.findall(r"<td>([^<]*)</td>", row) for row in re.findall(r"<tr data-rule[^>]*>(.*?)</tr>", body, re.S)]


def test_cells_table_equals_cells_csv(device_run) -> None:
    from neurosim.report.fmt import count, energy, percent

    out, _, printed = device_run
    csv = pd.read_csv(out / "cells.csv")
    assert sorted(csv["numerics"].unique()) == ["device", "ideal"]
    assert list(csv["algorithm"].unique()) == ["bp", "dfa", "sdfa"]
    rows = _html_table((out / "report.html").read_text())
    assert [r[0] for r in rows] == ["bp", "dfa", "sdfa"]
    for row in rows:
        ideal = csv[(csv["algorithm"] == row[0]) & (csv["numerics"] == "ideal")].iloc[0]
        real = csv[(csv["algorithm"] == row[0]) & (csv["numerics"] == "device")].iloc[0]
        assert row[1] == percent(ideal["test_accuracy"]) and row[2] == percent(real["test_accuracy"])
        assert row[3] == f"{100 * (ideal['test_accuracy'] - real['test_accuracy']):.2f} pt"
        assert row[4] == count(real["write_pulses_per_step"])
        assert row[5] == energy(real["write_energy_pj_per_step"])
        assert row[6] == f"{int(real['pulses_per_cell_max']):,}"
        assert pd.isna(ideal["write_pulses_per_step"])
        assert f"{row[0]}  " in printed and row[3] in printed  # the terminal prints the same table


def test_cells_csv_follows_the_run(device_run) -> None:
    """Ideal rows: the rule trained without a hwconfig; device rows: the ledger's pulse rows."""
    out, wl_path, _ = device_run
    csv = pd.read_csv(out / "cells.csv")
    costs = pd.read_csv(out / "costs.csv")
    hw = load_model(HW_DEVICE, HwConfig)
    wl = load_model(wl_path, Workload)
    data = load_dataset(wl.dataset)
    for name in ("bp", "sdfa"):
        ideal = train(wl, wl.algorithm(name), data.x_train, data.y_train, data.x_test, data.y_test)
        real = train(wl, wl.algorithm(name), data.x_train, data.y_train, data.x_test, data.y_test, hw=hw)
        row_i = csv[(csv["algorithm"] == name) & (csv["numerics"] == "ideal")].iloc[0]
        row_d = csv[(csv["algorithm"] == name) & (csv["numerics"] == "device")].iloc[0]
        assert row_i["test_accuracy"] == pytest.approx(ideal.final_test_accuracy, abs=1e-12)
        assert row_d["test_accuracy"] == pytest.approx(real.final_test_accuracy, abs=1e-12)
        assert row_d["write_pulses_per_step"] == pytest.approx(sum(w.pulses_per_step for w in real.device_writes))
        assert row_d["pulses_per_cell_max"] == max(w.pulses_per_cell_max for w in real.device_writes)
        pulse = costs[(costs["algorithm"] == name) & (costs["action"] == "pulse") & (costs["phase"] == "weight_update")]
        assert row_d["write_energy_pj_per_step"] == pytest.approx(row_d["write_pulses_per_step"] * hw.energy["crossbar"]["pulse"].energy_pj)
        assert row_d["write_energy_pj_per_step"] == pytest.approx(pulse["energy_pj"].sum())


def test_ideal_numerics_writes_no_cells_table(mnist_dir, tmp_path) -> None:
    data = _workload().model_dump(mode="json")
    data["algorithms"] = ["dfa"]
    wl = tmp_path / "wl.yaml"
    wl.write_text(yaml.safe_dump(data))
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["run", str(REPO / "hwconfigs" / "rram_tile.yaml"), str(wl), "--out", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    assert not (out / "cells.csv").exists()
    summary = (out / "summary.json").read_text()
    assert "ideal_cells" not in summary and "device_write_energy_pj_per_step" not in summary
    assert 'id="cells"' not in (out / "report.html").read_text()


# --------------------------------------------------------------------------- BP's transposed read


def test_transposed_read_against_numpy() -> None:
    """δ W through the DAC (per-sample scale), the cells and a per-array ADC, by hand."""
    hw = load_model(HW_DEVICE, HwConfig)
    hw = hw.model_copy(update={"crossbar": hw.crossbar.model_copy(update={"cols": 4, "input_bits": 3, "adc_bits": 5})})
    dev = CrossbarDevice(hw, np.random.SeedSequence(1))
    rng = np.random.default_rng(5)
    w = rng.uniform(-0.2, 0.2, (10, 6)).astype(np.float32)  # (n_out, n_in)
    cells = dev._cells("fc1", w.shape)
    dev._program(cells, w, exact=True)
    dev.layers.append(cells)
    dev.upper.append([])
    delta = rng.normal(0, 0.3, (3, 10)).astype(np.float32)
    got = dev.mvm_transposed(0, delta)
    scale = np.abs(delta).max(axis=1, keepdims=True)
    dq = np.sign(delta) * np.floor(np.abs(delta) / scale * 7 + 0.5) / 7 * scale
    ref = np.zeros((3, 6))
    for start in range(0, 10, 4):
        part = dq[:, start:start + 4].astype(np.float64) @ w[start:start + 4].astype(np.float64)
        lsb = scale * hw.device.adc_full_scale * min(4, 10) * hw.device.weight_max / 16
        ref += np.clip(np.floor(part / lsb + 0.5), -16, 15) * lsb
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert np.abs(got - delta @ w).max() > 0  # the read is quantised, not exact


def test_bp_error_goes_through_the_transposed_reader(mnist_dir) -> None:
    """BP on the device reads W backwards through the cells, once per step (fc2; fc1's error is not needed)."""
    wl = _workload()
    data = load_dataset(wl.dataset)
    hw = load_model(HW_DEVICE, HwConfig)
    calls = {"bp": 0}
    original = CrossbarDevice.mvm_transposed
    for name in calls:
        def counted(self, index, delta, name=name):
            calls[name] += 1
            return original(self, index, delta)
        CrossbarDevice.mvm_transposed = counted
        try:
            wl1 = wl.model_copy(update={"dataset": wl.dataset.model_copy(update={"train_limit": 64})})
            train(wl1, wl1.algorithm(name), data.x_train[:64], data.y_train[:64], data.x_test, data.y_test, hw=hw)
        finally:
            CrossbarDevice.mvm_transposed = original
    assert calls["bp"] == 64 // 16


@pytest.mark.parametrize("path", sorted((REPO / "hwconfigs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_hwconfig_validates(path) -> None:
    """neurosim_v3*.yaml had fallen behind the schema (adc_scaling, 1.0e-7) unnoticed."""
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 0, r.output + r.stderr
