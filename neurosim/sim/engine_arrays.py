"""A step graph as the flat arrays the numba event loop runs on, and its results back.

:func:`encode` turns the template (one step) of a :class:`~neurosim.sim.ops.StepGraph`
into integer ids and CSR lists (the layout is in :mod:`neurosim.kernels.des_loop`);
:func:`make_arena` lays ``steps`` chained copies out with the engine's state in the
kernel's two arenas (:mod:`neurosim.kernels.des_arena`), and :func:`results` reads
the kernel's per-op times, arrival per dependency key and releasing key per op back
(:mod:`.engine` makes the :class:`~neurosim.sim.des.SimResult`). The
numbers are copied, never recomputed, except the ones the Python replay computes
from the graph before it runs (a hop's hold ``samples × flits × link`` and a
delivery's tail ``max((samples × flits − 1) × link, 0)``), computed here the same way.

Per op: kind (compute, route, nothing to do), priority by phase, duration,
latency, its holds (CSR: unit, cycles), its route's first hops (CSR), its
destinations; per hop (all routes' hops numbered in op order): link unit, hold
cycles, delivery tail, destination slot (-1: none), children (CSR); per
dependency key: the ops of the same step (``succ``) and of the next step
(``carry``) that wait for it (CSR, in the order the replay notifies them).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import chain

import numpy as np

from ..kernels.des_arena import (BK_FREE, CAP, CUR, CURB, ERR, EVENTS, EV_FREE, FLOAT_ARRAYS, HCAP, HEADER,
                                  INT_ARRAYS, LASTB, LASTB2, LATER, N, NHOLDS, NHOPS, NKEYS, NU, OF_ARR, OF_BK, OF_DUR, OF_HT,
                                  OF_PT, OF_RT, OF_TIMES, OF_UF, O_BK, O_CRIT, O_EV, O_HI, O_INITS, O_KIND, O_PEND, O_PR, O_REM,
                                  O_RQ, O_STK, O_TT, O_UU, PHB, PHN, STALL, STALL1, STEPS, TCAP, TOTAL, TSHIFT, UCOLS,
                                  USERS)
from .des import PHASE_PRIORITY, UNIT_KINDS
from .ops import StepGraph

__all__ = ["EncodedGraph", "encode", "csr", "make_arena", "results"]


@dataclass(frozen=True)
class EncodedGraph:
    n_ops: int
    n_keys: int
    #: the step's arrays by the names of neurosim.kernels.des_loop.INT_ARRAYS / FLOAT_ARRAYS
    ints: dict
    floats: dict
    unit_cap: np.ndarray
    #: deps of each op within its step, and carry edges into it from the previous step
    rem0: np.ndarray
    carry_cnt: np.ndarray
    #: per dependency key of one step: its op and its destination tile (-1: completion)
    key_op: np.ndarray
    key_node: np.ndarray
    head_cycles: float


def csr(keys: list[int], values: list[int], n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """(pointer, values) listing each key's values in the order given (a stable sort)."""
    k = np.asarray(keys, dtype=np.int64)
    v = np.asarray(values, dtype=np.int64)
    order = np.argsort(k, kind="stable")
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(k, minlength=n_keys), out=ptr[1:])
    return ptr, v[order]


def _route_arrays(r, link_unit: dict[int, int], uid) -> tuple:
    """A route's per-hop link unit, flits per sample, destination slot (-1: none) and
    flits to that destination, its children (CSR), first hops and destination slots
    (``link_unit``: the unit id of each link met so far; ``uid`` numbers a new one)."""
    slots = {node: k for k, node in enumerate(r.dests)}
    units, slot, dest_flits, kid_ptr, kids = [], [], [], [0], []
    get_unit, get_slot, children = link_unit.get, slots.get, r.children
    for h, (link, _parent, node, _nbytes, _flits) in enumerate(r.hops):
        u = get_unit(link)
        if u is None:
            u = link_unit[link] = uid(("link", link))
        units.append(u)
        k = get_slot(node, -1)
        slot.append(k)
        dest_flits.append(r.dests[node][1] if k >= 0 else 0)
        kids.extend(children.get(h, ()))
        kid_ptr.append(len(kids))
    return (np.array(units, np.int64), np.array([h[4] for h in r.hops], np.float64), np.array(slot, np.int64),
            np.array(dest_flits, np.float64), np.array(kid_ptr, np.int64), np.array(kids, np.int64),
            list(children.get(-1, ())), slots)


def encode(graph: StepGraph) -> EncodedGraph:
    """The arrays of one step of ``graph`` (see the module docstring)."""
    hw = graph.hw
    ops = graph.ops
    n = len(ops)
    link_c = hw.noc.link_cycles_per_hop.value
    head = hw.noc.router_cycles_per_hop.value + link_c
    caps_by_kind = {}
    for kind, (cls, section) in UNIT_KINDS.items():
        cfg = getattr(hw, section)
        if cfg is not None:
            caps_by_kind[kind] = cls(cfg).capacity
    unit_ids: dict[tuple, int] = {}
    unit_cap: list[int] = []

    def uid(key: tuple) -> int:
        u = unit_ids.get(key)
        if u is None:
            u = unit_ids[key] = len(unit_cap)
            unit_cap.append(caps_by_kind[key[0]])
        return u

    link_unit: dict[int, int] = {}
    op_kind = [0] * n
    op_prio = [4] * n
    op_ndests = [0] * n
    hold_ptr = [0]
    hold_unit: list[int] = []
    hold_cyc: list[float] = []
    root_ptr = [0]
    roots: list[int] = []
    # per transfer op: its route's arrays (shared by the chunks' transfers: made once per route),
    # its samples, and where its hops and children start in the step's hop arrays
    hop_parts: dict[str, list[np.ndarray]] = {k: [] for k in ("unit", "fps", "slot", "dflits", "child_ptr", "child")}
    hop_count: list[int] = []
    kid_count: list[int] = []
    hop_samples: list[float] = []
    structure: dict[int, tuple] = {}  # id(route) -> its arrays
    n_hops = n_children = 0
    key_ptr = [0] * n
    key_op: list[int] = []
    key_node: list[int] = []
    dest_slot: list[dict | None] = []
    priority = PHASE_PRIORITY.get
    for i, op in enumerate(ops):
        if op.id != i:  # pragma: no cover - a builder bug
            raise RuntimeError(f"{op} is not at position {op.id}")
        op_prio[i] = priority(op.phase, 4)
        for key, cyc in op.holds:
            hold_unit.append(uid(key))
            hold_cyc.append(cyc)
        hold_ptr.append(len(hold_unit))
        key_ptr[i] = len(key_op)
        key_op.append(i)
        key_node.append(-1)
        r = op.route
        if r is None:
            if not op.holds and op.duration == 0 and op.latency == 0:
                op_kind[i] = 2
            dest_slot.append(None)
            root_ptr.append(len(roots))
            continue
        op_kind[i] = 1
        st = structure.get(id(r))
        if st is None:
            st = structure[id(r)] = _route_arrays(r, link_unit, uid)
        links, flits_per_sample, slot, dest_flits, kid_ptr, kids, root_hops, slots = st
        dest_slot.append(slots)
        op_ndests[i] = len(slots)
        key_op.extend([i] * len(slots))
        key_node.extend(slots)
        hop_parts["unit"].append(links)
        hop_parts["fps"].append(flits_per_sample)
        hop_parts["slot"].append(slot)
        hop_parts["dflits"].append(dest_flits)
        hop_parts["child_ptr"].append(kid_ptr[1:])
        hop_parts["child"].append(kids)
        hop_count.append(len(links))
        kid_count.append(len(kids))
        hop_samples.append(op.samples)
        roots.extend([c + n_hops for c in root_hops])
        root_ptr.append(len(roots))
        n_hops += len(links)
        n_children += len(kids)
    dead = len(key_op)  # a dependency no op satisfies (a builder bug: the run reports a deadlock)
    key_op.append(-1)
    key_node.append(-1)
    n_keys = len(key_op)

    # each dependency (op d, destination or -1) as its key: found by the code d * span + destination + 1
    n_deps = [len(op.deps) for op in ops]
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(op.deps for op in ops)), np.int64).reshape(-1, 2)
    dep_op = np.repeat(np.arange(n, dtype=np.int64), n_deps)
    if (flat[:, 0] >= dep_op).any():  # pragma: no cover - a builder bug
        bad = int(np.flatnonzero(flat[:, 0] >= dep_op)[0])
        raise RuntimeError(f"{ops[dep_op[bad]]} depends on a later op #{flat[bad, 0]}")
    key_op_arr = np.asarray(key_op[:dead], np.int64)
    key_node_arr = np.asarray(key_node[:dead], np.int64)
    span = int(max(key_node_arr.max(initial=-1), flat[:, 1].max(initial=-1))) + 2
    key_code = key_op_arr * span + key_node_arr + 1  # increasing in op, so sorted by op first
    order = np.argsort(key_code, kind="stable")
    dep_code = flat[:, 0] * span + flat[:, 1] + 1
    at = np.minimum(np.searchsorted(key_code[order], dep_code), max(dead - 1, 0))
    found = key_code[order][at] == dep_code if dead else np.zeros(len(dep_code), bool)
    dep_key = np.where(found, order[at] if dead else 0, dead)
    rem0 = n_deps
    carry_in: dict[int, list[int]] = defaultdict(list)
    for u, v in graph.carry:
        carry_in[v].append(u)
    carry_key: list[int] = []
    carry_op: list[int] = []
    carry_cnt = np.zeros(n, np.int64)
    for v in sorted(carry_in):
        for u in carry_in[v]:
            carry_key.append(key_ptr[u])
            carry_op.append(v)
        carry_cnt[v] = len(carry_in[v])
    succ_ptr, succ = csr(dep_key, dep_op, n_keys)
    carry_ptr, carry = csr(carry_key, carry_op, n_keys)

    i64 = lambda xs: np.asarray(xs, dtype=np.int64)  # noqa: E731
    f64 = lambda xs: np.asarray(xs, dtype=np.float64)  # noqa: E731
    hop = {k: np.concatenate(v) if v else np.zeros(0) for k, v in hop_parts.items()}
    hop_count_arr = i64(hop_count)
    hop_start = np.cumsum(hop_count_arr) - hop_count_arr
    samples = np.repeat(f64(hop_samples), hop_count_arr)
    # the replay's arithmetic, element-wise: samples x flits x link; max((samples x flits - 1) x link, 0)
    hop["hold"] = samples * hop["fps"] * link_c
    hop["tail"] = np.where(hop["slot"] >= 0, np.maximum((samples * hop["dflits"] - 1) * link_c, 0.0), 0.0)
    kid_count_arr = i64(kid_count)
    hop["child_ptr"] = hop["child_ptr"] + np.repeat(np.cumsum(kid_count_arr) - kid_count_arr, hop_count_arr)
    hop["child"] = hop["child"] + np.repeat(hop_start, kid_count_arr)
    op_dur = f64([op.duration for op in ops])
    op_lat = f64([op.latency for op in ops])
    ints = {"kind": i64(op_kind), "prio": i64(op_prio), "hold_ptr": i64(hold_ptr), "hold_unit": i64(hold_unit),
            "root_ptr": i64(root_ptr), "root": i64(roots), "n_dests": i64(op_ndests), "hop_unit": i64(hop["unit"]),
            "hop_slot": i64(hop["slot"]), "child_ptr": i64(np.concatenate([[0], hop["child_ptr"]])),
            "child": i64(hop["child"]), "key_ptr": i64(key_ptr), "succ_ptr": succ_ptr, "succ": succ,
            "carry_ptr": carry_ptr, "carry": carry}
    floats = {"duration": op_dur, "latency": op_lat, "hold_cycles": f64(hold_cyc), "hop_hold": f64(hop["hold"]),
              "hop_tail": f64(hop["tail"])}
    return EncodedGraph(n, n_keys, ints, floats, i64(unit_cap), i64(rem0), carry_cnt, np.append(key_op_arr, -1),
                        np.append(key_node_arr, -1),
                        float(head))


def make_arena(ints: dict, floats: dict, unit_cap: np.ndarray, rem0: np.ndarray, carry_cnt: np.ndarray,
               head: float, steps: int, n_keys: int, table: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """The arenas ``(I, F)`` of ``steps`` chained copies of the encoded step (``ints`` /
    ``floats`` by the names of :data:`INT_ARRAYS` / :data:`FLOAT_ARRAYS`); the event queue's
    table of pending times has ``table`` slots (a power of 2; at most half of them used)."""
    n = rem0.shape[0]
    total = n * steps
    n_hops, n_holds = ints["hop_unit"].shape[0], ints["hold_unit"].shape[0]
    n_units = unit_cap.shape[0]
    max_cap = int(unit_cap.max()) if n_units else 1
    ucols = USERS + 2 * max_cap
    n_req = steps * (n_holds + n_hops)
    n_proc = total + steps * n_hops
    # every event is scheduled at most once: per request a grant, a release, a trigger and a
    # head move; per op two resumes; per destination a delivery
    heap = 4 * n_req + 2 * total + steps * int(ints["n_dests"].sum()) + 16
    header = np.zeros(HEADER, np.int64)
    header[[N, STEPS, TOTAL, NKEYS, NHOPS, NHOLDS, UCOLS, PHB, CUR, HCAP]] = (
        n, steps, total, n_keys, n_hops, n_holds, ucols, USERS + max_cap, -1, heap)
    times = table // 2 + 2  # pending times (buckets) the table admits, and a margin
    header[[EV_FREE, BK_FREE, CURB, LASTB, LASTB2, TCAP, TSHIFT]] = (-1, -1, -1, -1, -1, table, 64 - (table.bit_length() - 1))
    units = np.full((n_units, ucols), -1, np.int64)
    units[:, CAP] = unit_cap
    units[:, NU] = 0
    units[:, PHN] = 0
    rem = np.tile(rem0, steps)
    rem[n:] += np.tile(carry_cnt, steps - 1)
    parts = [header] + [ints[name] for name in INT_ARRAYS] + [units.ravel()]
    sizes = [4 * n_req, 3 * n_proc, n_proc]
    offsets = np.cumsum([0] + [p.shape[0] for p in parts])
    header[O_KIND:O_KIND + len(INT_ARRAYS)] = offsets[1:-2]
    header[O_UU] = offsets[-2]
    at = offsets[-1]
    for slot, size in zip((O_RQ, O_PR, O_INITS), sizes):
        header[slot] = at
        at += size
    header[O_CRIT] = at
    header[O_REM] = at + total
    header[O_PEND] = at + 2 * total
    header[O_STK] = at + 3 * total
    header[O_HI] = at + 5 * total + 4
    header[O_BK] = header[O_HI] + times
    header[O_TT] = header[O_BK] + 2 * times
    header[O_EV] = header[O_TT] + table
    size = header[O_EV] + 5 * heap
    # int32 halves the memory the loop walks through: ids and offsets stay below the arena's size,
    # scheduling ids below twice the events (each scheduled at most once, each elided one takes an id);
    # a graph too big for int32 runs in int64 (a second compilation)
    dtype = np.int32 if max(size, 2 * heap) < 2**31 - 1 else np.int64
    I = np.empty(size, dtype)  # the queues' pages are touched only as far as they grow
    for p, o in zip(parts, offsets[:-1]):
        I[o:o + p.shape[0]] = p
    I[header[O_CRIT]:header[O_CRIT] + total] = -1
    I[header[O_REM]:header[O_REM] + total] = rem
    I[header[O_PEND]:header[O_PEND] + total] = 0
    I[header[O_TT]:header[O_TT] + table] = -1

    fparts = [np.array([0.0, 0.0, 0.0, head])] + [floats[name] for name in FLOAT_ARRAYS] + [np.zeros(2 * n_units)]
    foffsets = np.cumsum([0] + [p.shape[0] for p in fparts])
    I[OF_DUR:OF_DUR + len(FLOAT_ARRAYS)] = foffsets[1:-2]
    I[OF_UF] = foffsets[-2]
    at = foffsets[-1]
    for slot, size in ((OF_RT, n_req), (OF_PT, n_proc), (OF_TIMES, 3 * total), (OF_ARR, steps * n_keys)):
        I[slot] = at
        at += size
    I[OF_HT] = at
    I[OF_BK] = at + times
    F = np.empty(at + 2 * times, np.float64)
    for p, o in zip(fparts, foffsets[:-1]):
        F[o:o + p.shape[0]] = p
    F[I[OF_TIMES]:I[OF_TIMES] + 3 * total] = 0.0
    F[I[OF_ARR]:I[OF_ARR] + steps * n_keys] = np.nan
    return I, F


def results(I: np.ndarray, F: np.ndarray):
    """``(times[3, total]`` ready/start/end, ``arrival[steps * n_keys]`` (NaN: none), ``crit[total]``
    releasing global key (-1: none), ``rem[total]`` inputs still missing, stall sum, the first
    step's stall sum, whether a later step held a unit the first step asked for, error code,
    events processed) of a run."""
    total = int(I[TOTAL])
    times = F[I[OF_TIMES]:I[OF_TIMES] + 3 * total].reshape(3, total)
    arr = F[I[OF_ARR]:I[OF_ARR] + I[STEPS] * I[NKEYS]]
    crit = I[I[O_CRIT]:I[O_CRIT] + total]
    rem = I[I[O_REM]:I[O_REM] + total]
    return times, arr, crit, rem, float(F[STALL]), float(F[STALL1]), bool(I[LATER]), int(I[ERR]), int(I[EVENTS])
