"""Contention-free latency of a step graph: the longest path with service times.

With unlimited units (no op ever queues), an op starts when its last input is
ready: ``start = max(end of each dependency)`` (for a transfer dependency, its
delivery time at the op's tile); a compute op ends ``duration + latency`` later;
a transfer delivers to ``d`` after ``hops(d) * (router + link) + (samples * max
flits on the path - 1) * link`` cycles. Ops are built in dependency order, so a
single pass computes every time. The DES can only be slower: its excess over this
bound is contention (queueing for arrays, ADCs, cores, SRAM ports, links, DRAM).
"""

from __future__ import annotations

import numpy as np

from .ops import StepGraph

__all__ = ["AnalyticResult", "longest_path"]


class AnalyticResult:
    def __init__(self, makespan: float, step_end: list[float], end: np.ndarray, phase_cycles: dict[str, float]):
        self.makespan = makespan
        self.step_end = step_end
        self.end = end
        self.phase_cycles = phase_cycles


def longest_path(graph: StepGraph, steps: int = 1) -> AnalyticResult:
    ops = graph.ops
    n = len(ops)
    hw = graph.hw
    head = hw.noc.router_cycles_per_hop.value + hw.noc.link_cycles_per_hop.value
    link_c = hw.noc.link_cycles_per_hop.value
    N = n * steps
    start = np.zeros(N)
    end = np.zeros(N)
    arr: dict[tuple[int, int], float] = {}
    for g, op, preds in graph.expanded(steps):
        t = 0.0
        for d, dest in preds:
            t = max(t, arr[(d, dest)] if dest >= 0 else end[d])
        start[g] = t
        if op.route is not None:
            last = t
            for dest, (hops, fps) in op.route.dests.items():
                a = t + hops * head + max(op.samples * fps - 1, 0) * link_c
                arr[(g, dest)] = a
                last = max(last, a)
            end[g] = last
        else:
            end[g] = t + op.duration + op.latency
    step_end = []
    acc = 0.0
    for s in range(steps):
        acc = max(acc, float(end[s * n : (s + 1) * n].max()) if n else 0.0)
        step_end.append(acc)
    phase_cycles: dict[str, float] = {}
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for op in ops:
        p = op.phase
        first[p] = min(first.get(p, np.inf), start[op.id])
        last[p] = max(last.get(p, 0.0), end[op.id])
    for p in first:
        phase_cycles[p] = float(last[p] - first[p])
    return AnalyticResult(step_end[-1] if step_end else 0.0, step_end, end, phase_cycles)
