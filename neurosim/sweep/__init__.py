"""Architect sweeps: many chip (and workload) variants, each algorithm trained once.

>>> from neurosim.sweep import SweepSpec, run_sweep
>>> spec = SweepSpec.from_cli("hwconfigs/rram_tile.yaml", "workloads/mnist_compare.yaml",
...                           ["crossbar.rows=64,128,256", "noc.mesh=4x4,8x8"], algorithms=["bp", "dfa"])
>>> df = run_sweep(spec)            # doctest: +SKIP  (writes reports/sweep__mnist_compare__<hw>/)

See docs/sweeps.md. Names are imported lazily, so ``neurosim --help`` does not
pay for the learning and simulator imports.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SweepSpec": "spec",
    "SweepError": "spec",
    "Key": "spec",
    "Point": "spec",
    "HW_SECTIONS": "spec",
    "parse_key": "spec",
    "parse_set": "spec",
    "parse_value": "spec",
    "run_sweep": "runner",
    "plan_sweep": "runner",
    "ID_COLUMN": "columns",
    "FIXED_COLUMNS": "columns",
    "METRIC_COLUMNS": "columns",
    "RESULTS": "store",
    "MANIFEST": "store",
    "HTML": "store",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
