"""Run outputs: the data files of the output contract, plots and report.html."""

from .files import COSTS, PLACEMENT, SUMMARY, TRAINING, write_run

__all__ = ["SUMMARY", "COSTS", "TRAINING", "PLACEMENT", "write_run"]
