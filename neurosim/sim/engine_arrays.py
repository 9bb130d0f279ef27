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
from itertools import accumulate, chain

import numpy as np

from ..kernels.des_arena import (BK_FREE, CAP, CUR, CURB, ERR, EVENTS, EV_FREE, FLOAT_ARRAYS, HCAP, HEADER,
                                  INT_ARRAYS, LASTB, LASTB2, LATER, N, NHOLDS, NHOPS, NKEYS, NU, OF_ARR, OF_BK, OF_DUR, OF_HT,
                                  OF_PT, OF_RT, OF_TIMES, OF_UF, O_BK, O_CRIT, O_EV, O_HI, O_INITS, O_KIND, O_PEND, O_PR, O_REM,
                                  O_RQ, O_STK, O_TT, O_UU, PHB, PHN, STALL, STALL1, STEPS, TCAP, TOTAL, TSHIFT, UCOLS,
                                  USERS)
from .des import PHASE_PRIORITY, UNIT_KINDS
from .ops import StepGraph

__all__ = ["EncodedGraph", "encode", "csr", "make_arena", "results", "Scratch"]


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
    flits to that destination, its children (CSR), first hops and destinations in slot order
    (``link_unit``: the unit id of each link met so far; ``uid`` numbers a new one)."""
    dests, children = r.dests, r.children
    slots = {node: k for k, node in enumerate(dests)}
    links = [hop[0] for hop in r.hops]
    for link in links:
        if link not in link_unit:  # a tree crosses a link at most once
            link_unit[link] = uid(("link", link))
    nodes = [hop[2] for hop in r.hops]
    get_slot, no_children = slots.get, ()
    kids_of = [children.get(h, no_children) for h in range(len(links))]
    return ([link_unit[link] for link in links], [hop[4] for hop in r.hops], [get_slot(node, -1) for node in nodes],
            [dests[node][1] if node in slots else 0 for node in nodes], list(accumulate(map(len, kids_of))),
            list(chain.from_iterable(kids_of)), list(children.get(-1, ())), list(dests))


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])`` without the loop."""
    ends = np.cumsum(counts)
    return np.repeat(starts - (ends - counts), counts) + np.arange(ends[-1] if len(ends) else 0, dtype=np.int64)


def _numbered(graph: StepGraph, caps_by_kind: dict) -> tuple:
    """Units numbered in the order the ops first name them (an op's holds, then the links of
    a route met for the first time), each op's hold units, and per transfer (in op order):
    its op and the index of its route among the distinct routes, whose arrays follow."""
    unit_ids: dict[tuple, int] = {}
    unit_cap: list[int] = []

    def uid(key: tuple) -> int:
        u = unit_ids[key] = len(unit_cap)
        unit_cap.append(caps_by_kind[key[0]])
        return u

    link_unit: dict[int, int] = {}
    hold_unit: list[int] = []
    add_unit = hold_unit.append
    get = unit_ids.get
    structure: dict[int, int] = {}  # id(route) -> its index among the distinct routes
    distinct: list[tuple] = []
    transfer_op: list[int] = []
    transfer_route: list[int] = []
    for i, op in enumerate(graph.ops):
        if op.id != i:  # pragma: no cover - a builder bug
            raise RuntimeError(f"{op} is not at position {op.id}")
        for key, _cycles in op.holds:
            u = get(key)
            add_unit(u if u is not None else uid(key))
        r = op.route
        if r is not None:
            k = structure.get(id(r))
            if k is None:
                k = structure[id(r)] = len(distinct)
                distinct.append(_route_arrays(r, link_unit, uid))
            transfer_op.append(i)
            transfer_route.append(k)
    return unit_cap, hold_unit, transfer_op, transfer_route, distinct


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
    unit_cap, hold_unit, transfer_op, transfer_route, distinct = _numbered(graph, caps_by_kind)
    i64 = lambda xs: np.asarray(xs, dtype=np.int64)  # noqa: E731
    f64 = lambda xs: np.asarray(xs, dtype=np.float64)  # noqa: E731
    priority = PHASE_PRIORITY.get
    op_prio = [priority(op.phase, 4) for op in ops]
    n_holds = i64([len(op.holds) for op in ops])
    hold_cyc = [c for op in ops for _key, c in op.holds]
    op_dur = f64([op.duration for op in ops])
    op_lat = f64([op.latency for op in ops])
    transfer = i64(transfer_op)
    route_of = i64(transfer_route)
    # the distinct routes' arrays end to end, and where each one starts
    cat = [list(chain.from_iterable(st[j] for st in distinct)) for j in range(8)]
    size = [i64([len(st[j]) for st in distinct]) for j in (0, 5, 6, 7)]  # hops, children, first hops, destinations
    first = [np.cumsum(c) - c for c in size]
    per = [c[route_of] for c in size]  # per transfer
    hops_t, kids_t, roots_t, dests_t = per
    sl = [_ranges(f[route_of], c) for f, c in zip(first, per)]  # per transfer, its slice of cat
    hop_start = np.cumsum(hops_t) - hops_t  # where each transfer's hops start in the step's hop arrays
    kid_start = np.cumsum(kids_t) - kids_t

    op_kind = np.where((n_holds == 0) & (op_dur == 0) & (op_lat == 0), 2, 0)
    op_kind[transfer] = 1
    op_ndests = np.zeros(n, np.int64)
    op_ndests[transfer] = dests_t
    n_roots = np.zeros(n, np.int64)
    n_roots[transfer] = roots_t
    keys_per_op = op_ndests + 1  # op i's completion, then its deliveries (one key per destination)
    key_ptr = np.cumsum(keys_per_op) - keys_per_op
    dead = int(keys_per_op.sum())  # a dependency no op satisfies (a builder bug: the run reports a deadlock)
    n_keys = dead + 1
    key_op_arr = np.repeat(np.arange(n, dtype=np.int64), keys_per_op)
    key_node_arr = np.full(dead, -1, np.int64)
    key_node_arr[_ranges(key_ptr[transfer] + 1, dests_t)] = i64(cat[7])[sl[3]]
    roots = i64(cat[6])[sl[2]] + np.repeat(hop_start, roots_t)
    hop = {"unit": i64(cat[0])[sl[0]], "fps": f64(cat[1])[sl[0]], "slot": i64(cat[2])[sl[0]],
           "dflits": f64(cat[3])[sl[0]],
           "child_ptr": i64(cat[4])[sl[0]] + np.repeat(kid_start, hops_t),
           "child": i64(cat[5])[sl[1]] + np.repeat(hop_start, kids_t)}

    # each dependency (op d, destination or -1) as its key: found by the code d * span + destination + 1
    n_deps = [len(op.deps) for op in ops]
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(op.deps for op in ops)), np.int64).reshape(-1, 2)
    dep_op = np.repeat(np.arange(n, dtype=np.int64), n_deps)
    if (flat[:, 0] >= dep_op).any():  # pragma: no cover - a builder bug
        bad = int(np.flatnonzero(flat[:, 0] >= dep_op)[0])
        raise RuntimeError(f"{ops[dep_op[bad]]} depends on a later op #{flat[bad, 0]}")
    span = int(max(key_node_arr.max(initial=-1), flat[:, 1].max(initial=-1))) + 2
    key_code = key_op_arr * span + key_node_arr + 1  # increasing in op, so sorted by op first
    order = np.argsort(key_code, kind="stable")
    dep_code = flat[:, 0] * span + flat[:, 1] + 1
    at = np.minimum(np.searchsorted(key_code[order], dep_code), max(dead - 1, 0))
    found = key_code[order][at] == dep_code if dead else np.zeros(len(dep_code), bool)
    dep_key = np.where(found, order[at] if dead else 0, dead)
    carry_in: dict[int, list[int]] = defaultdict(list)
    for u, v in graph.carry:
        carry_in[v].append(u)
    carry_key: list[int] = []
    key_list = key_ptr.tolist()
    carry_op: list[int] = []
    carry_cnt = np.zeros(n, np.int64)
    for v in sorted(carry_in):
        for u in carry_in[v]:
            carry_key.append(key_list[u])
            carry_op.append(v)
        carry_cnt[v] = len(carry_in[v])
    succ_ptr, succ = csr(dep_key, dep_op, n_keys)
    carry_ptr, carry = csr(carry_key, carry_op, n_keys)

    samples = np.repeat(f64([ops[i].samples for i in transfer_op]), hops_t)
    # the replay's arithmetic, element-wise: samples x flits x link; max((samples x flits - 1) x link, 0)
    hop["hold"] = samples * hop["fps"] * link_c
    hop["tail"] = np.where(hop["slot"] >= 0, np.maximum((samples * hop["dflits"] - 1) * link_c, 0.0), 0.0)
    hold_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(n_holds, out=hold_ptr[1:])
    root_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(n_roots, out=root_ptr[1:])
    ints = {"kind": i64(op_kind), "prio": i64(op_prio), "hold_ptr": hold_ptr, "hold_unit": i64(hold_unit),
            "root_ptr": root_ptr, "root": roots, "n_dests": op_ndests, "hop_unit": hop["unit"],
            "hop_slot": hop["slot"], "child_ptr": np.concatenate([np.zeros(1, np.int64), hop["child_ptr"]]),
            "child": hop["child"], "key_ptr": key_ptr, "succ_ptr": succ_ptr, "succ": succ,
            "carry_ptr": carry_ptr, "carry": carry}
    floats = {"duration": op_dur, "latency": op_lat, "hold_cycles": f64(hold_cyc), "hop_hold": hop["hold"],
              "hop_tail": hop["tail"]}
    return EncodedGraph(n, n_keys, ints, floats, i64(unit_cap), i64(n_deps), carry_cnt, np.append(key_op_arr, -1),
                        np.append(key_node_arr, -1),
                        float(head))


def make_arena(ints: dict, floats: dict, unit_cap: np.ndarray, rem0: np.ndarray, carry_cnt: np.ndarray,
               head: float, steps: int, n_keys: int, table: int = 4096,
               scratch: "Scratch | None" = None) -> tuple[np.ndarray, np.ndarray]:
    """The arenas ``(I, F)`` of ``steps`` chained copies of the encoded step (``ints`` /
    ``floats`` by the names of :data:`INT_ARRAYS` / :data:`FLOAT_ARRAYS`); the event queue's
    table of pending times has ``table`` slots (a power of 2; at most half of them used).
    ``scratch``: memory to lay them out in (the previous run's, see :class:`Scratch`), else new."""
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
    I = scratch.take("I", size, dtype) if scratch is not None else np.empty(size, dtype)  # touched as far as used
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
    F = scratch.take("F", at + 2 * times, np.float64) if scratch is not None else np.empty(at + 2 * times, np.float64)
    for p, o in zip(fparts, foffsets[:-1]):
        F[o:o + p.shape[0]] = p
    F[I[OF_TIMES]:I[OF_TIMES] + 3 * total] = 0.0
    F[I[OF_ARR]:I[OF_ARR] + steps * n_keys] = np.nan
    return I, F


class Scratch:
    """Memory the event loop's arenas are laid out in, kept from one run to the next (per
    thread: :mod:`.engine` holds one). A large step's arenas are tens of megabytes: fresh
    memory costs a page fault and the kernel zeroing each page the run touches (~5-10 ms a
    64x64-array ``cost_step``), reused memory neither. The arenas' contents never depend on
    what the memory held (``make_arena`` writes every field the kernel reads before writing).
    Holds the largest arena asked for so far, at most ``limit_bytes`` per array (larger ones
    are made fresh and not kept)."""

    def __init__(self, limit_bytes: int = 256 << 20):
        self.limit_bytes = limit_bytes
        self.buffers: dict[str, np.ndarray] = {}

    def take(self, name: str, size: int, dtype) -> np.ndarray:
        buf = self.buffers.get(name)
        if buf is None or buf.dtype != dtype or buf.shape[0] < size:
            buf = np.empty(size, dtype)
            if buf.nbytes <= self.limit_bytes:
                self.buffers[name] = buf
        return buf[:size]


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
