"""Validated configuration objects: one ``load(path)`` per config kind."""

from . import hw, workload
from .base import Sourced, StrictModel
from .hw import HwConfig
from .workload import ALGORITHMS, Workload

__all__ = ["hw", "workload", "HwConfig", "Workload", "ALGORITHMS", "Sourced", "StrictModel"]
