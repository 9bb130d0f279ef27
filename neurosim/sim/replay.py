"""The exact event engine of the DES in pure Python: SimPy's semantics for the step
graph's processes, without SimPy's per-event machinery. :mod:`.engine` runs the
same engine as a numba loop (what ``cost_step`` uses); this module is its readable
statement and second reference.

:func:`simulate` produces, for any step graph, exactly what the SimPy model of
:func:`neurosim.sim.des.simulate_simpy` produces (every op's ready, start and end
time, every delivery, the stall sum — bit for bit; ``tests/test_engine.py``
compares SimPy, this replay and the numba engine on many graphs). It replays
SimPy's event order:

- SimPy pops events by ``(time, priority, id)``, ``id`` counting schedulings. All
  events here are ``NORMAL``: per time a FIFO *bucket* in scheduling order.
- A process's ``Initialize`` event is ``URGENT``: it runs right after the event
  that created it. Here: a list of pending starts, run after each event in
  creation order. A process's end event has no callbacks: not scheduled.
- A request to a ``PriorityResource`` is inserted in its queue sorted by
  ``(priority, request time)``, stably; if a slot is free, the *head* of the
  queue is granted and its process resumes at the grant event (scheduled now).
  A release frees the slot at once; the waiting head is granted when the
  release event is processed (SimPy's ``Release``, scheduled now).

Two event kinds are elided where they provably cannot change the order of
anything (capacity-1 units only, whose holds are positive):

- a *release timeout* of a unit nobody waits for is not scheduled; its key
  ``(time, id)`` is remembered, and a request with a later key finds the unit
  free. If a request must wait while the release is pending, the timeout is put
  into its time's bucket at its original position (it has not been reached yet),
  so from then on everything happens as in SimPy;
- a release event of a capacity-1 unit with an empty queue is a no-op (no one
  can wait on the freed unit and find it free before that event is processed:
  the next holder takes it, and its hold is positive), so it is not scheduled;
  on a multi-slot unit (SRAM ports) it is remembered, and put into the bucket at
  its position if a request must wait before that position is reached.

So a NoC hop costs two events (its grant and its head's move), a compute op one
per unit it holds plus one per ``duration`` / ``latency`` wait.
"""

from __future__ import annotations

import heapq
from bisect import insort
from collections import defaultdict

from .des import PHASE_PRIORITY, UNIT_KINDS, SimResult, make_result
from .ops import StepGraph

__all__ = ["simulate", "simulate_window"]

_GRANT, _RESUME, _RELEASE, _TRIGGER, _DELIVER, _WALK = range(6)  # event kinds


class _Unit:
    """A PriorityResource: ``users`` holding it, ``queue`` of waiting requests
    ``[priority, time, order, process]``, and a pending elided release ``lazy``."""

    __slots__ = ("cap", "users", "queue", "lazy", "phantoms")

    def __init__(self, cap: int) -> None:
        self.cap, self.users, self.queue = cap, [], []
        #: (end time, event id, request) of an elided release timeout, or None
        self.lazy = None
        #: (time, event id) of elided release events of a multi-slot unit with an empty queue
        self.phantoms: list = []


def _capacities(graph: StepGraph) -> dict[str, int]:
    out = {}
    for kind, (cls, section) in UNIT_KINDS.items():
        cfg = getattr(graph.hw, section)
        if cfg is not None:
            out[kind] = cls(cfg).capacity
    return out


def simulate(graph: StepGraph, steps: int = 1) -> SimResult:
    """Run ``steps`` back-to-back copies of ``graph`` (same result as the SimPy model)."""
    return simulate_window(graph, steps)[0]


def simulate_window(graph: StepGraph, steps: int) -> tuple[SimResult, SimResult | None]:
    """Run ``steps`` chained copies of ``graph``; also return what a lone step would give
    (:func:`simulate` with ``steps=1``) when it can be read off the window exactly: when no
    op of a later step ever held a unit that an op of the first step asked for, the first
    step's ops were never delayed by the later ones (their requests queue behind the first
    step's, which has the better priority), so they ran as if alone. Else None."""
    hw = graph.hw
    ops = graph.ops
    n = len(ops)
    total = n * steps
    caps = _capacities(graph)
    units: dict[tuple, _Unit] = {}

    def unit(key: tuple) -> _Unit:
        return units[key] if key in units else units.setdefault(key, _Unit(caps[key[0]]))

    link_c = hw.noc.link_cycles_per_hop.value
    head = hw.noc.router_cycles_per_hop.value + link_c
    # per op of the template: its holds as units, its priority by phase, its route's hops as units
    op_holds = [[(unit(key), cyc) for key, cyc in op.holds] for op in ops]
    op_phase = [PHASE_PRIORITY.get(op.phase, 4) for op in ops]
    op_hops: list = [None] * n
    for i, op in enumerate(ops):
        r = op.route
        if r is not None:
            hops = []
            for link_id, _parent, node, _nbytes, fps in r.hops:
                d = r.dests.get(node)
                tail = max((op.samples * d[1] - 1) * link_c, 0.0) if d is not None else None
                hops.append((unit(("link", link_id)), op.samples * fps * link_c, node, tail))
            op_hops[i] = (hops, {h: c for h, c in r.children.items()}, len(r.dests))

    rem = [0] * total
    succ: dict[tuple[int, int], list[int]] = defaultdict(list)
    for g, _, preds in graph.expanded(steps):
        for key in preds:
            succ[key].append(g)
        rem[g] = len(preds)
    ready = [0.0] * total
    start = [0.0] * total
    end = [0.0] * total
    arrivals: dict[tuple[int, int], float] = {}
    critical: dict[int, tuple[int, int]] = {}
    pending_dests = [0] * total

    times: list[float] = []
    buckets: dict[float, list] = {}
    inits: list = []
    # mutable engine state: now, id of the event being processed, next event id, stall sum,
    # the first step's stall sum, whether a later step ever held a unit the first step asked for
    st = [0.0, -1, 0, 0.0, 0.0, False]

    def schedule(t: float, kind: int, a, b) -> None:
        seq = st[2]
        st[2] = seq + 1
        bucket = buckets.get(t)
        if bucket is None:
            buckets[t] = bucket = []
            heapq.heappush(times, t)
        bucket.append((seq, kind, a, b))

    def request(u: _Unit, prio: int, proc) -> None:
        now = st[0]
        users = u.users
        lazy = u.lazy
        if lazy is not None and (lazy[0] < now or (lazy[0] == now and lazy[1] < st[1])):
            users.remove(lazy[2])  # its release timeout came before this moment, queue empty: a no-op release
            u.lazy = lazy = None
        if prio < 8 and users and (users[0][0] >= 8 or users[-1][0] >= 8):
            st[5] = True  # a later step holds a unit the first step asks for: the first step may differ from a lone step
        seq = st[2]
        q = u.queue
        if not q and len(users) < u.cap:  # free and no one waits: granted at once
            st[2] = seq + 2
            entry = (prio, now, seq, proc)
            users.append(entry)
            bucket = buckets.get(now)
            if bucket is None:
                buckets[now] = bucket = []
                heapq.heappush(times, now)
            bucket.append((seq + 1, _GRANT, entry, None))
            return
        st[2] = seq + 1
        entry = (prio, now, seq, proc)
        if not q or (q[-1][0], q[-1][1]) <= (prio, now):
            q.append(entry)
        else:
            insort(q, entry)
        if len(users) < u.cap:
            granted = q.pop(0)
            users.append(granted)
            schedule(now, _GRANT, granted, None)
        if q and lazy is not None:  # someone waits: the holder's release timeout becomes a real event
            te, se, req = lazy
            u.lazy = None
            bucket = buckets.get(te)
            if bucket is None:
                buckets[te] = bucket = []
                heapq.heappush(times, te)
            insort(bucket, (se, _RELEASE, u, req))
        if q and u.phantoms:  # someone waits: release events not yet reached become real
            bucket = buckets[now]
            for tp, sp in u.phantoms:
                if tp == now and sp > st[1]:
                    insort(bucket, (sp, _TRIGGER, u, None))
            u.phantoms.clear()

    def hold(u: _Unit, req, cycles: float) -> None:
        """A timeout that releases ``req`` after ``cycles`` (elided while no one waits)."""
        t = st[0] + cycles
        if u.cap == 1 and not u.queue and cycles > 0:
            seq = st[2]
            st[2] = seq + 1
            u.lazy = (t, seq, req)
        else:
            schedule(t, _RELEASE, u, req)

    def release(u: _Unit, req) -> None:
        u.users.remove(req)
        if u.queue:
            schedule(st[0], _TRIGGER, u, None)
        elif u.cap > 1:  # elided until someone waits at this time (see the module docstring)
            seq = st[2]
            st[2] = seq + 1
            ph = u.phantoms
            if ph and ph[0][0] != st[0]:
                ph.clear()
            ph.append((st[0], seq))

    def notify(key: tuple[int, int]) -> None:
        for s_ in succ.get(key, ()):
            rem[s_] -= 1
            if rem[s_] == 0:
                critical[s_] = key
                launch(s_)

    def complete(g: int) -> None:
        end[g] = st[0]
        notify((g, -1))

    def launch(g: int) -> None:
        now = st[0]
        ready[g] = now
        i = g % n
        op = ops[i]
        if op.route is not None:
            start[g] = now
            hops, children, n_dests = op_hops[i]
            pending_dests[g] = n_dests
            prio = (g // n) * 8 + op_phase[i]
            for c in children.get(-1, ()):
                inits.append([_WALK, g, prio, c, 0.0, hops, children])
        elif not op.holds and op.duration == 0 and op.latency == 0:
            start[g] = now
            complete(g)
        else:
            # [kind, g, prio, next hold index, t0, granted requests]
            inits.append([_RESUME, g, (g // n) * 8 + op_phase[i], 0, 0.0, []])

    # ---- a compute op: request each unit in order, hold, release, wait out the latency
    def op_next(proc) -> None:
        g = proc[1]
        i = g % n
        holds = op_holds[i]
        k = proc[3]
        if k < len(holds):
            proc[3] = k + 1
            request(holds[k][0], proc[2], proc)
            return
        now = st[0]
        op = ops[i]
        start[g] = now
        st[3] += now - proc[4]
        if g < n:
            st[4] += now - proc[4]
        duration = op.duration
        reqs = proc[5]
        for j, (u, cyc) in enumerate(holds):
            if cyc < duration:
                hold(u, reqs[j], cyc)
        proc[3] = k + 1  # past the holds: the next resume ends the duration
        if duration > 0:
            schedule(now + duration, _RESUME, proc, None)
        else:
            op_done(proc)

    def op_done(proc) -> None:
        g = proc[1]
        i = g % n
        holds = op_holds[i]
        op = ops[i]
        if proc[3] == len(holds) + 1:
            duration = op.duration
            reqs = proc[5]
            for j, (u, cyc) in enumerate(holds):
                if cyc >= duration:
                    release(u, reqs[j])
            proc[3] += 1
            if op.latency > 0:
                schedule(st[0] + op.latency, _RESUME, proc, None)
                return
        complete(g)

    # ---- a transfer's walker: request the link, hold it for its flits (in the loop), move the head on
    def walk_moved(proc) -> None:
        now = st[0]
        g, h, hops, children = proc[1], proc[3], proc[5], proc[6]
        hop = hops[h]
        if hop[3] is not None:
            schedule(now + hop[3], _DELIVER, g, hop[2])
        ch = children.get(h, ())
        if not ch:
            return
        for c in ch[1:]:
            inits.append([_WALK, g, proc[2], c, 0.0, hops, children])
        proc[3] = ch[0]
        proc[4] = now
        u = hops[ch[0]][0]
        if not u.users and not u.queue:  # request(), inlined for a free unit nobody waits for
            seq = st[2]
            st[2] = seq + 2
            entry = (proc[2], now, seq, proc)
            u.users.append(entry)
            buckets[now].append((seq + 1, _GRANT, entry, None))
        else:
            request(u, proc[2], proc)

    def deliver(g: int, dest: int) -> None:
        arrivals[(g, dest)] = st[0]
        notify((g, dest))
        pending_dests[g] -= 1
        if pending_dests[g] == 0:
            complete(g)

    def run_inits() -> None:
        while inits:
            batch = list(inits)
            inits.clear()
            for proc in batch:
                proc[4] = st[0]
                if proc[0] == _WALK:
                    request(proc[5][proc[3]][0], proc[2], proc)
                else:
                    op_next(proc)

    for g in range(total):
        if rem[g] == 0:
            launch(g)
    run_inits()
    while times:
        t = heapq.heappop(times)
        bucket = buckets[t]
        st[0] = t
        i = 0
        while i < len(bucket):
            seq, kind, a, b = bucket[i]
            i += 1
            st[1] = seq
            if kind == _GRANT:
                proc = a[3]
                if proc[0] == _WALK:  # walk_granted, inlined: the hot path
                    waited = t - proc[4]
                    if waited:
                        st[3] += waited
                        if proc[1] < n:
                            st[4] += waited
                    hop = proc[5][proc[3]]
                    u = hop[0]
                    seq = st[2]
                    if u.cap == 1 and not u.queue and hop[1] > 0:
                        u.lazy = (t + hop[1], seq, a)
                        seq += 1
                    else:
                        schedule(t + hop[1], _RELEASE, u, a)
                        seq = st[2]
                    st[2] = seq + 1
                    th = t + head
                    nxt = buckets.get(th)
                    if nxt is None:
                        buckets[th] = nxt = []
                        heapq.heappush(times, th)
                    nxt.append((seq, _WALK, proc, None))
                else:
                    proc[5].append(a)
                    op_next(proc)
            elif kind == _WALK:
                walk_moved(a)
            elif kind == _RESUME:
                op_done(a)
            elif kind == _RELEASE:
                release(a, b)
            elif kind == _TRIGGER:
                if a.queue and len(a.users) < a.cap:
                    granted = a.queue.pop(0)
                    a.users.append(granted)
                    schedule(t, _GRANT, granted, None)
            else:
                deliver(a, b)
            if inits:
                run_inits()
        del buckets[t]
    if any(r > 0 for r in rem):  # pragma: no cover - a builder bug
        stuck = next(g for g, r in enumerate(rem) if r > 0)
        raise RuntimeError(f"op graph deadlocked at {ops[stuck % n]}")

    window = make_result(graph, steps, ready, start, end, arrivals, critical, st[3])
    if steps == 1 or st[5]:
        return window, None
    first = {k: v for k, v in arrivals.items() if k[0] < n}
    crit = {k: v for k, v in critical.items() if k < n}
    return window, make_result(graph, 1, ready[:n], start[:n], end[:n], first, crit, st[4])
