"""Discrete-event simulation of one or more training steps' op graphs: the model in SimPy.

This module states the model as SimPy processes (:func:`simulate_simpy`, the
reference); :mod:`.replay` runs the same model without SimPy's per-event
machinery in Python, :mod:`.engine` the replay as a numba loop, which is what
:func:`neurosim.sim.simulate` and :func:`~neurosim.sim.cost_step` use
(``tests/test_engine.py`` checks that the three agree bit for bit).

Every unit instance is a live :class:`~neurosim.hw.units.Unit` (a SimPy resource):
per tile a crossbar group, its ADC banks, the core and the SRAM ports (one
resource of ``ports`` capacity), one unit per directed mesh link, and the DRAM
channel. An op starts when its inputs are ready (each dependency satisfied: an
op finished, or a transfer delivered to the op's tile), requests its units in a
global order (no deadlock), holds them for its duration, releases them, then
waits out its pure latency. A transfer walks its XY tree cut-through: each hop
requests its link, keeps it busy for the flits it carries, and the head moves on
after ``router + link`` cycles; a branch point spawns one walker per branch.
Time spent queued for a unit is *stall*. Events are per op and per hop, never
per MAC.

``steps > 1`` chains copies of the step graph: a tile's first array op of step
s+1 waits for step s's updates of that tile (weights must be written before
they are read again), and step s+1's input chunk k is fetched once step s's
chunk k has left the DRAM port. Everything else may overlap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..config.hw import HwConfig
from ..hw.units import AdcBank, Core, CrossbarGroup, DramChannel, Link, SramPort, Unit
from .ops import StepGraph

__all__ = ["SimResult", "simulate_simpy", "make_result", "unit_counts", "critical_path_share", "PHASE_PRIORITY", "UNIT_KINDS"]

#: Scheduling priority of waiting requests (lower first): an earlier step first, then
#: the forward pass, the error and feedback chains, weight gradients, updates.
PHASE_PRIORITY: dict[str, int] = {"forward": 0, "error": 1, "feedback_learning": 1, "weight_grad": 2, "weight_update": 3}


@dataclass
class SimResult:
    makespan: float
    #: completion time of each simulated step (cumulative, from time 0)
    step_end: list[float]
    ready: np.ndarray
    start: np.ndarray
    end: np.ndarray
    #: (global op index, destination tile) -> delivery time of a transfer (a dict, or the
    #: engine's read-on-demand mapping of its arrays)
    arrivals: Mapping[tuple[int, int], float]
    #: global op index -> (predecessor global index, destination or -1) that released it last
    critical_dep: Mapping[int, tuple[int, int]]
    stall_cycles: float
    #: component -> busy unit-cycles summed over all units
    busy: dict[str, float] = field(default_factory=dict)
    n_ops: int = 0


#: Unit key kind -> (unit class, the hwconfig section that configures it).
UNIT_KINDS = {
    "core": (Core, "core"),
    "sram": (SramPort, "sram"),
    "xbar": (CrossbarGroup, "crossbar"),
    "adc": (AdcBank, "crossbar"),
    "link": (Link, "noc"),
    "dram": (DramChannel, "dram"),
}


def unit_counts(hw: HwConfig, n_links: int) -> dict[str, float]:
    """Instances of each component on the chip (the denominators of utilisation)."""
    tiles = hw.noc.tiles
    out = {"core": float(tiles), "sram": float(tiles * hw.sram.ports), "noc": float(n_links), "dram": 1.0}
    if hw.crossbar is not None and hw.chip.crossbars_per_tile > 0:
        arrays = tiles * hw.chip.crossbars_per_tile
        out["crossbar"] = float(arrays)
        out["adc"] = float(arrays * hw.crossbar.adcs_per_array)
    return out


def simulate_simpy(graph: StepGraph, steps: int = 1) -> SimResult:
    """Run ``steps`` back-to-back copies of ``graph`` through the DES, in SimPy (the reference)."""
    import simpy  # only the reference needs it
    hw = graph.hw
    ops = graph.ops
    n = len(ops)
    N = n * steps
    env = simpy.Environment()
    units: dict[tuple, Unit] = {}

    def unit(key: tuple) -> Unit:
        u = units.get(key)
        if u is None:
            cls, section = UNIT_KINDS[key[0]]
            u = units[key] = cls(getattr(hw, section), env, "/".join(map(str, key)))
        return u

    # dependency bookkeeping over the expanded graph
    remaining = np.zeros(N, dtype=np.int64)
    succ: dict[tuple[int, int], list[int]] = defaultdict(list)
    for g, _, preds in graph.expanded(steps):
        for key in preds:
            succ[key].append(g)
        remaining[g] = len(preds)

    ready = np.zeros(N)
    start = np.zeros(N)
    end = np.zeros(N)
    arrivals: dict[tuple[int, int], float] = {}
    critical: dict[int, tuple[int, int]] = {}
    stall = [0.0]
    router_c = hw.noc.router_cycles_per_hop.value
    link_c = hw.noc.link_cycles_per_hop.value
    head = router_c + link_c

    def notify(key: tuple[int, int]) -> None:
        for s_ in succ.get(key, ()):
            remaining[s_] -= 1
            if remaining[s_] == 0:
                critical[s_] = key
                launch(s_)

    def complete(g: int) -> None:
        end[g] = env.now
        notify((g, -1))

    def launch(g: int) -> None:
        ready[g] = env.now
        op = ops[g % n]
        if op.route is not None:
            start[g] = env.now
            run_noc(g, op)
        elif not op.holds and op.duration == 0 and op.latency == 0:
            start[g] = env.now
            complete(g)
        else:
            env.process(run_op(g, op))

    def run_op(g: int, op):
        t0 = env.now
        prio = priority(g, op)
        reqs = []
        for key, cyc in op.holds:
            u = unit(key)
            req = u.request(prio)
            yield req
            reqs.append((u, req, cyc))
        start[g] = env.now
        stall[0] += env.now - t0
        # each unit is released after its own service time; the op lasts its duration
        for u, req, cyc in reqs:
            if cyc < op.duration:
                env.timeout(cyc).callbacks.append(lambda _ev, u=u, req=req: u.release(req))
        if op.duration > 0:
            yield env.timeout(op.duration)
        for u, req, cyc in reqs:
            if cyc >= op.duration:
                u.release(req)
        if op.latency > 0:
            yield env.timeout(op.latency)
        complete(g)

    def priority(g: int, op) -> int:
        return (g // n) * 8 + PHASE_PRIORITY.get(op.phase, 4)

    def run_noc(g: int, op) -> None:
        route = op.route
        prio = priority(g, op)
        samples = op.samples
        pending = [len(route.dests)]

        def deliver(dest: int) -> None:
            arrivals[(g, dest)] = env.now
            notify((g, dest))
            pending[0] -= 1
            if pending[0] == 0:
                complete(g)

        def walk(h: int):
            while True:
                link_id, _parent, node, _nbytes, fps = route.hops[h]
                u = unit(("link", link_id))
                t0 = env.now
                req = u.request(prio)
                yield req
                stall[0] += env.now - t0
                hold = samples * fps * link_c
                env.timeout(hold).callbacks.append(lambda _ev, u=u, req=req: u.release(req))
                yield env.timeout(head)
                d = route.dests.get(node)
                if d is not None:
                    tail = (samples * d[1] - 1) * link_c
                    env.timeout(max(tail, 0.0)).callbacks.append(lambda _ev, node=node: deliver(node))
                ch = route.children.get(h, ())
                if not ch:
                    return
                for c in ch[1:]:
                    env.process(walk(c))
                h = ch[0]

        for c in route.children.get(-1, ()):
            env.process(walk(c))

    for g in range(N):
        if remaining[g] == 0:
            launch(g)
    env.run()
    if (remaining > 0).any():  # pragma: no cover - a builder bug
        stuck = int(np.nonzero(remaining > 0)[0][0])
        raise RuntimeError(f"op graph deadlocked at {ops[stuck % n]}")

    return make_result(graph, steps, ready, start, end, arrivals, critical, stall[0])


def make_result(graph: StepGraph, steps: int, ready, start, end, arrivals, critical, stall: float, *,
                with_busy: bool = True) -> SimResult:
    """The :class:`SimResult` of ``steps`` chained copies of ``graph`` from per-op times
    (``with_busy=False``: ``busy`` left empty)."""
    n = len(graph.ops)
    end = np.asarray(end, dtype=float)
    step_end = []
    acc = 0.0
    for s in range(steps):
        acc = max(acc, float(end[s * n : (s + 1) * n].max()) if n else 0.0)
        step_end.append(acc)
    busy: dict[str, float] = defaultdict(float)
    for op in graph.ops if with_busy else ():
        for comp, v in op.busy.items():
            busy[comp] += v * steps
    return SimResult(
        makespan=step_end[-1] if step_end else 0.0,
        step_end=step_end,
        ready=np.asarray(ready, dtype=float),
        start=np.asarray(start, dtype=float),
        end=end,
        arrivals=arrivals,
        critical_dep=critical,
        stall_cycles=stall,
        busy=dict(busy),
        n_ops=n * steps,
    )


def critical_path_share(graph: StepGraph, res: SimResult) -> dict[str, float]:
    """Share of the (single-step) critical path spent in each phase's ops, and queued ("stall")."""
    ops = graph.ops
    n = len(ops)
    if n == 0 or res.makespan <= 0:
        return {}
    g = int(np.argmax(res.end[:n]))
    t = float(res.end[g])
    share: dict[str, float] = defaultdict(float)
    while True:
        op = ops[g % n]
        share[op.phase] += t - float(res.start[g])
        share["stall"] += float(res.start[g] - res.ready[g])
        pred = res.critical_dep.get(g)
        if pred is None:
            break
        pg, dest = pred
        t = res.arrivals[(pg, dest)] if dest >= 0 else float(res.end[pg])
        g = pg
    total = sum(share.values())
    return {k: float(v / total) for k, v in sorted(share.items()) if total > 0}
