"""The columns of results.csv (a light module: plots and the page need only this)."""

from __future__ import annotations

from ..config.hw import COMPONENTS
from ..records import PHASES

__all__ = ["ID_COLUMN", "FIXED_COLUMNS", "LEVELS", "TRAIN_COLUMNS", "COST_COLUMNS", "METRIC_COLUMNS", "results_columns"]

ID_COLUMN = "point_id"

#: Columns after the swept parameters and before the metrics.
FIXED_COLUMNS: list[str] = ["algorithm", "status", "error"]

#: Data-movement levels of ``HardwareCost.bytes_by_level`` (docs/design.md).
LEVELS: tuple[str, ...] = ("crossbar_io", "sram", "noc_byte_hops", "dram")

#: Figures a training run contributes (cached per workload x algorithm).
TRAIN_COLUMNS: list[str] = ["test_accuracy", "train_accuracy", "final_loss", "epochs"]

#: Figures the chip costing of one point contributes, per algorithm.
COST_COLUMNS: list[str] = (
    ["steps_per_epoch", "macs_per_step"]
    + [f"macs_per_step_{p}" for p in PHASES]
    + ["cycles_per_step"]
    + [f"{p}_phase_cycles" for p in PHASES]
    + ["cycles_per_epoch", "stall_cycles", "latency_s_per_step", "latency_s_per_epoch", "energy_pj_per_step"]
    + [f"energy_pj_per_step_{c}" for c in COMPONENTS]
    + ["energy_pj_per_epoch"]
    + [f"bytes_per_step_{lv}" for lv in LEVELS]
    + ["rram_writes_per_cell_per_epoch_mean", "rram_writes_per_cell_per_epoch_max", "spills"]
)

#: Every metric column of results.csv, in order.
METRIC_COLUMNS: list[str] = TRAIN_COLUMNS + COST_COLUMNS


def results_columns(params: list[str]) -> list[str]:
    """results.csv's columns: id, the swept parameters, algorithm/status/error, metrics."""
    return [ID_COLUMN, *params, *FIXED_COLUMNS, *METRIC_COLUMNS]
