"""Imports flow one way: config → data/learning → hw/mapping → sim → ledger → report → cli.

Every ``neurosim`` module's imports (read with ``ast``, so lazy imports inside
functions count too) may reach only units of a strictly lower layer, or its own
unit. A new top-level module must be given a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "neurosim"

#: Layer of each top-level unit (a subpackage or a module of ``neurosim``).
LAYER: dict[str, int] = {
    "__init__": 0, "errors": 0, "vocabulary": 0, "paths": 0,
    "records": 1, "config": 1, "kernels": 1,
    "data": 2, "learning": 2, "stages": 2, "accounting": 2,
    "counts": 3, "hw": 3, "mapping": 3,
    "sim": 4,
    "ledger": 5,
    "preflight": 6,
    "pipeline": 7,
    "report": 8,
    "api": 9, "sweep": 9,
    "cli": 10, "__main__": 11,
}


def _unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    return rel[0]


def _imports(path: Path) -> set[str]:
    """Top-level neurosim units ``path`` imports (absolute or relative, anywhere in the file)."""
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    package = ("neurosim", *rel[:-1])  # the package the module sits in
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                parts = base + (node.module.split(".") if node.module else [])
            else:
                parts = (node.module or "").split(".")
            if parts[0] != "neurosim":
                continue
            if len(parts) > 1:
                out.add(parts[1])
            else:  # from neurosim import x / from . import x (at the top)
                out.update(a.name if a.name in LAYER else "__init__" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("neurosim."))
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_unit_has_a_layer():
    assert {_unit(p) for p in MODULES} <= set(LAYER), sorted({_unit(p) for p in MODULES} - set(LAYER))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_imports_flow_one_way(path):
    unit = _unit(path)
    upward = sorted(t for t in _imports(path) if t != unit and t != "__init__" and LAYER.get(t, 99) >= LAYER[unit])
    assert not upward, f"{path.relative_to(PACKAGE)} (layer {LAYER[unit]}) imports {upward} (layers {[LAYER.get(t) for t in upward]})"
