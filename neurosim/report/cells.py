"""Ideal against real cells (``numerics: device``): each rule's accuracy on both, and what its
programming cost on the real ones.

With ``numerics: device`` the pipeline trains every rule twice from the same seed and
data: through the cells of the hwconfig's device and on ideal cells (``numerics: ideal``,
:attr:`neurosim.pipeline.AlgorithmRun.ideal`). Two views of the same figures, built on
two paths so that a test can hold them against each other:

- ``cells.csv`` (a data file, from the run itself): one row per (algorithm, numerics);
- the report's table (from ``summary.json``): one row per rule.

===========================  ==================================================================
column                       meaning
===========================  ==================================================================
``test_accuracy``            after the last epoch (fraction); the table adds the gap in points
``write_pulses_per_step``    programming pulses per step, LTP + LTD, summed over the layers
``write_energy_pj_per_step`` ``weight_update`` ``crossbar/pulse`` energy of one step (costs.csv)
``cells_written_per_step``   cells that got at least one pulse in a step (run mean)
``pulses_per_cell_mean``     pulses per cell over the run, mean over every cell of every layer
``pulses_per_cell_max``      pulses per cell over the run, the most-written cell (endurance)
===========================  ==================================================================

The write columns are empty on the ``ideal`` rows: ideal cells are not programmed by
pulses (their rows in costs.csv would be the op graph's one write per cell).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from ..pipeline import AlgorithmRun, RunResult

__all__ = ["CELLS", "CELLS_COLUMNS", "CELLS_HEADER", "CellsRow", "cells_cells", "cells_frame", "cells_rows", "cells_summary", "cells_text", "write_energy_pj"]

CELLS = "cells.csv"
CELLS_COLUMNS = ["algorithm", "numerics", "test_accuracy", "write_pulses_per_step", "write_energy_pj_per_step",
                 "cells_written_per_step", "pulses_per_cell_mean", "pulses_per_cell_max"]


@dataclass(frozen=True)
class CellsRow:
    """One rule on ideal and on real cells (accuracies as fractions; None if it diverged)."""

    algorithm: str
    ideal_accuracy: float | None
    device_accuracy: float | None
    write_pulses_per_step: float
    write_energy_pj_per_step: float
    pulses_per_cell_max: int

    @property
    def gap_pt(self) -> float | None:
        """Accuracy lost on the real cells, in percentage points."""
        if self.ideal_accuracy is None or self.device_accuracy is None:
            return None
        return 100.0 * (self.ideal_accuracy - self.device_accuracy)


def write_energy_pj(costs: pd.DataFrame) -> float:
    """Programming energy of one step: the ``weight_update`` ``crossbar/pulse`` rows."""
    rows = costs[(costs["phase"] == "weight_update") & (costs["component"] == "crossbar") & (costs["action"] == "pulse")]
    return float(rows["energy_pj"].sum())


def _accuracy(result: Any) -> float | None:
    return None if result is None or result.diverged is not None else float(result.final_test_accuracy)


def cells_summary(run: AlgorithmRun) -> dict[str, Any]:
    """summary.json's ``ideal_cells`` of a device run's rule (empty when there is no ideal twin)."""
    if run.ideal is None or run.training is None:
        return {}
    return {
        "ideal_cells": {
            "test_accuracy": _accuracy(run.ideal),
            "test_accuracy_per_epoch": [h.test_accuracy for h in run.ideal.history],
            "diverged": None if run.ideal.diverged is None else {"epoch": run.ideal.diverged.epoch, "step": run.ideal.diverged.step},
        },
        "device_write_energy_pj_per_step": write_energy_pj(run.costs),
    }


def cells_frame(res: RunResult) -> pd.DataFrame:
    """cells.csv: one row per (algorithm, numerics) of every rule trained on both (from the run itself)."""
    import pandas as pd

    rows = []
    for name, run in res.algorithms.items():
        if run.ideal is None or run.training is None:
            continue
        writes = run.training.device_writes
        rows.append({"algorithm": name, "numerics": "ideal", "test_accuracy": _accuracy(run.ideal)})
        cells = sum(w.cells for w in writes)
        rows.append({
            "algorithm": name,
            "numerics": "device",
            "test_accuracy": _accuracy(run.training),
            "write_pulses_per_step": sum(w.pulses_per_step for w in writes),
            "write_energy_pj_per_step": write_energy_pj(run.costs),
            "cells_written_per_step": sum(w.cells_written_per_step for w in writes),
            "pulses_per_cell_mean": sum(w.pulses_per_cell_mean * w.cells for w in writes) / cells if cells else 0.0,
            "pulses_per_cell_max": max((w.pulses_per_cell_max for w in writes), default=0),
        })
    return pd.DataFrame(rows, columns=CELLS_COLUMNS)


def cells_rows(summary: dict) -> list[CellsRow]:
    """The report's table: one row per rule trained on both (from summary.json alone)."""
    out = []
    for name, a in summary["algorithms"].items():
        ideal = a.get("ideal_cells")
        if not ideal:
            continue
        writes = (a.get("device_writes") or {}).values()
        out.append(CellsRow(
            algorithm=name,
            ideal_accuracy=ideal["test_accuracy"],
            device_accuracy=a["test_accuracy"],
            write_pulses_per_step=float(sum(w["ltp_pulses_per_step"] + w["ltd_pulses_per_step"] for w in writes)),
            write_energy_pj_per_step=float(a["device_write_energy_pj_per_step"]),
            pulses_per_cell_max=int(max((w["pulses_per_cell_max"] for w in writes), default=0)),
        ))
    return out


#: The table's header, in the order of :func:`cells_cells`.
CELLS_HEADER = ("rule", "ideal cells", "real cells", "gap", "write pulses / step", "write energy / step",
                "pulses / cell, max (endurance)")


def cells_cells(row: CellsRow) -> list[str]:
    """One table row as text (shared by report.html and the terminal)."""
    from .fmt import count, energy, percent

    gap = row.gap_pt
    return [row.algorithm,
            percent(row.ideal_accuracy) if row.ideal_accuracy is not None else "diverged",
            percent(row.device_accuracy) if row.device_accuracy is not None else "diverged",
            f"{gap:.2f} pt" if gap is not None else "–",
            count(row.write_pulses_per_step), energy(row.write_energy_pj_per_step), f"{row.pulses_per_cell_max:,}"]


def cells_text(summary: dict) -> str:
    """The table as plain text ("" when the run has no ideal twins)."""
    rows = [cells_cells(r) for r in cells_rows(summary)]
    if not rows:
        return ""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(CELLS_HEADER)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join(["ideal against real cells (numerics: device), per step unless said",
                      line(list(CELLS_HEADER)), line(["-" * w for w in widths]), *(line(r) for r in rows)])
