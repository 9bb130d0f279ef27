"""Run outputs: the data files of the output contract, then everything derived
from those files alone (comparison.csv, plots, report.html)."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .early import EarlyFigures

__all__ = ["SUMMARY", "COSTS", "TRAINING", "PLACEMENT", "COMPARISON", "write_run", "build"]

#: Loaded on first use, so that importing a light submodule (``rundir``,
#: ``terminal``) does not load pandas.
_HOMES = {"SUMMARY": "files", "COSTS": "files", "TRAINING": "files", "PLACEMENT": "files",
          "write_run": "files", "COMPARISON": "compare"}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{home}", __name__), name)


def build(run_dir: str | Path, early: EarlyFigures | None = None) -> list[str]:
    """Derive comparison.csv, every plot and report.html from a run directory's
    data files; return the names written. With ``early`` (``neurosim run`` on two
    cores, handed the folder once its data files were written), a forked child that
    drew the chip figures during the training draws the rest while this process writes
    comparison.csv and report.html (:mod:`.early`)."""
    import pandas as pd

    from . import html
    from .compare import COMPARISON, comparison_frame
    from .figures import PLOTS
    from .files import COSTS, SUMMARY, atomic_write_text, csv_text

    from .rundir import read_run

    run_dir = Path(run_dir)
    summary = read_run(run_dir)  # refuses a damaged or mixed folder with one line
    if any("totals" not in a or "per_layer" not in a for a in summary.get("algorithms", {}).values()):
        from ..errors import NeurosimError

        raise NeurosimError(f"{run_dir}/{SUMMARY}: written by an older neurosim (no totals/per_layer); rerun the run")
    comp = comparison_frame(pd.read_csv(run_dir / COSTS), summary)
    atomic_write_text(run_dir / COMPARISON, csv_text(comp))
    if early is None:
        from . import plots

        return [COMPARISON, *plots.draw_all(run_dir), html.write_report(run_dir)]
    page = html.write_report(run_dir, figures=PLOTS)  # every figure: the child or, failing it, `wait` draws them
    return [COMPARISON, *early.wait(run_dir), page]
