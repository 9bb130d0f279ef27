"""The op graph's data: :class:`Op`, the :class:`Work` an op accumulates while it
is built, the :class:`StepGraph` of one training step, and the batch chunks.

An op holds each unit in ``holds`` (unit key -> busy cycles) for ``duration``
cycles (the longest hold, or longer for a pipelined array read), then waits
``latency`` cycles of pure delay (DRAM access). A transfer op carries a
``route`` (its XY multicast tree) and the ``samples`` it carries; its
dependants wait for *its delivery to their tile* (a dependency is
``(op id, destination tile)``, ``-1`` for "the op finished").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from ..config.hw import HwConfig
from ..config.network import LayerShape
from ..hw.noc import Route
from ..mapping.placement import Placement
from ..records import PHASES, Record

__all__ = ["Dep", "UnitKey", "Op", "Work", "StepGraph", "chunk_sizes", "default_chunks", "work_record"]

_PHASES = frozenset(PHASES)
_new = object.__new__

Dep = tuple[int, int]  # (op id, destination tile for a NoC op or -1)
UnitKey = tuple


@dataclass(slots=True, eq=False)
class Op:
    """One coarse operation of the step graph."""

    id: int
    name: str
    layer: str
    phase: str
    #: batch chunk it works on (None: the whole step)
    chunk: int | None
    tile: int
    deps: list[Dep]
    holds: list[tuple[UnitKey, float]]
    duration: float
    latency: float
    route: Route | None
    #: vectors a transfer carries (its payload is per vector)
    samples: float
    records: list[Record]
    #: (phase, "crossbar" | "core", MACs)
    macs: list[tuple[str, str, float]]
    #: component -> busy unit-cycles (for utilisation)
    busy: dict[str, float]

    def __repr__(self) -> str:
        return f"Op#{self.id}({self.name} {self.layer}/{self.phase} tile={self.tile} chunk={self.chunk} dur={self.duration:g})"


class Work:
    """Accumulates what one op does while it is built: unit holds, records, busy time, MACs."""

    __slots__ = ("holds", "recs", "busy", "macs", "min_duration")

    def __init__(self) -> None:
        self.holds: dict[UnitKey, float] = {}
        self.recs: dict[tuple[str, str, str], list[float]] = {}
        self.busy: dict[str, float] = defaultdict(float)
        self.macs: list[tuple[str, str, float]] = []
        self.min_duration = 0.0

    def hold(self, key: UnitKey, cycles: float) -> None:
        if cycles > 0:
            self.holds[key] = self.holds.get(key, 0.0) + cycles

    def rec(self, phase: str, component: str, action: str, count: float, nbytes: float = 0.0, cycles: float = 0.0) -> None:
        """Add to the op's (phase, component, action) figures; validated here, so that
        :func:`work_record` can make the op's :class:`Record` rows without validating again."""
        if count <= 0:
            return
        if phase not in _PHASES or nbytes < 0 or cycles < 0:
            raise ValueError(f"bad record {(phase, component, action, count, nbytes, cycles)}")
        key = (phase, component, action)
        acc = self.recs.get(key)
        if acc is None:
            self.recs[key] = [count, nbytes, cycles]
        else:
            acc[0] += count
            acc[1] += nbytes
            acc[2] += cycles


def work_record(layer: str, phase: str, component: str, action: str, count: float, nbytes: float, cycles: float) -> Record:
    """A :class:`Record` from figures :meth:`Work.rec` has validated (the graph makes ~50k per
    large step; the dataclass constructor's checks would double their cost)."""
    r = _new(Record)
    r.__dict__.update(layer=layer, phase=phase, component=component, action=action, count=count, bytes=nbytes, cycles=cycles)
    return r


@dataclass
class StepGraph:
    """The ops of one training step plus what is needed to chain steps."""

    hw: HwConfig
    placement: Placement
    shapes: list[LayerShape]
    batch: int
    algo: object
    chunk_sizes: list[int]
    ops: list[Op]
    spills: list[str]
    #: cross-step edges: (op of step s, op of step s+1 that waits for it)
    carry: list[tuple[int, int]] = field(default_factory=list)
    #: cells programmed per step, and all cells of placed blocks (endurance)
    cells_written_per_step: float = 0.0
    cells_total: float = 0.0

    def records(self) -> list[Record]:
        """Hardware records of the step, summed per (layer, phase, component, action)."""
        acc: dict[tuple[str, str, str, str], list[float]] = {}
        for op in self.ops:
            for r in op.records:
                key = (r.layer, r.phase, r.component, r.action)
                a = acc.get(key)
                if a is None:
                    acc[key] = [r.count, r.bytes, r.cycles]
                else:
                    a[0] += r.count
                    a[1] += r.bytes
                    a[2] += r.cycles
        return [Record(k[0], k[1], k[2], k[3], v[0], v[1], v[2]) for k, v in sorted(acc.items())]

    def expanded(self, steps: int) -> Iterable[tuple[int, Op, list[Dep]]]:
        """The graph repeated ``steps`` times, in topological order: for each op of
        each step its global index ``s * len(ops) + op.id`` and the global
        ``(op, destination)`` keys it waits for, its own deps and the carry edges
        from the previous step."""
        n = len(self.ops)
        carry_in: dict[int, list[int]] = defaultdict(list)
        for u, v in self.carry:
            carry_in[v].append(u)
        for s in range(steps):
            base = s * n
            for op in self.ops:
                preds = []
                for d, dest in op.deps:
                    if d >= op.id:  # pragma: no cover - a builder bug
                        raise RuntimeError(f"{op} depends on a later op #{d}")
                    preds.append((base + d, dest))
                if s > 0:
                    preds.extend((base - n + u, -1) for u in carry_in.get(op.id, ()))
                yield base + op.id, op, preds

    def macs(self) -> dict[tuple[str, str], dict[str, float]]:
        """(layer, phase) -> {"crossbar": MACs, "core": MACs} executed by the graph."""
        out: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: {"crossbar": 0.0, "core": 0.0})
        for op in self.ops:
            for phase, where, n in op.macs:
                out[(op.layer, phase)][where] += n
        return dict(out)


def chunk_sizes(batch: int, chunks: int) -> list[int]:
    k = max(1, min(batch, chunks))
    base, extra = divmod(batch, k)
    return [base + (1 if i < extra else 0) for i in range(k)]


def default_chunks(batch: int) -> int:
    """Batch chunks the step is streamed in: up to 8."""
    return min(batch, 8)
