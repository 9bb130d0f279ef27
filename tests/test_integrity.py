"""Divergence is a stated result; a run folder is whole or refused; a killed run never leaves a mix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from neurosim.cli import cli
from neurosim.errors import EXIT_DIVERGED

from .conftest import HW_RRAM, REPO

#: BP at learning rate 10 on leaky ReLU: the loss overflows float32 in epoch 4, at step 53 of the run
#: (16 steps per epoch on 500 images: the 5th step of epoch 4); DFA at 0.01 trains all 4 epochs.
DIVERGING = {
    "name": "diverging",
    "network": {"layers": [784, 64, 10], "activation": "leaky_relu"},
    "training": {"epochs": 4, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 10}},
    "dataset": {"train_limit": 500, "test_limit": 100},
    "algorithms": ["bp", {"name": "dfa", "learning_rate": 0.01}],
}


@pytest.fixture(scope="module")
def diverged_run(tmp_path_factory):
    from .conftest import DATA_DIR

    if not (DATA_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("MNIST subset not found")
    tmp = tmp_path_factory.mktemp("div")
    wl = tmp / "wl.yaml"
    wl.write_text(yaml.safe_dump(DIVERGING, sort_keys=False))
    os.environ["NEUROSIM_DATA_DIR"] = str(DATA_DIR)
    umask = os.umask(0o022)
    try:
        result = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(wl), "--out", str(tmp / "run")])
    finally:
        os.umask(umask)
        del os.environ["NEUROSIM_DATA_DIR"]
    return result, tmp / "run"


def test_divergence_is_marked_everywhere_and_the_other_rules_complete(diverged_run):
    result, run = diverged_run
    assert result.exit_code == EXIT_DIVERGED == 3, result.output
    assert "Traceback" not in result.output
    text = (run / "summary.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    summary = json.loads(text)
    bp, dfa = summary["algorithms"]["bp"], summary["algorithms"]["dfa"]
    assert bp["diverged"] == {"epoch": 4, "step": 53}
    assert bp["test_accuracy"] is None and bp["final_loss"] is None
    assert dfa["diverged"] is None and 0 <= dfa["test_accuracy"] <= 1
    epochs = [ln.split(",")[1] for ln in (run / "training.csv").read_text().splitlines()[1:] if ln.startswith("dfa,")]
    assert epochs == ["1", "2", "3", "4"]  # the other rule ran all its epochs and is written
    assert any(ln.split()[:5] == ["bp", "diverged", "(epoch", "4,", "step"] for ln in result.stdout.splitlines())
    assert "neurosim: diverged (non-finite loss): bp at epoch 4, step 53" in result.stderr
    assert "diverged (epoch 4, step 53)" in (run / "report.html").read_text()
    assert CliRunner().invoke(cli, ["report", str(run)]).exit_code == 0


def test_output_files_are_0644_under_umask_022(diverged_run):
    import stat

    _, run = diverged_run
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in run.iterdir()}
    assert len(modes) > 5 and all(m == 0o644 for m in modes.values()), modes
    assert stat.S_IMODE(run.stat().st_mode) == 0o755
    assert set(json.loads((run / "summary.json").read_text())["data_files"]) == {"costs.csv", "training.csv", "placement.csv", "alignment.csv"}


def _one_line(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurosim: error: "), result.stderr
    return lines[0]


DAMAGE = {
    "summary_not_json": ("summary.json", lambda b: b[: len(b) // 2], "not valid JSON"),
    "summary_no_algorithms": ("summary.json", lambda b: b'{"epochs": 1}', "'algorithms' table"),
    "summary_binary": ("summary.json", lambda b: b"\xff\xfe\x00garbage", "not valid JSON"),
    "costs_truncated": ("costs.csv", lambda b: b[: len(b) // 2], "costs.csv: does not belong"),
    "costs_empty": ("costs.csv", lambda b: b"", "costs.csv: does not belong"),
    "training_binary": ("training.csv", lambda b: b"\xff\xfe" + b, "training.csv: does not belong"),
    "placement_missing": ("placement.csv", None, "missing placement.csv"),
}


@pytest.mark.parametrize("key", sorted(DAMAGE))
def test_report_refuses_a_damaged_folder(diverged_run, tmp_path, key):
    import shutil

    _, run = diverged_run
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    name, damage, needle = DAMAGE[key]
    if damage is None:
        (copy / name).unlink()
    else:
        (copy / name).write_bytes(damage((copy / name).read_bytes()))
    assert needle in _one_line(CliRunner().invoke(cli, ["report", str(copy)]))


def test_report_refuses_a_folder_mixing_two_runs(diverged_run, tmp_path):
    import shutil

    _, run = diverged_run
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(run, a)
    shutil.copytree(run, b)
    summary = json.loads((b / "summary.json").read_text())
    (b / "costs.csv").write_text((b / "costs.csv").read_text().replace("bp,", "bp ,", 1))  # another run's ledger
    shutil.copy(a / "summary.json", b / "summary.json")
    assert summary["data_files"]["costs.csv"] != json.loads((b / "summary.json").read_text()).get("x")
    assert "costs.csv: does not belong" in _one_line(CliRunner().invoke(cli, ["report", str(b)]))


_KILL_AT_WRITE = """
import os, signal, sys
from neurosim.report import files
real = files.atomic_write_bytes
n = [0]
def killing(path, data):
    n[0] += 1
    if n[0] == int(os.environ["KILL_AT"]):
        os.kill(os.getpid(), signal.SIGKILL)
    real(path, data)
files.atomic_write_bytes = killing
from neurosim.cli import main
sys.argv = ["neurosim", "run", *sys.argv[1:]]
main()
"""


def test_killed_run_force_never_leaves_a_mixed_folder(diverged_run, tmp_path):
    """``run --force`` over a finished run, SIGKILLed at its 3rd file write (two of the new run's data
    files written): the folder is the old run, whole; the new one's stage is cleared by the next run."""
    import shutil

    from .conftest import DATA_DIR

    _, run = diverged_run
    out = tmp_path / "run"
    shutil.copytree(run, out)
    before = (out / "summary.json").read_bytes()
    wl = tmp_path / "wl.yaml"
    wl.write_text(yaml.safe_dump({**DIVERGING, "training": {"epochs": 1, "batch_size": 32}, "algorithms": ["bp"]}))
    env = {**os.environ, "NEUROSIM_DATA_DIR": str(DATA_DIR), "KILL_AT": "3", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _KILL_AT_WRITE, str(HW_RRAM), str(wl), "--out", str(out), "--force"],
                          env=env, capture_output=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert (out / "summary.json").read_bytes() == before
    assert CliRunner().invoke(cli, ["report", str(out)]).exit_code == 0  # the old run, whole
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".run.stage-")]  # the killed run's stage, hidden
    from neurosim.report.rundir import staged

    with pytest.raises(RuntimeError, match="abort"):
        with staged(out) as stage:  # the next run's stage: the killed one's is gone
            assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.stage-") and p != stage]
            raise RuntimeError("abort: keep the old run")
    assert (out / "summary.json").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.stage-")]
