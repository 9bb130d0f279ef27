"""The one record type every counter and the simulator emit.

Following Accelergy, counting code emits only ``(component, action, count)``
plus the bytes and cycles it knows; energy is attached later by the ledger as
``count x energy-table figure``. Records live at the bottom of the import graph
so that learning, mapping and sim can all emit them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .vocabulary import PHASES

__all__ = ["PHASES", "Record"]


@dataclass(frozen=True)
class Record:
    """``count`` actions of ``component`` in ``phase`` of ``layer`` for one training step."""

    layer: str
    phase: str
    component: str
    action: str
    count: float
    bytes: float = 0.0
    cycles: float = 0.0

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"unknown phase {self.phase!r}")
        if self.count < 0 or self.bytes < 0 or self.cycles < 0:
            raise ValueError(f"negative figure in {self}")
