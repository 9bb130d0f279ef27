"""Everything that used to fail after training now fails before it: one line, exit 2, nothing trained."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import neurosim.pipeline
from neurosim.cli import cli
from neurosim.report import files as rfiles

from .conftest import HW_RRAM

SMALL = {
    "name": "small",
    "network": {"layers": [784, 32, 10]},
    "training": {"epochs": 1, "batch_size": 32},
    "dataset": {"train_limit": 256, "test_limit": 64},
    "algorithms": ["bp", "sdfa"],
}


def _write(tmp_path: Path, name: str, data: dict) -> Path:
    f = tmp_path / name
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    return f


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if any rule starts its real training."""
    def trained(*a, **k):
        raise AssertionError("training started before the plan was checked")
    monkeypatch.setattr(neurosim.pipeline, "run_algorithm", trained)


def _one_line(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("neurosim: error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _run(hw: Path, wl: Path, out: Path | str, *extra: str):
    return CliRunner().invoke(cli, ["run", str(hw), str(wl), "--out", str(out), *extra])


@pytest.mark.parametrize("out,needle", [("/proc/x", "not writable"), ("afile.txt/sub", "is a file, not a folder")])
def test_unwritable_out_refused_before_training(tmp_path, mnist_dir, no_training, monkeypatch, out, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile.txt").write_text("x")
    line = _one_line(_run(HW_RRAM, _write(tmp_path, "wl.yaml", SMALL), out))
    assert needle in line, line


def test_full_disk_refused_before_training(tmp_path, mnist_dir, no_training, monkeypatch):
    import shutil as real

    usage = real.disk_usage(tmp_path)
    monkeypatch.setattr("neurosim.preflight.shutil.disk_usage", lambda p: usage._replace(free=4096))
    line = _one_line(_run(HW_RRAM, _write(tmp_path, "wl.yaml", SMALL), tmp_path / "out"))
    assert "KiB free" in line, line
    assert not (tmp_path / "out").exists()


def test_disk_full_while_writing_leaves_nothing_and_reruns(tmp_path, mnist_dir, monkeypatch):
    """A fault-injecting writer: ENOSPC on the 3rd file. One line, no half folder left."""
    real = rfiles.atomic_write_bytes
    calls = [0]

    def flaky(path, data):
        calls[0] += 1
        if calls[0] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(rfiles, "atomic_write_bytes", flaky)
    wl = _write(tmp_path, "wl.yaml", {**SMALL, "algorithms": ["bp"]})
    line = _one_line(_run(HW_RRAM, wl, tmp_path / "out"))
    assert "No space left on device" in line and "nothing was changed" in line
    # no half folder, so the rerun needs no --force (only an existing folder is refused); the trained
    # rule is kept for it (.out.rules), so it is not trained again
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.stage-*"))
    assert [p.name.split("-")[0] for p in (tmp_path / ".out.rules").iterdir()] == ["bp"]


def test_missing_energy_section_refused_before_training(tmp_path, mnist_dir, no_training):
    hw = yaml.safe_load(HW_RRAM.read_text())
    del hw["energy"]["adc"]
    line = _one_line(_run(_write(tmp_path, "hw.yaml", hw), _write(tmp_path, "wl.yaml", SMALL), tmp_path / "o"))
    assert "energy.adc.convert" in line, line


def test_rule_that_cannot_train_the_network_refused_up_front(tmp_path, mnist_dir, no_training):
    wl = _write(tmp_path, "wl.yaml", {**SMALL, "network": {"layers": [784, 10]}})
    line = _one_line(_run(HW_RRAM, wl, tmp_path / "o", "--algorithms", "bp,fa,dfa,sdfa,sign_dfa,drtp,fdfa"))
    assert "fdfa" in line and "hidden" in line, line
    assert not (tmp_path / "o").exists()


def test_wrong_dataset_files_refused(tmp_path, mnist_dir, no_training):
    wl = _write(tmp_path, "wl.yaml", {**SMALL, "dataset": {"name": "fashion_mnist", "train_limit": 256}})
    line = _one_line(_run(HW_RRAM, wl, tmp_path / "o"))
    assert "fashion_mnist" in line and "these files are mnist" in line, line


def test_dataset_told_apart_by_statistics_when_no_hash_matches():
    """Without a known hash, the mean pixel decides (MNIST ~0.13, Fashion-MNIST ~0.29)."""
    import numpy as np

    from neurosim.data.identity import identify

    rng = np.random.default_rng(0)
    digits = (rng.random((256, 784)) < 0.13).astype(np.float32)        # sparse strokes, mean 0.13
    clothes = (rng.random((256, 784)) < 0.29).astype(np.float32)       # mean 0.29
    assert identify(digits)[0] == "mnist"
    assert identify(clothes)[0] == "fashion_mnist"
    assert identify(clothes[:10])[0] is None  # too few images to tell


def test_batch_larger_than_the_data_refused(tmp_path, mnist_dir, no_training):
    wl = _write(tmp_path, "wl.yaml", {**SMALL, "training": {"epochs": 1, "batch_size": 100000}})
    line = _one_line(_run(HW_RRAM, wl, tmp_path / "o"))
    assert "training.batch_size" in line and "256 training images" in line, line


def test_non_finite_cost_refused_before_training(tmp_path, mnist_dir, no_training, monkeypatch):
    """A chip model that returns a non-finite figure (injected) stops the run before training."""
    import dataclasses

    import neurosim.sim as sim  # preflight.cost_plan imports cost_step from here when it runs

    real = sim.cost_step
    monkeypatch.setattr(sim, "cost_step", lambda *a, **k: dataclasses.replace(real(*a, **k), cycles_per_step=float("inf")))
    line = _one_line(_run(HW_RRAM, _write(tmp_path, "wl.yaml", SMALL), tmp_path / "o"))
    assert "cycles per step is inf (not finite)" in line, line


def test_finished_rules_survive_an_interrupted_run(tmp_path, mnist_dir, monkeypatch):
    """Ctrl-C while the 2nd rule trains: the 1st is kept; the rerun trains only the 2nd, then cleans up."""
    real = neurosim.pipeline.run_algorithm
    trained: list[str] = []

    def interrupted(wl, hw, algo, *a, **k):
        if algo.name == "sdfa":
            raise KeyboardInterrupt
        trained.append(algo.name)
        return real(wl, hw, algo, *a, **k)

    wl = _write(tmp_path, "wl.yaml", SMALL)
    monkeypatch.setattr(neurosim.pipeline, "run_algorithm", interrupted)
    assert _run(HW_RRAM, wl, tmp_path / "o").exit_code == 130
    assert trained == ["bp"] and not (tmp_path / "o").exists()
    assert [p.name.split("-")[0] for p in (tmp_path / ".o.rules").iterdir()] == ["bp"]

    def counting(wl, hw, algo, *a, **k):
        trained.append(algo.name)
        return real(wl, hw, algo, *a, **k)

    monkeypatch.setattr(neurosim.pipeline, "run_algorithm", counting)
    result = _run(HW_RRAM, wl, tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert trained == ["bp", "sdfa"]  # bp was not trained again
    assert "bp," in (tmp_path / "o" / "training.csv").read_text() and not (tmp_path / ".o.rules").exists()


@pytest.mark.parametrize("rule", ["bp", "sdfa"])
def test_preflight_energy_check_prices_as_the_ledger(rule):
    """The preflight prices a step's records without a frame (no pandas before training): the same
    per-component energy as the ledger's frame, and the same error for the same missing figure."""
    from pydantic import TypeAdapter

    from neurosim import counts, ledger
    from neurosim.config import hw as hwcfg
    from neurosim.config.workload import AlgorithmConfig, Workload
    from neurosim.errors import ConfigError
    from neurosim.sim import cost_step

    hw = hwcfg.load(HW_RRAM)
    wl = Workload.model_validate(SMALL)
    algo = TypeAdapter(AlgorithmConfig).validate_python({"name": rule})
    records = counts.step_counts(wl.shapes, 32, algo) + list(cost_step(hw, wl.shapes, 32, algo, steps_per_epoch=8).records)
    frame = ledger.energy_by_component(ledger.apply_energy(ledger.build(rule, records), hw))
    priced = ledger.energy_by_component_of(records, hw)
    assert list(priced) == list(frame) and priced == pytest.approx(frame, rel=1e-12)
    for missing in (["adc"], ["noc", "sram"], ["core"]):
        data = hw.model_dump(mode="json")
        for comp in missing:
            data["energy"][comp] = {}
        bad = hwcfg.HwConfig.model_validate(data)
        with pytest.raises(ConfigError) as by_frame:
            ledger.apply_energy(ledger.build(rule, records), bad, "hw.yaml")
        with pytest.raises(ConfigError) as by_records:
            ledger.energy_by_component_of(records, bad, "hw.yaml")
        assert str(by_records.value) == str(by_frame.value)
