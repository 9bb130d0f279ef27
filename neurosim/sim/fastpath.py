"""The exact answer without the DES where nothing contends.

:func:`fast_simulate` computes the contention-free schedule of ``steps`` chained
copies of a step graph (:func:`~neurosim.sim.analytic.schedule`) with every
unit hold, and checks that no unit is ever asked for by more holds at once than
it has capacity (an SRAM has ``ports``; every other unit 1). If so, no op of
the DES would ever queue, so the DES would produce exactly this schedule — the
times are summed in the DES's own order — and the result is returned as a
:class:`~neurosim.sim.des.SimResult` (no stalls). Otherwise it returns None and
the caller runs the DES. ``tests/test_fastpath.py`` checks both claims.
"""

from __future__ import annotations

import heapq
from collections import defaultdict

from .analytic import Schedule, schedule
from .des import UNIT_KINDS, SimResult
from .ops import StepGraph

__all__ = ["fast_simulate", "contention_free"]


def _capacity(graph: StepGraph, kind: str) -> int:
    cls, section = UNIT_KINDS[kind]
    return cls(getattr(graph.hw, section)).capacity


def contention_free(graph: StepGraph, sch: Schedule) -> bool:
    """No unit is held by more ops at once than its capacity in the schedule ``sch``."""
    capacity: dict[str, int] = {}
    for key, spans in sch.holds.items():
        cap = capacity.get(key[0])
        if cap is None:
            cap = capacity[key[0]] = _capacity(graph, key[0])
        if len(spans) <= cap:
            continue
        busy: list[float] = []
        for begin, finish in sorted(spans):
            while busy and busy[0] <= begin:
                heapq.heappop(busy)
            heapq.heappush(busy, finish)
            if len(busy) > cap:
                return False
    return True


def _roots_collide(graph: StepGraph) -> bool:
    """Ops that wait for nothing start together: more of them on one unit than it serves
    at once (e.g. every chunk's DRAM load) is contention, known without a schedule."""
    starting: dict[tuple, int] = defaultdict(int)
    for op in graph.ops:
        if not op.deps:
            for key, _cycles in op.holds:
                starting[key] += 1
    return any(n > _capacity(graph, key[0]) for key, n in starting.items())


def fast_simulate(graph: StepGraph, steps: int = 1) -> SimResult | None:
    """The DES's result, computed without it, when no unit contends; else None."""
    if _roots_collide(graph):
        return None
    sch = schedule(graph, steps, with_holds=True)
    if not contention_free(graph, sch):
        return None
    busy: dict[str, float] = defaultdict(float)
    for op in graph.ops:
        for comp, v in op.busy.items():
            busy[comp] += v * steps
    return SimResult(
        makespan=sch.step_end[-1] if sch.step_end else 0.0,
        step_end=sch.step_end,
        ready=sch.start.copy(),
        start=sch.start,
        end=sch.end,
        arrivals=sch.arrivals,
        critical_dep=sch.critical_dep,
        stall_cycles=0.0,
        busy=dict(busy),
        n_ops=len(graph.ops) * steps,
    )
