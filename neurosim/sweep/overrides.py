"""Overrides: whether a routed key names a field of its config's schema, and
a base config with a point's overrides set."""

from __future__ import annotations

import copy
import types
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel

from .keys import Key, SweepError

__all__ = ["known_path", "apply_overrides"]



def _unwrap(t: Any) -> Any:
    while True:
        origin = typing.get_origin(t)
        if origin is typing.Annotated:
            t = typing.get_args(t)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(t) if a is not type(None)]
            if len(args) == 1:
                t = args[0]
                continue
        return t


def known_path(model: type[BaseModel], path: tuple[str | int, ...]) -> bool:
    """Whether ``path`` can address a field of ``model`` (unions are taken leniently)."""
    t: Any = model
    for part in path:
        t = _unwrap(t)
        origin = typing.get_origin(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            if not isinstance(part, str) or part not in t.model_fields:
                return False
            t = t.model_fields[part].annotation
        elif origin is list:
            if not isinstance(part, int):
                return False
            t = typing.get_args(t)[0]
        elif origin is dict:
            kt, vt = typing.get_args(t)
            if typing.get_origin(kt) is Literal and part not in typing.get_args(kt):
                return False
            t = vt
        elif origin in (Union, types.UnionType):  # e.g. the algorithm configs: any member will do
            members = [_unwrap(a) for a in typing.get_args(t)]
            return any(isinstance(m, type) and issubclass(m, BaseModel) and part in m.model_fields for m in members)
        else:
            return False
    return True


def apply_overrides(base: dict, overrides: dict[Key, Any], target: str) -> dict:
    """A deep copy of ``base`` with the overrides of ``target`` set (missing
    mappings on the way are created; list indices must exist)."""
    data = copy.deepcopy(base)
    for key, value in overrides.items():
        if key.target != target:
            continue
        node: Any = data
        for i, part in enumerate(key.path):
            last = i == len(key.path) - 1
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    raise SweepError(f"{key.column}: index [{part}] is not an item of the base config's list")
                if last:
                    node[part] = copy.deepcopy(value)
                else:
                    node = node[part]
            else:
                if not isinstance(node, dict):
                    raise SweepError(f"{key.column}: {part!r} is set below a value that is not a mapping")
                if last:
                    node[part] = copy.deepcopy(value)
                else:
                    if not isinstance(node.get(part), (dict, list)):
                        node[part] = {}
                    node = node[part]
    return data

