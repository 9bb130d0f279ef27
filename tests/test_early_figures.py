"""``neurosim run`` draws its figures in a forked child alongside the training
(neurosim.report.early): the run folder holds the same bytes as a ``neurosim report``
rebuild of its data files, whether the child draws from the plan, redraws from a
folder unlike the plan, or dies and leaves the figures to the parent."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal

import pytest

from neurosim import api
from neurosim.report import build
from neurosim.report.early import EarlyFigures, _folder_inputs, _planned_inputs
from neurosim.report.figures import PLOTS

from .conftest import HW_RRAM, small_workload

def _two_cores_and_fork() -> bool:
    import multiprocessing as mp

    return (os.cpu_count() or 1) >= 2 and "fork" in mp.get_all_start_methods()


pytestmark = pytest.mark.skipif(not _two_cores_and_fork(), reason="the early figures need two cores and fork")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small run through run_and_write, keeping the costed plan it handed the child."""
    tmp = tmp_path_factory.mktemp("early")
    wl = small_workload(tmp, "mnist_compare.yaml")
    plans = []
    real_plan = EarlyFigures.plan

    def keep(self, costed):
        plans.append(costed)
        real_plan(self, costed)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EarlyFigures, "plan", keep)
        job = api.prepare(HW_RRAM, wl, out=tmp / "run")
        out = api.run_and_write(job)
    assert len(plans) == 1 and out.files[-len(PLOTS) - 1:-1] == list(PLOTS)
    return tmp / "run", plans[0]


def _rebuilt(run_dir, into):
    """The run folder's data files, with comparison.csv, figures and page built again from them in one process."""
    shutil.copytree(run_dir, into)
    for name in [*PLOTS, "report.html", "comparison.csv"]:
        (into / name).unlink()
    build(into)
    return into


def _same_figures(a, b) -> None:
    for name in PLOTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_the_plan_gives_the_folders_chip_inputs(run):
    run_dir, costed = run
    assert _planned_inputs(costed) == _folder_inputs(run_dir)


def test_a_runs_figures_and_page_are_a_rebuilds_bytes(run, tmp_path):
    run_dir, _ = run
    again = _rebuilt(run_dir, tmp_path / "again")
    _same_figures(run_dir, again)
    for name in ("report.html", "comparison.csv"):
        assert (run_dir / name).read_bytes() == (again / name).read_bytes(), name


def _hand_over(early: EarlyFigures, costed, run_dir, into):
    """What a run does with a child: the folder's data files (from ``run_dir``), then the figures."""
    if into != run_dir:
        shutil.copytree(run_dir, into)
    for name in PLOTS:
        (into / name).unlink()
    early.plan(costed)
    early.hand_over(into)
    return early.wait(into)


def test_a_folder_unlike_the_plan_gets_its_own_chip_figures(run, tmp_path):
    run_dir, costed = run
    other = dataclasses.replace(costed, baseline=None)  # no baseline: another comparison, other chip figures
    assert _planned_inputs(other) != _folder_inputs(run_dir)
    early = EarlyFigures.start()
    assert _hand_over(early, other, run_dir, tmp_path / "drawn") == list(PLOTS)
    assert early._process.exitcode == 0  # the child drew them
    _same_figures(_rebuilt(run_dir, tmp_path / "again"), tmp_path / "drawn")


def test_a_child_that_dies_leaves_the_figures_to_the_parent(run, tmp_path):
    run_dir, costed = run
    early = EarlyFigures.start()
    os.kill(early._process.pid, signal.SIGKILL)
    early._process.join()
    drawn = tmp_path / "drawn"
    shutil.copytree(run_dir, drawn)
    (drawn / ".layers.png.k1ll3d.tmp").write_bytes(b"half a figure")  # what a child killed mid-write leaves
    assert _hand_over(early, costed, drawn, drawn) == list(PLOTS)
    _same_figures(_rebuilt(run_dir, tmp_path / "again"), drawn)
    assert not list(drawn.glob(".*"))


def test_a_run_stopped_before_its_plan_stops_the_child(tmp_path):
    early = EarlyFigures.start()
    early.close()  # e.g. the preflight refused the plan
    assert early._process.exitcode is not None
    early.close()  # twice is harmless
