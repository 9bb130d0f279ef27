"""A run's figures drawn in a forked child while its rules train.

On two cores, ``neurosim run`` forks this child before its preflight (where it can
fork); the child loads matplotlib while the parent checks the plan::

    parent  chip model ─ plan ─▶ dry steps, train every rule ─ data files ─ run dir ─▶ comparison.csv, report.html ─ wait
    child   import matplotlib ◀ plan ─ chip figures ........................... ◀ run dir ─ training figures, write all

The chip figures (:data:`.figures.CHIP_PLOTS`) read the ledger, the placement,
comparison.csv and the summary's chip figures (:func:`.plots.chip_view`), none of
which the training changes unless the ledger needs it
(:func:`neurosim.pipeline.ledger_needs_training`: such runs do not start the child).
The child makes those inputs from the costed plan exactly as the run folder will
hold them (the same CSV text, read back; the summary through JSON) and draws from
them. Once the folder's data files are written it compares them with the inputs the
files give (comparison.csv made from them as ``build`` makes it), and draws the chip
figures again from the files if they differ; the training figures it draws from the
files. The figures are therefore the bytes a ``neurosim report`` of the
folder draws (tests/test_early_figures.py). A child that fails or is gone leaves every
figure to the parent, which draws them as :func:`neurosim.report.build` does.
"""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from ..pipeline import CostedPlan

__all__ = ["EarlyFigures", "WAIT_SECONDS"]

#: How long a run waits for the child once the folder is handed over (its work then takes
#: a few seconds); a child that hangs is stopped and the parent draws the figures itself.
WAIT_SECONDS = 300.0


@dataclass(frozen=True)
class _ChipInputs:
    """Everything the chip figures read, as the run folder holds it."""

    costs_csv: str
    placement_csv: str
    comparison_csv: str
    view: dict


def _planned_inputs(costed: CostedPlan) -> _ChipInputs:
    """The chip figures' inputs from the costed plan: the files the run will write, not yet written."""
    import pandas as pd

    from .compare import comparison_frame
    from .files import costs_frame, csv_text, dumps_json, placement_frame, summarize
    from .plots import chip_view

    res = costed.result()
    costs = csv_text(costs_frame(res))
    summary = json.loads(dumps_json(summarize(res, hw_path="", workload_path="")))
    comparison = csv_text(comparison_frame(pd.read_csv(io.StringIO(costs)), summary))
    return _ChipInputs(costs, csv_text(placement_frame(res)), comparison, chip_view(summary))


def _folder_inputs(run_dir: Path) -> _ChipInputs:
    """The chip figures' inputs from the run folder's data files (comparison.csv made from them as ``build`` makes it)."""
    import pandas as pd

    from .compare import comparison_frame
    from .files import COSTS, PLACEMENT, SUMMARY, csv_text
    from .plots import chip_view

    def text(name: str) -> str:
        return (run_dir / name).read_text(encoding="utf-8")

    costs, summary = text(COSTS), json.loads(text(SUMMARY))
    comparison = csv_text(comparison_frame(pd.read_csv(io.StringIO(costs)), summary))
    return _ChipInputs(costs, text(PLACEMENT), comparison, chip_view(summary))


def _chip_pngs(inputs: _ChipInputs) -> dict[str, bytes]:
    import pandas as pd

    from .plots import chip_figures, png

    def frame(text: str) -> pd.DataFrame:
        return pd.read_csv(io.StringIO(text))

    figures = chip_figures(frame(inputs.costs_csv), frame(inputs.placement_csv), frame(inputs.comparison_csv), inputs.view)
    return {name: png(function(*args)) for name, function, args in figures}


def _draw_run(conn: Connection) -> int:
    """The child's work (see the module docstring); 0 when every figure is written or the parent gave up."""
    from . import plots  # matplotlib and pandas: loaded while the parent runs its preflight
    from .files import atomic_write_bytes

    try:
        costed = conn.recv()
    except EOFError:  # the run stopped before its plan passed
        return 0
    planned = _planned_inputs(costed)
    pngs = _chip_pngs(planned)
    try:
        run_dir = Path(conn.recv())
    except EOFError:  # the run stopped during training
        return 0
    written = _folder_inputs(run_dir)
    if written != planned:  # the folder holds other chip figures than the plan: draw them from it
        pngs = _chip_pngs(written)
    pngs.update((name, plots.png(function(*args))) for name, function, args in plots.read_training_figures(run_dir))
    for name in plots.PLOTS:
        atomic_write_bytes(run_dir / name, pngs[name])
    return 0


def _child(conn: Connection, parent_end: Connection) -> None:
    """A forked child's body: draw, then leave without the parent's exit handlers."""
    code = 1
    try:
        parent_end.close()
        code = _draw_run(conn)
    finally:
        os._exit(code)


class EarlyFigures:
    """The parent's handle on the drawing child: :meth:`start`, :meth:`plan` once the
    preflight passed, :meth:`hand_over` once the folder's data files are written,
    :meth:`wait` for the figures; :meth:`close` on every way out."""

    def __init__(self, process: mp.process.BaseProcess, conn: Connection):
        self._process = process
        self._conn = conn
        self._sender: threading.Thread | None = None
        self._sent_all = True  # every send so far reached the pipe
        self._handed_over = False

    @classmethod
    def start(cls) -> EarlyFigures | None:
        """Fork the child; None where there is one core or no ``fork`` (the run then draws at the end)."""
        if (os.cpu_count() or 1) < 2 or "fork" not in mp.get_all_start_methods():
            return None
        ctx = mp.get_context("fork")
        child_end, parent_end = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_child, args=(child_end, parent_end), daemon=True)
        process.start()
        child_end.close()
        return cls(process, parent_end)

    def _send(self, obj: object) -> None:
        try:
            self._conn.send(obj)
        except (OSError, ValueError):  # the child is gone: the parent draws
            self._sent_all = False

    def plan(self, costed: CostedPlan) -> None:
        """Hand the child the costed plan, from a background thread (the pipe may be full
        while the child still imports): the parent goes on to train."""
        self._sender = threading.Thread(target=self._send, args=(costed,), daemon=True)
        self._sender.start()

    def hand_over(self, run_dir: Path) -> None:
        """The folder's data files are written: the child draws the rest and writes every figure."""
        if self._sender is None:
            return
        self._sender.join()
        if self._sent_all:
            self._send(str(run_dir))
            self._handed_over = self._sent_all

    def wait(self, run_dir: Path) -> list[str]:
        """Wait for the child; if it did not write every figure, draw them here. The figures' names."""
        if self._handed_over:
            self._process.join(WAIT_SECONDS)
        self.close()  # a child still at work by then is stopped, and the figures drawn here
        if not (self._handed_over and self._process.exitcode == 0):
            from . import plots

            for left in Path(run_dir).glob(".*.png.*.tmp"):  # a figure the child was writing when it died
                left.unlink(missing_ok=True)
            return plots.draw_all(run_dir)
        from .figures import PLOTS

        return list(PLOTS)

    def close(self) -> None:
        """Stop a child that is still at work (the run stopped early) and reap it."""
        if self._conn.closed:
            return
        if self._process.exitcode is None:
            self._process.terminate()
        self._process.join()
        if self._sender is not None:
            self._sender.join()  # the child's end is closed: a blocked send fails at once
        self._conn.close()
