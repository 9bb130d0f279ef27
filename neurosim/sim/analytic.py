"""Contention-free latency of a step graph: the longest path with service times.

With unlimited units (no op ever queues), an op starts when its last input is
ready: ``start = max(end of each dependency)`` (for a transfer dependency, its
delivery time at the op's tile); a compute op ends ``duration + latency`` later;
a transfer's head crosses one hop every ``router + link`` cycles and delivers to
``d`` ``(samples × max flits on the path − 1) × link`` cycles after its head
arrives. Ops are built in dependency order, so a single pass computes every
time. The DES can only be slower: its excess over this bound is contention
(queueing for arrays, ADCs, cores, SRAM ports, links, DRAM).

The times are summed in the order the DES advances its clock (``start +
duration`` then ``+ latency``; one ``+ head`` per hop), so where nothing
contends the two agree to the last bit. :func:`schedule` also returns when each
unit is held (an op's unit from its start for that unit's service cycles, a
link from the moment the transfer's head requests it for its flits), which is
what :mod:`.fastpath` checks to know that nothing contends.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .ops import Dep, StepGraph

__all__ = ["AnalyticResult", "Schedule", "schedule", "longest_path"]


@dataclass
class Schedule:
    """Contention-free times of ``steps`` chained copies of a step graph."""

    start: np.ndarray
    end: np.ndarray
    #: (global op index, destination tile) -> delivery time of a transfer
    arrivals: dict[tuple[int, int], float]
    #: global op index -> the dependency that became ready last (the first such, in dependency order)
    critical_dep: dict[int, Dep]
    #: unit key -> [(start, end)] of every hold
    holds: dict[tuple, list[tuple[float, float]]] = field(default_factory=dict)
    step_end: list[float] = field(default_factory=list)


@dataclass
class AnalyticResult:
    makespan: float
    step_end: list[float]
    end: np.ndarray
    phase_cycles: dict[str, float]


def _transfer(route, t: float, samples: float, head: float, link_c: float, holds) -> dict[int, float]:
    """Delivery time per destination of a transfer starting at ``t``; records its link holds."""
    at: dict[int, float] = {}
    out: dict[int, float] = {}
    stack = [(c, t) for c in route.children.get(-1, ())]
    while stack:
        h, now = stack.pop()
        link_id, _parent, node, _nbytes, fps = route.hops[h]
        if holds is not None:
            holds[("link", link_id)].append((now, now + samples * fps * link_c))
        now = now + head
        at[h] = now
        d = route.dests.get(node)
        if d is not None:
            out[node] = now + max((samples * d[1] - 1) * link_c, 0.0)
        stack.extend((c, now) for c in route.children.get(h, ()))
    return out


def schedule(graph: StepGraph, steps: int = 1, with_holds: bool = False) -> Schedule:
    """Contention-free start, end and delivery times (and unit holds if asked)."""
    ops = graph.ops
    n = len(ops)
    hw = graph.hw
    head = hw.noc.router_cycles_per_hop.value + hw.noc.link_cycles_per_hop.value
    link_c = hw.noc.link_cycles_per_hop.value
    total = n * steps
    start = np.zeros(total)
    end = np.zeros(total)
    arr: dict[tuple[int, int], float] = {}
    critical: dict[int, Dep] = {}
    holds: dict[tuple, list[tuple[float, float]]] | None = defaultdict(list) if with_holds else None
    for g, op, preds in graph.expanded(steps):
        t = 0.0
        last: Dep | None = None
        for d, dest in preds:
            ready = arr[(d, dest)] if dest >= 0 else end[d]
            if last is None or ready > t:
                t, last = max(t, ready), (d, dest)
        if last is not None:
            critical[g] = last
        start[g] = t
        if op.route is not None:
            delivered = _transfer(op.route, t, op.samples, head, link_c, holds)
            for dest, a in delivered.items():
                arr[(g, dest)] = a
            end[g] = max(delivered.values(), default=t)
        else:
            if holds is not None:
                for key, cycles in op.holds:
                    holds[key].append((t, t + cycles))
            done = t + op.duration if op.duration > 0 else t
            end[g] = done + op.latency if op.latency > 0 else done
    step_end = []
    acc = 0.0
    for s in range(steps):
        acc = max(acc, float(end[s * n : (s + 1) * n].max()) if n else 0.0)
        step_end.append(acc)
    return Schedule(start, end, arr, critical, dict(holds) if holds is not None else {}, step_end)


def longest_path(graph: StepGraph, steps: int = 1) -> AnalyticResult:
    sch = schedule(graph, steps)
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for op in graph.ops:
        p = op.phase
        first[p] = min(first.get(p, np.inf), sch.start[op.id])
        last[p] = max(last.get(p, 0.0), sch.end[op.id])
    phase_cycles = {p: float(last[p] - first[p]) for p in first}
    return AnalyticResult(sch.step_end[-1] if sch.step_end else 0.0, sch.step_end, sch.end, phase_cycles)
