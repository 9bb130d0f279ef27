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

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError

__all__ = ["StrictModel", "Sourced", "load_model", "validate_mapping", "format_loc"]

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Frozen model that rejects unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


def _line_index(node: yaml.Node, prefix: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value
            out[prefix + (k,)] = key.start_mark.line + 1
            _line_index(value, prefix + (k,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, prefix + (i,), out)


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


def read_yaml(path: str | Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse a YAML file; return the data and a (path -> line) index."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(str(p), "", "file not found")
    if p.is_dir():
        raise ConfigError(str(p), "", "expected a YAML file, found a directory")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(p), "", f"cannot read file ({exc.__class__.__name__})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(str(p), "", f"YAML syntax error: {exc.problem}", line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), "", f"YAML syntax error: {exc}") from None
    if node is None or data is None:
        raise ConfigError(str(p), "", "file is empty; expected a YAML mapping")
    lines: dict[tuple[Any, ...], int] = {}
    _line_index(node, (), lines)
    return data, lines


def validate_mapping(model: type[M], data: Any, path: str, lines: dict[tuple[Any, ...], int] | None = None) -> M:
    """Validate ``data`` into ``model``; raise one ConfigError for the first problem."""
    if not isinstance(data, dict):
        raise ConfigError(path, "", f"expected a YAML mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = clean_loc(tuple(err["loc"]), data)
        more = len(exc.errors()) - 1
        tail = f" (+{more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        raise ConfigError(path, format_loc(loc), _describe(err) + tail, _line_for(loc, lines or {})) from None


def load_model(path: str | Path, model: type[M]) -> M:
    data, lines = read_yaml(path)
    return validate_mapping(model, data, str(path), lines)
