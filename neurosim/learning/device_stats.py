"""What a run's programming did to the cells of each layer: pulses, cells written, pulse
slots (write latency) per step, and the distribution of pulses per cell (endurance).

==============================  ===================================================
figure                          from the cells' counters (``totals``: LTP, LTD, written, slots)
==============================  ===================================================
``*_per_step``                  the run's total ÷ steps (every cell significance of the weight)
``pulse_slots_per_step``        row-serial pulse slots of the slowest array, summed ÷ steps
``pulses_per_cell_*``           the pulses each cell received over the run (both cells of a
                                differential pair added), its mean, max and a 10-bin histogram
==============================  ===================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LayerWriteStats", "write_stats"]


@dataclass(frozen=True)
class LayerWriteStats:
    """Programming of one layer's cells over a run (per-step figures are run means)."""

    layer: str
    steps: int
    cells: int
    ltp_pulses_per_step: float
    ltd_pulses_per_step: float
    cells_written_per_step: float
    #: Row-serial pulse slots per step of the slowest array (identical pulses, one row at a time).
    pulse_slots_per_step: float
    pulses_per_cell_mean: float
    pulses_per_cell_max: int
    #: Histogram of pulses per cell over the run: counts and bin edges.
    pulses_per_cell_counts: tuple[int, ...]
    pulses_per_cell_edges: tuple[float, ...]

    @property
    def pulses_per_step(self) -> float:
        return self.ltp_pulses_per_step + self.ltd_pulses_per_step


def write_stats(stack: list, steps: int) -> LayerWriteStats:
    """The figures of one weight's cells (``stack``: the lowest-order cells first, each with
    ``name``, ``pulses`` (sides, n_out, n_in) and ``totals``) after ``steps`` updates."""
    per_cell = np.concatenate([c.pulses.sum(axis=0).ravel() for c in stack])
    totals = sum((c.totals for c in stack[1:]), stack[0].totals.copy())
    top = int(per_cell.max()) if per_cell.size else 0
    counts, edges = np.histogram(per_cell, bins=10, range=(0, max(top, 1)))
    per_step = max(steps, 1)
    return LayerWriteStats(
        layer=stack[0].name,
        steps=steps,
        cells=int(per_cell.size),
        ltp_pulses_per_step=float(totals[0]) / per_step,
        ltd_pulses_per_step=float(totals[1]) / per_step,
        cells_written_per_step=float(totals[2]) / per_step,
        pulse_slots_per_step=float(totals[3]) / per_step,
        pulses_per_cell_mean=float(per_cell.mean()),
        pulses_per_cell_max=top,
        pulses_per_cell_counts=tuple(int(c) for c in counts),
        pulses_per_cell_edges=tuple(float(e) for e in edges),
    )
