"""Reading a YAML config file that may be hostile: bounded in size, depth and expansion.

``read_yaml(path)`` returns the data and a (field path -> line) index, or raises
one :class:`ConfigError` naming the file (and line) when the file

===============================  ==========================================================
is not a regular readable file   a directory, missing, unreadable, not UTF-8, has NUL bytes
is larger than ``MAX_BYTES``     read at most ``MAX_BYTES + 1`` bytes (``/dev/zero`` too)
has over ``MAX_VALUES`` values   counted on the event stream, before anything is built
nests deeper than ``MAX_DEPTH``  checked on the parser's event stream (no recursion)
has more than ``MAX_ALIASES``    ``*alias`` uses, or expands (aliases followed) to more than
                                 ``MAX_NODES`` nodes: a "billion laughs" bomb is refused
                                 from its composed graph, never expanded
refers to itself                 ``loop: &a [*a]`` (a cycle), found by an iterative walk
repeats a key                    ``rows: 64`` twice in one mapping is an error, not "last wins"
===============================  ==========================================================

Every walk here is iterative, so no input can raise ``RecursionError``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "MAX_ALIASES", "MAX_NODES", "read_yaml", "parse_yaml"]

#: Largest config file read (a shipped config is under 10 KiB).
MAX_BYTES = 128 << 10
#: Most values (scalars, mappings, sequences) written in one file (a shipped config has about 300):
#: counted on the event stream, so a file of many small values is refused before it is built.
MAX_VALUES = 10_000
#: Deepest nesting of mappings and sequences (a config needs about 5).
MAX_DEPTH = 32
#: Most ``*alias`` references in one file.
MAX_ALIASES = 256
#: Most values once every alias is followed.
MAX_NODES = 20_000


def _read_text(p: Path) -> str:
    if not p.exists():
        raise ConfigError(str(p), "", "file not found")
    if p.is_dir():
        raise ConfigError(str(p), "", "expected a YAML file, found a directory")
    try:
        with open(p, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode) and not stat.S_ISFIFO(os.fstat(f.fileno()).st_mode):
                raise ConfigError(str(p), "", "expected a regular YAML file, found a device or socket")
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(str(p), "", f"cannot read file ({exc.strerror or exc.__class__.__name__})") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(str(p), "", f"file is larger than {MAX_BYTES // 1024} KiB; a config is a few KiB")
    if b"\x00" in raw:
        raise ConfigError(str(p), "", "file holds NUL bytes: not a YAML text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), "", f"not UTF-8 text (byte {exc.start})") from None


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: fast on big files


class _Loader(_BaseLoader):
    """SafeLoader that refuses a key repeated in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value", key_node.start_mark) from None
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _check_events(text: str, path: str) -> None:
    """Depth, value and alias counts, from the parser's flat event stream."""
    depth = aliases = values = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            values += 1
            if values > MAX_VALUES:
                raise ConfigError(path, "", f"more than {MAX_VALUES} values; a config has a few hundred", event.start_mark.line + 1)
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(path, "", f"nested deeper than {MAX_DEPTH} levels", event.start_mark.line + 1)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ConfigError(path, "", f"more than {MAX_ALIASES} aliases (*name)", event.start_mark.line + 1)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_graph(root: yaml.Node, path: str) -> None:
    """No cycle, and at most MAX_NODES nodes with aliases followed (sizes memoised per node)."""
    size: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_stack.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            if size[key] > MAX_NODES:
                raise ConfigError(path, "", f"expands to more than {MAX_NODES} values (aliases followed): an alias bomb?",
                                  node.start_mark.line + 1)
            continue
        if key in size:
            continue
        if key in on_stack:
            raise ConfigError(path, "", "an alias refers to the node that contains it (a recursive structure)", node.start_mark.line + 1)
        on_stack.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_stack:
                raise ConfigError(path, "", "an alias refers to the node that contains it (a recursive structure)",
                                  child.start_mark.line + 1)
            if id(child) not in size:
                stack.append((child, False))


def _line_index(root: yaml.Node) -> dict[tuple[Any, ...], int]:
    """(field path) -> 1-based line, iteratively (the graph is acyclic and bounded by now)."""
    out: dict[tuple[Any, ...], int] = {}
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, prefix = stack.pop()
        out.setdefault(prefix, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                k = key.value if isinstance(key, yaml.ScalarNode) else None
                out[prefix + (k,)] = key.start_mark.line + 1
                stack.append((value, prefix + (k,)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, prefix + (i,)))
    return out


def parse_yaml(text: str, path: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse config text safely; return the data and its line index."""
    try:
        _check_events(text, path)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ConfigError(path, "", "file is empty; expected a YAML mapping")
            _check_graph(node, path)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(path, "", f"YAML syntax error: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, "", f"YAML syntax error: {' '.join(str(exc).split())}") from None
    if data is None:
        raise ConfigError(path, "", "file is empty; expected a YAML mapping")
    return data, _line_index(node)


def read_yaml(path: str | Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Read and parse a config file; see the module docstring for what is refused."""
    p = Path(path)
    return parse_yaml(_read_text(p), str(p))
