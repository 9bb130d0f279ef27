"""What a sweep shares between points is exact.

- Training without the alignment diagnostics (how a sweep trains) is bit-identical to
  training with them, for every rule; under device numerics the diagnostics draw read
  noise from the cells, so the flag is ignored there.
- A chip sweep trains each rule once and every row equals the same point run alone
  (``neurosim.api.run``): accuracies, cycles, energy, bytes.
- A device-numerics sweep does not share a training between chip points whose
  training-relevant fields differ (``crossbar.rows``), and shares it where they do not
  (``noc.mesh``).
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import neurosim.api as ns
from neurosim.config.hw import HwConfig
from neurosim.config.workload import ALGORITHMS, Workload
from neurosim.data import load_dataset
from neurosim.learning import train
from neurosim.sim import cost_step
from neurosim.sweep import SweepSpec, run_sweep

from .conftest import HW_RRAM, REPO
from .test_sweep import TINY, tiny  # noqa: F401 - the fixture

HW_DEVICE = REPO / "hwconfigs" / "rram_tile_device.yaml"


def _rules() -> list[dict]:
    # every rule that a name alone configures (hybrid_dfa needs its direct_to)
    return [{"name": n} for n in ALGORITHMS if n != "hybrid_dfa"] + [{"name": "hybrid_dfa", "direct_to": ["fc1"]}]


def _same_training(a, b) -> None:
    assert a.state.keys() == b.state.keys()
    for k in a.state:
        assert np.array_equal(a.state[k], b.state[k]), k
    assert [(h.loss, h.train_accuracy, h.test_accuracy) for h in a.history] == \
           [(h.loss, h.train_accuracy, h.test_accuracy) for h in b.history]


def test_training_without_diagnostics_is_bit_identical(mnist_dir):
    wl = Workload.model_validate({**TINY, "network": {"layers": [784, 32, 16, 10], "activation": "tanh"},
                                  "algorithms": _rules()})
    data = load_dataset(wl.dataset)
    args = (data.x_train, data.y_train, data.x_test, data.y_test)
    measured = 0
    for algo in wl.algorithms:
        full = train(wl, algo, *args)
        lean = train(wl, algo, *args, diagnostics=False)
        _same_training(full, lean)
        assert lean.alignment == () and all(h.alignment_deg == {} for h in lean.history)
        measured += bool(full.alignment)
    assert measured >= len(wl.algorithms) - 1  # BP alone measures nothing: the test compares real measures


def test_device_numerics_ignore_the_flag(mnist_dir):
    raw = yaml.safe_load(HW_DEVICE.read_text())
    raw["device"]["read_noise_sigma"] = 0.05  # the measures' reads draw from the cells' noise stream
    hw = HwConfig.model_validate(raw)
    assert hw.numerics == "device"
    wl = Workload.model_validate({**TINY, "dataset": {"name": "mnist", "train_limit": 96, "test_limit": 64},
                                  "algorithms": [{"name": "dfa"}]})
    data = load_dataset(wl.dataset)
    args = (data.x_train, data.y_train, data.x_test, data.y_test)
    full = train(wl, wl.algorithms[0], *args, hw=hw)
    lean = train(wl, wl.algorithms[0], *args, hw=hw, diagnostics=False)
    _same_training(full, lean)
    assert lean.alignment == full.alignment != ()


def _point_hw(path, **fields) -> HwConfig:
    raw = yaml.safe_load(path.read_text())
    for key, value in fields.items():
        section, field = key.split("__")
        raw[section][field] = value
    return HwConfig.model_validate(raw)


def test_chip_points_share_training_and_equal_single_runs(tmp_path, tiny, train_calls):  # noqa: F811
    calls = train_calls
    spec = SweepSpec.from_cli(HW_RRAM, tiny, ["crossbar.rows=64,128", "noc.mesh=4x4,8x8"], algorithms=["bp", "sdfa"],
                              out=tmp_path / "sw", executor="serial")
    df = run_sweep(spec)
    assert len(df) == 8 and (df["status"] == "ok").all(), df["error"].tolist()
    assert sorted(calls) == ["bp", "sdfa"]  # 4 chip points, one training per rule
    for (rows, mesh), got in df.groupby(["crossbar.rows", "noc.mesh"]):
        alone = ns.summary(ns.run(_point_hw(HW_RRAM, crossbar__rows=int(rows), noc__mesh=mesh), ns.load_workload(tiny),
                                  algorithms=["bp", "sdfa"]))["algorithms"]
        for _, r in got.iterrows():
            a = alone[r["algorithm"]]
            assert r["test_accuracy"] == a["test_accuracy"]
            assert r["cycles_per_step"] == a["totals"]["per_step"]["cycles"]
            assert r["error_phase_cycles"] == a["phase_cycles_per_step"]["error"]
            assert r["energy_pj_per_step"] == pytest.approx(a["totals"]["per_step"]["energy_pj"], rel=1e-12)
            assert r["bytes_per_step_noc_byte_hops"] == a["bytes"]["per_step"]["noc_byte_hops"]
            assert r["macs_per_step"] == sum(a["macs"]["per_step"].values())


def test_device_sweep_trains_per_training_relevant_chip(tmp_path, mnist_dir, train_calls):
    calls = train_calls
    small = {**TINY, "dataset": {"name": "mnist", "train_limit": 96, "test_limit": 64}, "algorithms": [{"name": "dfa"}]}
    wl_path = tmp_path / "small.yaml"
    wl_path.write_text(yaml.safe_dump(small, sort_keys=False))
    spec = SweepSpec.from_cli(HW_DEVICE, wl_path, ["crossbar.rows=64,128", "noc.mesh=4x4,8x8"], algorithms=["dfa"],
                              out=tmp_path / "dev", executor="serial")
    df = run_sweep(spec)
    assert (df["status"] == "ok").all(), df["error"].tolist()
    # crossbar.rows is read by the cells' blocks: one training per value; the mesh is not: shared
    assert calls == ["dfa", "dfa"] and len(list((tmp_path / "dev" / "numerics").glob("*.json"))) == 2
    assert df.groupby("crossbar.rows")["test_accuracy"].nunique().eq(1).all()
    alone = ns.summary(ns.run(_point_hw(HW_DEVICE, crossbar__rows=64, noc__mesh="4x4"), ns.load_workload(wl_path),
                              algorithms=["dfa"]))["algorithms"]["dfa"]
    row = df[(df["crossbar.rows"] == 64) & (df["noc.mesh"] == "4x4")].iloc[0]
    assert row["test_accuracy"] == alone["test_accuracy"]
    # the chip is costed with the programming the training measured, as a run costs it
    assert row["cycles_per_step"] == alone["totals"]["per_step"]["cycles"]
    assert row["weight_update_phase_cycles"] == alone["phase_cycles_per_step"]["weight_update"]
    assert row["energy_pj_per_step"] == pytest.approx(alone["totals"]["per_step"]["energy_pj"], rel=1e-12)
    wl = ns.load_workload(wl_path)
    model = cost_step(_point_hw(HW_DEVICE, crossbar__rows=64, noc__mesh="4x4"), wl.shapes, wl.training.batch_size,
                      wl.algorithm("dfa"), steps_per_epoch=int(row["steps_per_epoch"]))
    assert row["cycles_per_step"] != model.cycles_per_step  # one write per cell would not give the run's figures


def test_device_numerics_cached_without_their_writes_are_trained_again(tmp_path, mnist_dir, train_calls):
    """A device point's numerics cached before trainings kept their measured programming cannot cost
    its chip: the resumed sweep trains the key again and stores the writes with it."""
    import json

    calls = train_calls
    small = {**TINY, "dataset": {"name": "mnist", "train_limit": 64, "test_limit": 32}, "algorithms": [{"name": "sdfa"}]}
    wl_path = tmp_path / "small.yaml"
    wl_path.write_text(yaml.safe_dump(small, sort_keys=False))
    spec = SweepSpec.from_cli(HW_DEVICE, wl_path, ["noc.mesh=4x4"], algorithms=["sdfa"], out=tmp_path / "dev", executor="serial")
    first = run_sweep(spec)
    (cached,) = (tmp_path / "dev" / "numerics").glob("*.json")
    figures = json.loads(cached.read_text())
    assert calls == ["sdfa"] and [w["layer"] for w in figures.pop("device_writes")] == ["fc1", "fc2"]
    cached.write_text(json.dumps(figures))  # as an older version wrote it
    for point in (tmp_path / "dev" / "points").glob("*.json"):
        point.unlink()
    again = run_sweep(spec)
    assert calls == ["sdfa", "sdfa"] and "device_writes" in json.loads(cached.read_text())
    assert again["cycles_per_step"].tolist() == first["cycles_per_step"].tolist()


def test_chip_tasks_run_longest_first(tmp_path, tiny):  # noqa: F811
    """One task per (point, rule), ranked by the blocks of its placement; a point that does
    not fit ranks last; ties keep grid order, then rule order."""
    from neurosim.sweep.plan import plan_sweep
    from neurosim.sweep.runner import cost_queue

    spec = SweepSpec.from_cli(HW_RRAM, tiny, ["crossbar.rows=256,64,0", "noc.mesh=1x1,8x8"], algorithms=["bp", "dfa"],
                              out=tmp_path / "q")
    todo = [pp for pp in plan_sweep(spec).points if pp.error is None]  # rows=0: a config error, no task
    order = [(pp.point.params["crossbar.rows"], pp.point.params["noc.mesh"], alg) for pp, alg in cost_queue(todo)]
    # 784-32-10 in 64-row arrays: 13 + 1 blocks; in 256-row arrays 4 + 1; neither fits one tile
    assert order == [(64, "8x8", "bp"), (64, "8x8", "dfa"), (256, "8x8", "bp"), (256, "8x8", "dfa"),
                     (256, "1x1", "bp"), (256, "1x1", "dfa"), (64, "1x1", "bp"), (64, "1x1", "dfa")]


def test_device_model_keeps_only_its_cell_setting():
    """The device model keeps no part of the hwconfig beyond its CellSetting (the sweep's training key),
    so a field it starts to read has to go through the setting and into the key."""
    from pydantic import BaseModel

    from neurosim.config.device import DeviceConfig
    from neurosim.learning.cell_setting import CellSetting
    from neurosim.learning.device import CrossbarDevice
    from neurosim.sweep.tasks import device_numerics

    hw = _point_hw(HW_DEVICE)
    device = CrossbarDevice(hw, np.random.SeedSequence(0))
    models = {name: type(value).__name__ for name, value in vars(device).items()
              if isinstance(value, BaseModel) and not isinstance(value, DeviceConfig)}
    assert models == {}
    assert isinstance(device.xbar, CellSetting) and device.dev is device.xbar.device
    assert device_numerics(hw) == CellSetting.of(hw).key()
    assert device_numerics(_point_hw(HW_DEVICE, crossbar__rows=64)) != device_numerics(hw)
    assert device_numerics(_point_hw(HW_DEVICE, noc__mesh="2x2")) == device_numerics(hw)
