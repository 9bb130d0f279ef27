"""End to end, in-process: ``neurosim run`` writes the output contract, exactly and reproducibly."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from neurosim.cli import cli

from .conftest import HW_RRAM, WORKLOADS

# A small but real workload: the shipped network on a slice of mnist-10k.
LAYERS = [784, 800, 800, 10]
B = 32


@pytest.fixture
def small_workload(tmp_path, mnist_dir):
    data = yaml.safe_load((WORKLOADS / "mnist_compare.yaml").read_text())
    data["dataset"].update({"train_limit": 320, "test_limit": 200})
    data["training"]["epochs"] = 1
    p = tmp_path / "small.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def _run(wl, out, *extra):
    result = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(wl), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output + result.stderr
    return result


def test_run_writes_the_output_contract(tmp_path, small_workload):
    out = tmp_path / "run"
    result = _run(small_workload, out)
    for name in ["summary.json", "costs.csv", "training.csv", "placement.csv", "report.html", "accuracy.png",
                 "macs_by_phase.png", "data_movement.png", "energy_by_component.png", "cycles_by_phase.png"]:
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*.tmp")), "temp files left behind"
    for alg in ("bp", "dfa", "sdfa"):
        assert alg in result.output

    s = json.loads((out / "summary.json").read_text())
    assert set(s["algorithms"]) == {"bp", "dfa", "sdfa"}
    for a in s["algorithms"].values():
        assert 0.0 <= a["test_accuracy"] <= 1.0
        assert a["totals"]["per_step"]["cycles"] > 0 and a["totals"]["per_epoch"]["latency_s"] > 0
        assert set(a["bytes"]["per_step"]) >= {"crossbar_io", "sram", "noc_byte_hops", "dram"}
        assert sum(a["energy_pj"]["per_step"].values()) == pytest.approx(a["totals"]["per_step"]["energy_pj"])
    assert s["workload"]["dataset"]["train_limit"] == 320 and s["neurosim_version"]

    costs = pd.read_csv(out / "costs.csv")
    assert list(costs.columns) == ["algorithm", "layer", "phase", "component", "action", "count", "bytes", "cycles", "energy_pj"]
    macs = costs[costs["action"] == "mac"].groupby(["algorithm", "phase"])["count"].sum()
    # closed forms, worked out by hand for 784-800-800-10 and batch 32
    fwd = B * (784 * 800 + 800 * 800 + 800 * 10)
    assert fwd == 40_806_400
    for alg in ("bp", "dfa", "sdfa"):
        assert macs[(alg, "forward")] == fwd
        assert macs[(alg, "weight_grad")] == fwd
    assert macs[("bp", "error")] == B * (800 * 800 + 800 * 10)
    assert macs[("dfa", "error")] == B * (800 * 10 + 800 * 10)
    assert macs[("sdfa", "error")] == B * 1 * (800 + 800)

    tr = pd.read_csv(out / "training.csv")
    assert len(tr) == 3 and set(tr["epoch"]) == {1}


def test_same_seed_gives_byte_identical_files(tmp_path, small_workload):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(small_workload, a, "--algorithms", "bp,sdfa")
    _run(small_workload, b, "--algorithms", "bp,sdfa")
    for name in ("costs.csv", "training.csv", "placement.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    c = tmp_path / "c"
    _run(small_workload, c, "--algorithms", "bp,sdfa", "--seed", "7")
    assert (a / "training.csv").read_bytes() != (c / "training.csv").read_bytes()


def test_refuses_to_overwrite_without_force(tmp_path, small_workload):
    out = tmp_path / "run"
    _run(small_workload, out, "--algorithms", "sdfa")
    before = (out / "costs.csv").read_bytes()
    again = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(small_workload), "--out", str(out), "--algorithms", "sdfa"])
    assert again.exit_code == 2 and "--force" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert (out / "costs.csv").read_bytes() == before
    _run(small_workload, out, "--algorithms", "sdfa", "--force")


def test_bad_algorithm_list_is_one_line(tmp_path, small_workload):
    r = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(small_workload), "--out", str(tmp_path / "x"), "--algorithms", "bp,magic"])
    assert r.exit_code == 2 and "--algorithms" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


def test_missing_data_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROSIM_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = yaml.safe_load((WORKLOADS / "mnist_sdfa.yaml").read_text())
    data["dataset"]["data_dir"] = str(tmp_path / "nowhere")
    wl = tmp_path / "wl.yaml"
    wl.write_text(yaml.safe_dump(data))
    import neurosim.data.mnist as mnist

    monkeypatch.setitem(mnist.MIRRORS, "mnist", ())  # offline: no mirror to try
    r = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(wl), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "train-images-idx3-ubyte" in r.stderr


@pytest.mark.parametrize("option", ["--algorithms", "--baseline"])
def test_a_rule_that_needs_settings_cannot_be_named_alone(tmp_path, small_workload, mnist_dir, option):
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(small_workload), option, "hybrid_dfa", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output + r.stderr
    assert r.stderr.strip().splitlines() == ["neurosim: error: hybrid_dfa: needs direct_to, which a name alone cannot "
                                             "give: list it under algorithms in the workload with its settings"]
    assert not out.exists()
