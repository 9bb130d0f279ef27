"""``trace.json``: one training step of each rule on the simulated chip, in the
Chrome / Perfetto trace-event format (JSON object form, ``traceEvents``).

Open it at https://ui.perfetto.dev (Open trace file) or chrome://tracing.

============  ===================================================================
trace         simulated chip
============  ===================================================================
process       one rule (pid 1, 2, ... in the run's order; the baseline first)
thread        one unit: per tile its crossbar group(s), ADC bank, core and SRAM
              ports; each directed NoC link; the DRAM channel. A unit that has
              overlapping ops (an op's slice lasts from its start to its end,
              its pure latency included) gets extra lanes "#2", "#3", ...
slice (X)     one op of the step graph: ``ts`` = DES start, ``dur`` = end − start,
              in µs (cycles ÷ clock MHz); name ``<layer> <op>``, category = phase;
              args: phase, layer, tile, chunk, bytes (sum of its records),
              start/end cycle, the units it held and for how many cycles,
              ``queued_cycles`` (ready → start: waiting for busy units) and
              ``released_by`` (the op whose completion or delivery made it ready)
============  ===================================================================

An op sits on the unit it holds longest (ties: crossbar, ADC, core, SRAM, DRAM);
a NoC transfer on the first link of its route (its args list every link); an op
that holds nothing on its tile's ``sync`` track. The DES is deterministic, so
the step is simulated again here exactly as :func:`neurosim.sim.cost_step` did.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..hw.noc import Mesh
from ..pipeline import measured_write_cycles
from ..sim import build_step_graph, simulate
from .files import atomic_write_text

__all__ = ["TRACE", "step_timeline", "trace_events", "write_trace"]

TRACE = "trace.json"

_KIND_ORDER = {"xbar": 0, "adc": 1, "core": 2, "sram": 3, "dram": 4, "link": 5, "sync": 6}
_KIND_LABEL = {"xbar": "crossbars", "adc": "ADC bank", "core": "core", "sram": "SRAM ports", "dram": "DRAM", "sync": "sync"}


def step_timeline(hw, workload, algo, write_cycles=None):
    """(step graph, one-step DES result) of ``algo``: the same graph and simulation as ``cost_step``
    (``write_cycles``: a device run's measured programming, as its cost was simulated with)."""
    graph = build_step_graph(hw, workload.shapes, workload.training.batch_size, algo, write_cycles=write_cycles)
    return graph, simulate(graph, steps=1)


def _unit_name(key: tuple, mesh: Mesh) -> str:
    kind = key[0]
    if kind == "link":
        x, y, nx, ny = mesh.link_name(key[1])
        return f"NoC link ({x},{y})→({nx},{ny})"
    if kind == "dram":
        return "DRAM channel"
    label = _KIND_LABEL[kind]
    if kind == "xbar" and len(key) > 2:
        label = f"crossbar block {key[2]}"
    return f"tile {key[1]} · {label}"


def _sort_key(key: tuple) -> tuple:
    kind = key[0]
    if kind in ("link", "dram"):
        return (1 if kind == "link" else 2, key[1] if len(key) > 1 else 0, 0, 0)
    return (0, key[1], _KIND_ORDER[kind], key[2] if len(key) > 2 else -1)


def _track(op) -> tuple:
    if op.route is not None:
        first = op.route.children.get(-1, ())
        return ("link", op.route.hops[first[0]][0]) if first else ("sync", op.tile)
    if not op.holds:
        return ("sync", op.tile)
    return max(op.holds, key=lambda kc: (kc[1], -_KIND_ORDER[kc[0][0]]))[0]


def _lanes(slices: list[tuple[float, float, int]]) -> dict[int, int]:
    """Greedy interval partition: op id -> lane so that no two slices of a lane overlap."""
    ends: list[float] = []
    lane_of = {}
    for start, end, op_id in sorted(slices):
        for i, e in enumerate(ends):
            if e <= start:
                ends[i] = end
                lane_of[op_id] = i
                break
        else:
            lane_of[op_id] = len(ends)
            ends.append(end)
    return lane_of


def trace_events(graph, sim, *, clock_mhz: float, pid: int, label: str) -> list[dict]:
    """The trace events of one rule's step: metadata, then one ``X`` slice per op."""
    mesh = Mesh(graph.hw.noc)
    n = len(graph.ops)
    tracks: dict[tuple, list[tuple[float, float, int]]] = {}
    for op in graph.ops:
        tracks.setdefault(_track(op), []).append((float(sim.start[op.id]), float(sim.end[op.id]), op.id))
    events: list[dict] = [
        {"ph": "M", "pid": pid, "name": "process_name", "args": {"name": label}},
        {"ph": "M", "pid": pid, "name": "process_sort_index", "args": {"sort_index": pid}},
    ]
    tid_of: dict[int, int] = {}
    tid = 0
    for key in sorted(tracks, key=_sort_key):
        lanes = _lanes(tracks[key])
        name = _unit_name(key, mesh) if key[0] != "sync" else f"tile {key[1]} · sync"
        for lane in range(max(lanes.values()) + 1):
            tid += 1
            events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name",
                           "args": {"name": name if lane == 0 else f"{name} #{lane + 1}"}})
            events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}})
        first_tid = tid - max(lanes.values())
        for op_id, lane in lanes.items():
            tid_of[op_id] = first_tid + lane
    for op in graph.ops[:n]:
        start, end = float(sim.start[op.id]), float(sim.end[op.id])
        held = {_unit_name(k, mesh): c for k, c in op.holds}
        if op.route is not None:
            held = {_unit_name(("link", h[0]), mesh): op.samples * h[4] for h in op.route.hops}
        pred = sim.critical_dep.get(op.id)
        released_by = None if pred is None else f"#{pred[0]} {graph.ops[pred[0]].layer} {graph.ops[pred[0]].name}"
        events.append({
            "ph": "X", "pid": pid, "tid": tid_of[op.id], "name": f"{op.layer} {op.name}", "cat": op.phase,
            "ts": start / clock_mhz, "dur": (end - start) / clock_mhz,
            "args": {
                "op": op.id, "phase": op.phase, "layer": op.layer, "tile": op.tile, "chunk": op.chunk,
                "bytes": sum(r.bytes for r in op.records), "start_cycle": start, "end_cycle": end, "holds_cycles": held,
                "queued_cycles": start - float(sim.ready[op.id]), "released_by": released_by,
            },
        })
    return events


def write_trace(res, out: Path) -> str:
    """Write ``trace.json`` for every rule of a :class:`~neurosim.pipeline.RunResult`; return its name."""
    clock_mhz = res.hw.clock_hz / 1e6
    events: list[dict] = []
    for pid, (name, run) in enumerate(res.algorithms.items(), start=1):
        writes = run.training.device_writes if run.training is not None else ()
        graph, sim = step_timeline(res.hw, res.workload, run.config, measured_write_cycles(res.hw, writes))
        label = name + (" (baseline)" if name == res.baseline else "") + ("" if run.trained else ", not trained")
        events += trace_events(graph, sim, clock_mhz=clock_mhz, pid=pid, label=label)
    doc = {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {"workload": res.workload.name, "hwconfig": res.hw.name, "clock_mhz": clock_mhz,
                      "what": "one training step of each rule; ts/dur in µs of simulated time"},
    }
    atomic_write_text(Path(out) / TRACE, json.dumps(doc, separators=(",", ":")) + "\n")
    return TRACE
