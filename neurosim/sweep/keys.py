"""Sweep keys: a dotted key routed to the hwconfig or the workload.

Keys are routed by their first part: a top-level hwconfig section (``chip``,
``crossbar``, ``core``, ``sram``, ``noc``, ``dram``, ``energy``, ``device``)
addresses the hwconfig, anything else the workload (``training.batch_size``,
``seed``, ``network.layers[1]``...); an explicit ``hw.`` or ``wl.`` prefix
overrides the routing. List items are addressed as ``layers[1]`` (or ``layers.1``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..errors import NeurosimError

__all__ = ["HW_SECTIONS", "SweepError", "Key", "parse_key"]

HW_SECTIONS: tuple[str, ...] = ("chip", "crossbar", "core", "sram", "noc", "dram", "energy", "device")



class SweepError(NeurosimError):
    """A sweep's specification or output folder is unusable (one line)."""


# --------------------------------------------------------------------------- keys

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Key:
    """A routed dotted key: which config (``hw``/``wl``) and the path inside it."""

    target: Literal["hw", "wl"]
    path: tuple[str | int, ...]

    @property
    def dotted(self) -> str:
        """``network.layers[1]``: the path without the routing prefix."""
        out = ""
        for p in self.path:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
        return out

    @property
    def column(self) -> str:
        """The column name in results.csv: the dotted path, prefixed only where
        the plain path would route elsewhere (e.g. ``hw.name``)."""
        implied = "hw" if isinstance(self.path[0], str) and self.path[0] in HW_SECTIONS else "wl"
        return self.dotted if implied == self.target else f"{self.target}.{self.dotted}"


def parse_key(text: str, where: str = "--set") -> Key:
    """Route ``text`` (``crossbar.rows``, ``hw.name``, ``network.layers[1]``)."""
    raw = str(text).strip()
    parts: list[str | int] = []
    pos = 0
    for m in _PART.finditer(raw):
        if m.start() != pos and (pos == 0 or raw[pos:m.start()] != "."):
            raise SweepError(f"{where}: bad key {text!r}: expected dotted names like crossbar.rows or network.layers[1]")
        pos = m.end()
        if m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            name = m.group(1).strip()
            parts.append(int(name) if name.isdigit() else name)
    if not raw or pos != len(raw) or not parts or isinstance(parts[0], int):
        raise SweepError(f"{where}: bad key {text!r}: expected dotted names like crossbar.rows or network.layers[1]")
    if parts[0] in ("hw", "wl"):
        target, path = parts[0], tuple(parts[1:])
        if not path or isinstance(path[0], int):
            raise SweepError(f"{where}: bad key {text!r}: nothing after the {parts[0]}. prefix")
    else:
        target = "hw" if parts[0] in HW_SECTIONS else "wl"
        path = tuple(parts)
    return Key(target, path)  # type: ignore[arg-type]

