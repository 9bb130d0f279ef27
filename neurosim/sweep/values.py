"""Sweep values: ``--set`` strings read with YAML scalar rules, a point's
stable id, and a value as a results.csv cell."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

import yaml

from .keys import Key, SweepError, parse_key

__all__ = ["as_numbers", "parse_value", "split_values", "parse_set", "parse_sets", "point_id", "format_value"]

_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def as_numbers(v: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; take it as the number it is (YAML 1.2)."""
    if isinstance(v, str) and _FLOAT.match(v.strip()):
        return float(v)
    if isinstance(v, list):
        return [as_numbers(x) for x in v]
    if isinstance(v, dict):
        return {k: as_numbers(x) for k, x in v.items()}
    return v


def parse_value(text: str) -> Any:
    """One value with YAML scalar rules: ``64`` int, ``0.5`` / ``1e-3`` float,
    ``4x4`` str, ``null`` None, ``[784, 64, 10]`` list."""
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        raise SweepError(f"--set: cannot read value {text!r} as YAML") from None
    if v is None and text.strip() not in ("null", "~", "Null", "NULL"):
        v = text  # an empty string stays a string
    return as_numbers(v)


def split_values(text: str) -> list[str]:
    """Split ``a,b,[1,2],c`` at the commas outside brackets and quotes."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return [v.strip() for v in out]


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``crossbar.rows=64,128,256`` -> ``("crossbar.rows", [64, 128, 256])``."""
    if "=" not in text:
        raise SweepError(f"--set {text!r}: expected KEY=V1,V2,... (e.g. crossbar.rows=64,128)")
    key, _, values = text.partition("=")
    parse_key(key.strip(), "--set")
    vals = split_values(values)
    if not values.strip() or any(v == "" for v in vals):
        raise SweepError(f"--set {text!r}: expected a comma list of values after '='")
    parsed = [parse_value(v) for v in vals]
    for v in parsed:
        if isinstance(v, float) and not math.isfinite(v):
            raise SweepError(f"--set {text!r}: values must be finite (got {v})")
    return key.strip(), parsed


def parse_sets(sets) -> dict[str, list[Any]]:
    """Several ``--set`` options into a grid; a key given twice is an error, not "last wins"."""
    grid: dict[str, list[Any]] = {}
    for s in sets:
        k, vals = parse_set(s)
        if k in grid:
            raise SweepError(f"--set {k}: given twice; put every value in one option, e.g. {k}={','.join(map(str, grid[k] + vals))}")
        grid[k] = vals
    return grid


def _canonical(v: Any) -> Any:
    """JSON-stable form of a value (tuples as lists, -0.0 as 0.0)."""
    if isinstance(v, (list, tuple)):
        return [_canonical(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _canonical(x) for k, x in v.items()}
    if isinstance(v, float) and v == 0:
        return 0.0
    return v


def point_id(overrides: dict[Key, Any]) -> str:
    """Stable 12-hex id of a point: a hash of its routed overrides (order-free)."""
    items = sorted(([k.target, [str(p) if isinstance(p, str) else p for p in k.path], _canonical(v)] for k, v in overrides.items()),
                   key=lambda t: json.dumps(t[:2]))
    blob = json.dumps(items, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def format_value(v: Any) -> Any:
    """A value as a results.csv cell: scalars as they are, lists/dicts as compact JSON."""
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(_canonical(v), separators=(",", ":"))
    if isinstance(v, float) and math.isnan(v):
        return v
    return v
