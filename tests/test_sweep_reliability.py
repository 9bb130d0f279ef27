"""Sweeps never lose or mix finished work, refuse bad --set values, and die with their driver."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from neurosim.cli import cli
from neurosim.sweep import SweepError, SweepSpec, run_sweep

from .conftest import DATA_DIR, HW_RRAM, REPO
from .test_sweep import _start_and_wait, _sweep_cmd, tiny  # noqa: F401 - the fixture


def _one_line(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurosim: error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("sets,needle", [
    (["crossbar.rows=64", "crossbar.rows=128"], "given twice"),
    (["crossbar.rows=.nan"], "must be finite"),
    (["crossbar.rows=.inf,64"], "must be finite"),
])
def test_bad_set_options_are_one_line_and_write_nothing(tmp_path, tiny, sets, needle):  # noqa: F811
    args = ["sweep", str(HW_RRAM), str(tiny), "--out", str(tmp_path / "sw")]
    for s in sets:
        args += ["--set", s]
    assert needle in _one_line(CliRunner().invoke(cli, args))
    assert not (tmp_path / "sw").exists()


def test_unwritable_out_is_one_line(tmp_path, tiny):  # noqa: F811
    line = _one_line(CliRunner().invoke(cli, ["sweep", str(HW_RRAM), str(tiny), "--set", "crossbar.rows=64", "--out", "/proc/x"]))
    assert "/proc/x" in line and "not writable" in line


def test_a_folder_holding_another_sweep_is_refused_without_force(tmp_path, tiny):  # noqa: F811
    out = tmp_path / "sw"
    spec = dict(hw=HW_RRAM, workload=tiny, grid={"crossbar.rows": [64, 128]}, algorithms=["bp"], out=out, executor="serial")
    first = run_sweep(SweepSpec(**spec))
    assert len(first) == 2 and (first["status"] == "ok").all()
    before = sorted(p.read_bytes() for p in (out / "points").glob("*.json"))
    for change, needle in (({"epochs": 2}, "epochs, base_fingerprint differ"), ({"grid": {"crossbar.rows": [64]}}, "grid differ")):
        with pytest.raises(SweepError, match=needle):
            run_sweep(SweepSpec(**{**spec, **change}))
        assert sorted(p.read_bytes() for p in (out / "points").glob("*.json")) == before  # nothing lost or hidden
    again = run_sweep(SweepSpec(**spec))  # the same sweep resumes (nothing to do)
    assert again.equals(first)
    forced = run_sweep(SweepSpec(**{**spec, "grid": {"crossbar.rows": [64]}, "force": True}))
    assert len(forced) == 1 and len(list((out / "points").glob("*.json"))) == 1


def _session_members(sid: int) -> list[str]:
    """Live processes (not zombies) of session ``sid``: '<pid> <state> <name>'."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        name_end = stat.rindex(")")
        fields = stat[name_end + 2:].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state not in ("Z", "X"):
            out.append(f"{d.name} {state} {stat[stat.index('(') + 1:name_end]}")
    return out


def test_kill_9_of_the_driver_leaves_no_worker(tmp_path, tiny):  # noqa: F811
    """``kill -9`` of the sweep's main process only (not its group): within 5 s none of its processes is left."""
    out = tmp_path / "killed"
    env = {**os.environ, "NEUROSIM_DATA_DIR": str(DATA_DIR), "PYTHONPATH": str(REPO)}
    cmd = _sweep_cmd(HW_RRAM, tiny, out)
    cmd[cmd.index("--workers") + 1] = "2"
    proc = _start_and_wait(cmd, tmp_path, env, tmp_path / "kill.log", out / "points", 32, 1)
    try:
        assert len(_session_members(proc.pid)) >= 3  # driver, fork server, workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        left = _session_members(proc.pid)
        for _ in range(50):  # up to 5 s
            if not left:
                break
            time.sleep(0.1)
            left = _session_members(proc.pid)
        assert left == [], left
    finally:
        if _session_members(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


def test_unreachable_scheduler_is_refused_before_anything_is_written(tmp_path, tiny, monkeypatch):  # noqa: F811
    """The executor is made (and a remote scheduler reached) before the folder is touched (fault injected:
    the real Dask client waits 20 s for a closed port, with the same SweepError)."""
    import neurosim.sweep.runner as runner

    def unreachable(kind, workers, scheduler=None, dask_processes=True):
        raise SweepError(f"--scheduler: cannot connect to {scheduler}: Timed out")

    monkeypatch.setattr(runner, "make_executor", unreachable)
    args = ["sweep", str(HW_RRAM), str(tiny), "--set", "crossbar.rows=64", "--scheduler", "tcp://127.0.0.1:9",
            "--out", str(tmp_path / "sw")]
    assert "cannot connect to tcp://127.0.0.1:9" in _one_line(CliRunner().invoke(cli, args))
    assert not (tmp_path / "sw").exists()


def test_a_second_sweep_in_a_locked_folder_is_refused(tmp_path):
    from neurosim.sweep.keys import SweepError
    from neurosim.sweep.store import SweepDir

    with SweepDir(tmp_path / "s").locked():
        with pytest.raises(SweepError, match="another sweep is running"):
            with SweepDir(tmp_path / "s").locked():
                pass
    with SweepDir(tmp_path / "s").locked():  # released: the folder can be taken again
        pass
