"""The Python API of the README: load, run, get DataFrames back; nothing written."""

from __future__ import annotations

import neurosim.api as ns

from .conftest import HW_DIGITAL, HW_RRAM, WORKLOADS


def _small(wl):
    ds = wl.dataset.model_copy(update={"train_limit": 256, "test_limit": 128})
    return wl.model_copy(update={"dataset": ds})


def test_run_returns_frames_and_writes_nothing(tmp_path, monkeypatch, mnist_dir):
    monkeypatch.chdir(tmp_path)
    hw = ns.load_hw(HW_RRAM)
    wl = _small(ns.load_workload(WORKLOADS / "mnist_compare.yaml"))
    res = ns.run(hw, wl, epochs=1, algorithms=["bp", "sdfa"])
    costs = ns.costs(res)
    macs = costs[costs.action == "mac"].groupby(["algorithm", "phase"])["count"].sum()
    assert macs[("sdfa", "error")] == 32 * (800 + 800)
    assert macs[("bp", "error")] == 32 * (800 * 800 + 800 * 10)
    tr = ns.training(res)
    assert list(tr["algorithm"]) == ["bp", "sdfa"] and (tr["epoch"] == 1).all()
    s = ns.summary(res)
    assert s["algorithms"]["sdfa"]["macs"]["per_step"]["error"] == 51_200
    assert list(tmp_path.iterdir()) == []


def test_digital_chip_has_no_crossbar_rows(mnist_dir):
    hw = ns.load_hw(HW_DIGITAL)
    wl = _small(ns.load_workload(WORKLOADS / "mnist_dfa.yaml"))
    res = ns.run(hw, wl, epochs=1)
    costs = ns.costs(res)
    assert not costs["component"].isin(["crossbar", "adc", "dac"]).any()
    core = costs[(costs.component == "core") & (costs.action == "digital_mac")].groupby("phase")["count"].sum()
    net = costs[(costs.component == "network") & (costs.action == "mac")].groupby("phase")["count"].sum()
    # on an all-digital chip every algorithm-level MAC runs on a core
    for phase, n in net.items():
        assert core.get(phase, 0) == n, phase
    assert ns.summary(res)["algorithms"]["dfa"]["rram_writes_per_cell_per_epoch"]["max"] == 0
