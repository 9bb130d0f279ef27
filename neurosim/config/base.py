"""Shared machinery for the validating config loaders.

``load_model(path, Model)`` reads one YAML file, validates it into a pydantic
model and turns *every* failure (missing file, YAML syntax error, empty file,
unknown key, wrong type, impossible value) into a single :class:`ConfigError`
naming the file, the dotted field path, the YAML line where known, and what was
expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError
from .safe_yaml import read_yaml

__all__ = ["StrictModel", "Sourced", "load_model", "validate_mapping", "format_loc", "read_yaml", "detect_kind",
           "KIND_KEYS", "MAX_MAGNITUDE"]

M = TypeVar("M", bound=BaseModel)

#: Largest magnitude any number of a config may have: beyond it a value is a typo, not a setting.
MAX_MAGNITUDE = 1e12


class StrictModel(BaseModel):
    """Frozen model that rejects unknown keys, and takes values only as written:
    no booleans or strings as numbers (``strict``), no NaN or infinity, and no
    number beyond :data:`MAX_MAGNITUDE` (a typo such as ``1e30``, not a setting;
    checked on the raw file by :func:`validate_mapping`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False, defer_build=True)


class Sourced(StrictModel):
    """A default figure (energy, latency, bandwidth) with the source it comes from."""

    value: float = Field(ge=0)
    source: str = Field(min_length=3, description="paper or tool parameter file")


#: Tags of tagged unions that are not keys of the user's file (``network.layers`` entries).
_UNION_TAGS = ("spec", "width")


def clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop the parts pydantic adds that are not in the user's file (union tags such
    as ``sdfa``, ``function-after[...]``, ``[key]``), by walking ``data`` alongside."""
    out: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            out.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            out.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and not (part.startswith("function-") or "[" in part) \
                and part not in (node.get("name"), node.get("kind"), *_UNION_TAGS):
            out.append(part)  # a key the user left out or added: name it, stop walking
            node = None
    return tuple(out)


def format_loc(loc: tuple[Any, ...]) -> str:
    """Dotted path from a location: ``network.layers[2]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    key = loc
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return None


def _describe(err: dict[str, Any]) -> str:
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        return "unknown key (not a field of this section)"
    if err["type"] == "missing":
        return "required field is missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    inp = err.get("input")
    if err["type"] not in ("missing",) and not isinstance(inp, (dict, list)):
        msg += f" (got {inp!r})"
    return msg


#: Top-level keys that tell a file's kind (a hwconfig, a workload or a sweep file).
KIND_KEYS: dict[str, tuple[str, ...]] = {"hwconfig": ("chip",), "workload": ("network",), "sweep file": ("grid", "points")}

def detect_kind(data: Any) -> str | None:
    """``hwconfig``, ``workload`` or ``sweep file`` from the top-level keys (None: cannot tell)."""
    if not isinstance(data, dict):
        return None
    kinds = [k for k, keys in KIND_KEYS.items() if any(key in data for key in keys)]
    return kinds[0] if len(kinds) == 1 else None


def _absurd(data: Any, path: str, lines: dict[tuple[Any, ...], int]) -> list[ConfigError]:
    """Every number of the raw file beyond MAX_MAGNITUDE, with its path (iterative walk)."""
    out = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, dict):
            stack.extend((v, loc + (k,)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, loc + (i,)) for i, v in enumerate(node))
        elif isinstance(node, (int, float)) and not isinstance(node, bool) and abs(node) > MAX_MAGNITUDE:
            out.append(ConfigError(path, format_loc(loc), f"magnitude beyond any sensible setting (at most {MAX_MAGNITUDE:g}; got {node:g})",
                                   _line_for(loc, lines)))
    return out


def _problems(exc: ValidationError, data: Any, path: str, lines: dict[tuple[Any, ...], int]) -> list[ConfigError]:
    out: list[ConfigError] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = clean_loc(tuple(err["loc"]), data)
        problem = ConfigError(path, format_loc(loc), _describe(err), _line_for(loc, lines))
        if str(problem) not in seen:
            seen.add(str(problem))
            out.append(problem)
    out.sort(key=lambda p: (p.line or 0))
    return out


def validate_mapping(model: type[M], data: Any, path: str, lines: dict[tuple[Any, ...], int] | None = None) -> M:
    """Validate ``data`` into ``model``; raise one ConfigError carrying every problem
    (one line each, in file order). A file of another kind is named as such."""
    if not isinstance(data, dict):
        raise ConfigError(path, "", f"expected a YAML mapping at the top level, got {type(data).__name__}")
    want = getattr(model, "config_kind", None)
    got = detect_kind(data)
    if want is not None and got is not None and got != want:
        raise ConfigError(path, "", f"this is a {got} ({', '.join(KIND_KEYS[got])} section), but a {want} is expected here"
                                    + (" (arguments are HW then WL)" if {got, want} == {"hwconfig", "workload"} else ""))
    absurd = _absurd(data, path, lines or {})
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError.many(absurd + [p for p in _problems(exc, data, path, lines or {}) if p.field not in {a.field for a in absurd}]) from None
    if absurd:
        raise ConfigError.many(absurd)
    return result


def load_model(path: str | Path, model: type[M]) -> M:
    data, lines = read_yaml(path)
    return validate_mapping(model, data, str(path), lines)
