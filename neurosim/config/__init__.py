"""Validated configuration objects: one ``load(path)`` per config kind.

Names are loaded on first use (module ``__getattr__``), as in :mod:`neurosim.learning`:
``neurosim validate HW`` builds only the hwconfig's models and never imports the
workload's (and a workload's validation never imports the hwconfig's).
"""

from importlib import import_module

_HOMES = {
    "HwConfig": "hw",
    "Workload": "workload",
    "ALGORITHMS": "workload",
    "Sourced": "base",
    "StrictModel": "base",
}

__all__ = ["hw", "workload", "HwConfig", "Workload", "ALGORITHMS", "Sourced", "StrictModel"]


def __getattr__(name: str):
    if name in ("hw", "workload"):
        return import_module(f".{name}", __name__)
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{home}", __name__), name)
