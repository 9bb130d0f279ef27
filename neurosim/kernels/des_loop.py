"""The DES event loop as a numba kernel over two flat arrays (:func:`run_events`).

It is :mod:`neurosim.sim.replay`'s engine (SimPy's event order, the same elided
events) with every object replaced by an integer: ``neurosim.sim.engine_arrays``
encodes a step graph into the arrays below, ``engine_arrays.make_arena`` lays
them out with the engine's state in one int arena ``I`` and one float64 arena
``F`` (:mod:`.des_arena`: the layout and the event queue; :mod:`.des_units`: the
units; the helpers take just ``(I, F)``, as numba pays per array passed),
:func:`run_events` runs the events, and ``engine_arrays.results`` reads
the times back. ``tests/test_engine.py`` checks the three engines (this one, the Python
replay, SimPy) equal on every op time, delivery and stall sum.

==============  ===============================================================
event queues    ordered by ``(time, scheduling id)`` — SimPy's order — with
                ``(kind, a, b)`` payloads: GRANT (request), WALK (walker),
                RESUME (op), RELEASE (unit, request), TRIGGER (unit), DELIVER
                (op, dependency key)
unit ``u``      a row of ``UCOLS``: capacity, users, FIFO-linked priority queue
                (head, tail), the elided release timeout (``lazy``), the elided
                release events of a multi-slot unit (``phantoms``)
request ``r``   4 ints (priority, scheduling id, process, next in queue) and its
                time; op ``g``'s hold ``j`` is request ``(g // n) * holds + hold_ptr[i] + j``,
                step ``s``'s hop ``h`` is ``steps * holds + s * hops + h``
process ``p``   3 ints: global op, priority, next hold (op) / hop (walker); op
                ``g``'s process is ``g``, the walker starting at step ``s``'s hop
                ``h`` is ``total + s * hops + h``
dependency key  op ``i``'s completion is key ``key_ptr[i]``, its delivery to its
                route's ``k``-th destination ``key_ptr[i] + 1 + k``; step ``s``
                adds ``s * n_keys``; ``succ`` / ``carry`` list the ops of the same
                / the next step that wait for a key
==============  ===============================================================

The result is bit-identical to the Python replay: the same float additions in the
same order, the same tie-breaking by scheduling id, the same depth-first order of
notifications (an explicit stack instead of recursion).
"""

from __future__ import annotations

from numba import njit

from .des_arena import (CAP, COMPUTE, CUR, DELIVER, ERR, EVENTS, GRANT, HEAD, IHEAD, ITAIL, N, NHOLDS, NHOPS, NKEYS,
                        NOW, NU, OF_ARR, OF_DUR, OF_HOLD_CYC, OF_HOP_HOLD, OF_HOP_TAIL, OF_LAT, OF_PT, OF_TIMES,
                        O_CARRY, O_CARRY_PTR, O_CHILD, O_CHILD_PTR, O_CRIT, O_HOLD_PTR, O_HOLD_UNIT, O_HOP_SLOT,
                        O_HOP_UNIT, O_INITS, O_KEY_PTR, O_KIND, O_NDESTS, O_PEND, O_PR, O_PRIO, O_REM, O_ROOT,
                        O_ROOT_PTR, O_RQ, O_STK, O_SUCC, O_SUCC_PTR, O_UU, QH, RELEASE, RESUME, ROUTE, STALL, STALL1,
                        STEPS, TOTAL, TRIGGER, UCOLS, WALK, ZERO, pending, pop, schedule)
from .des_units import grant_head, hold, release, request

__all__ = ["run_events", "COMPUTE", "ROUTE", "ZERO"]


@njit(cache=True, _nrt=False, inline="always")
def _start_process(I, p, g, prio, k):
    pb = I[O_PR] + 3 * p
    I[pb] = g
    I[pb + 1] = prio
    I[pb + 2] = k
    I[I[O_INITS] + I[ITAIL]] = p
    I[ITAIL] += 1


@njit(cache=True, _nrt=False)
def _launch(I, F, g):
    """Start op ``g`` now; True if it has nothing to do (it completes at once)."""
    n, total = I[N], I[TOTAL]
    now = F[NOW]
    times = I[OF_TIMES]
    F[times + g] = now
    i = g % n
    kind = I[I[O_KIND] + i]
    s = g // n
    prio = s * 8 + I[I[O_PRIO] + i]
    if kind == ROUTE:
        F[times + total + g] = now
        I[I[O_PEND] + g] = I[I[O_NDESTS] + i]
        rp = I[O_ROOT_PTR] + i
        for j in range(I[rp], I[rp + 1]):
            c = I[I[O_ROOT] + j]
            _start_process(I, total + s * I[NHOPS] + c, g, prio, c)
        return False
    if kind == ZERO:
        F[times + total + g] = now
        F[times + 2 * total + g] = now
        return True
    _start_process(I, g, g, prio, 0)
    return False


@njit(cache=True, _nrt=False)
def _notify(I, F, kid):
    """Ops waiting for global key ``kid``: one fewer input; launch those that are ready
    (depth first, in the order the Python replay's recursion visits them)."""
    n, steps, n_keys = I[N], I[STEPS], I[NKEYS]
    stk, rem = I[O_STK], I[O_REM]
    sp = 0
    I[stk] = kid
    I[stk + 1] = 0
    while sp >= 0:
        kid = I[stk + 2 * sp]
        pos = I[stk + 2 * sp + 1]
        s = kid // n_keys
        key = kid - s * n_keys
        a0 = I[I[O_SUCC_PTR] + key]
        na = I[I[O_SUCC_PTR] + key + 1] - a0
        c0 = I[I[O_CARRY_PTR] + key]
        nc = I[I[O_CARRY_PTR] + key + 1] - c0 if s + 1 < steps else 0
        if pos >= na + nc:
            sp -= 1
            continue
        I[stk + 2 * sp + 1] = pos + 1
        if pos < na:
            g = s * n + I[I[O_SUCC] + a0 + pos]
        else:
            g = (s + 1) * n + I[I[O_CARRY] + c0 + pos - na]
        I[rem + g] -= 1
        if I[rem + g] == 0:
            I[I[O_CRIT] + g] = kid
            if _launch(I, F, g):
                sp += 1
                I[stk + 2 * sp] = (g // n) * n_keys + I[I[O_KEY_PTR] + g % n]
                I[stk + 2 * sp + 1] = 0


@njit(cache=True, _nrt=False)
def _complete(I, F, g):
    n, total = I[N], I[TOTAL]
    F[I[OF_TIMES] + 2 * total + g] = F[NOW]
    _notify(I, F, (g // n) * I[NKEYS] + I[I[O_KEY_PTR] + g % n])


@njit(cache=True, _nrt=False)
def _op_next(I, F, g):
    """Op ``g``'s process: request its next unit, or (all granted) start, hold, end after its duration."""
    n = I[N]
    i = g % n
    pb = I[O_PR] + 3 * g
    k = I[pb + 2]
    h0 = I[I[O_HOLD_PTR] + i]
    nh = I[I[O_HOLD_PTR] + i + 1] - h0
    rbase = (g // n) * I[NHOLDS] + h0
    if k < nh:
        I[pb + 2] = k + 1
        r = rbase + k
        I[I[O_RQ] + 4 * r] = I[pb + 1]
        I[I[O_RQ] + 4 * r + 2] = g
        request(I, F, I[I[O_HOLD_UNIT] + h0 + k], r)
        return
    now = F[NOW]
    F[I[OF_TIMES] + I[TOTAL] + g] = now
    waited = now - F[I[OF_PT] + g]
    F[STALL] += waited
    if g < n:
        F[STALL1] += waited
    duration = F[I[OF_DUR] + i]
    for j in range(nh):
        cyc = F[I[OF_HOLD_CYC] + h0 + j]
        if cyc < duration:
            hold(I, F, I[I[O_HOLD_UNIT] + h0 + j], rbase + j, cyc)
    I[pb + 2] = k + 1  # past the holds: the next resume ends the duration
    if duration > 0:
        schedule(I, F, now + duration, RESUME, g, 0)
    else:
        _op_done(I, F, g)


@njit(cache=True, _nrt=False)
def _op_done(I, F, g):
    n = I[N]
    i = g % n
    pb = I[O_PR] + 3 * g
    h0 = I[I[O_HOLD_PTR] + i]
    nh = I[I[O_HOLD_PTR] + i + 1] - h0
    if I[pb + 2] == nh + 1:
        duration = F[I[OF_DUR] + i]
        rbase = (g // n) * I[NHOLDS] + h0
        for j in range(nh):
            if F[I[OF_HOLD_CYC] + h0 + j] >= duration:
                release(I, F, I[I[O_HOLD_UNIT] + h0 + j], rbase + j)
        I[pb + 2] += 1
        latency = F[I[OF_LAT] + i]
        if latency > 0:
            schedule(I, F, F[NOW] + latency, RESUME, g, 0)
            return
    _complete(I, F, g)


@njit(cache=True, _nrt=False, inline="always")
def _walk_moved(I, F, p):
    """A transfer's head reached the end of its hop: deliver, branch, request the next link."""
    n, n_hops = I[N], I[NHOPS]
    now = F[NOW]
    pb = I[O_PR] + 3 * p
    g = I[pb]
    h = I[pb + 2]
    s = g // n
    slot = I[I[O_HOP_SLOT] + h]
    if slot >= 0:
        kid = s * I[NKEYS] + I[I[O_KEY_PTR] + g % n] + 1 + slot
        schedule(I, F, now + F[I[OF_HOP_TAIL] + h], DELIVER, g, kid)
    c0 = I[I[O_CHILD_PTR] + h]
    c1 = I[I[O_CHILD_PTR] + h + 1]
    if c0 == c1:
        return
    for j in range(c0 + 1, c1):
        c = I[I[O_CHILD] + j]
        _start_process(I, I[TOTAL] + s * n_hops + c, g, I[pb + 1], c)
    c = I[I[O_CHILD] + c0]
    I[pb + 2] = c
    F[I[OF_PT] + p] = now
    r = I[STEPS] * I[NHOLDS] + s * n_hops + c
    I[I[O_RQ] + 4 * r] = I[pb + 1]
    I[I[O_RQ] + 4 * r + 2] = p
    request(I, F, I[I[O_HOP_UNIT] + c], r)


@njit(cache=True, _nrt=False, inline="always")
def _deliver(I, F, g, kid):
    F[I[OF_ARR] + kid] = F[NOW]
    _notify(I, F, kid)
    pend = I[O_PEND] + g
    I[pend] -= 1
    if I[pend] == 0:
        _complete(I, F, g)


@njit(cache=True, _nrt=False)
def _run_inits(I, F):
    """Processes created by the last event start now, in creation order (SimPy's URGENT Initialize)."""
    total = I[TOTAL]
    while I[IHEAD] < I[ITAIL]:
        p = I[I[O_INITS] + I[IHEAD]]
        I[IHEAD] += 1
        F[I[OF_PT] + p] = F[NOW]
        if p >= total:
            pb = I[O_PR] + 3 * p
            c = I[pb + 2]
            r = I[STEPS] * I[NHOLDS] + (I[pb] // I[N]) * I[NHOPS] + c
            I[I[O_RQ] + 4 * r] = I[pb + 1]
            I[I[O_RQ] + 4 * r + 2] = p
            request(I, F, I[I[O_HOP_UNIT] + c], r)
        else:
            _op_next(I, F, p)


@njit(cache=True, _nrt=False, inline="always")
def _event(I, F, kind, a, b):
    t = F[NOW]
    if kind == GRANT:
        p = I[I[O_RQ] + 4 * a + 2]
        if p >= I[TOTAL]:  # a walker's link: hold it for the flits, move the head on
            waited = t - F[I[OF_PT] + p]
            pb = I[O_PR] + 3 * p
            if waited != 0:
                F[STALL] += waited
                if I[pb] < I[N]:
                    F[STALL1] += waited
            h = I[pb + 2]
            hold(I, F, I[I[O_HOP_UNIT] + h], a, F[I[OF_HOP_HOLD] + h])
            schedule(I, F, t + F[HEAD], WALK, p, 0)
        else:
            _op_next(I, F, p)
    elif kind == WALK:
        _walk_moved(I, F, a)
    elif kind == RESUME:
        _op_done(I, F, a)
    elif kind == RELEASE:
        release(I, F, a, b)
    elif kind == TRIGGER:
        ub = I[O_UU] + a * I[UCOLS]
        if I[ub + QH] >= 0 and I[ub + NU] < I[ub + CAP]:
            grant_head(I, F, ub, t)
    else:
        _deliver(I, F, a, b)



@njit(cache=True, _nrt=False)
def run_events(I, F):
    """Run the graph laid out by :func:`make_arena` to the end (or to an error, slot ERR)."""
    n, total = I[N], I[TOTAL]
    for g in range(total):
        if I[I[O_REM] + g] == 0 and _launch(I, F, g):
            _complete(I, F, g)
    _run_inits(I, F)
    while pending(I) > 0 and I[ERR] == 0:
        t, seq, kind, a, b = pop(I, F)
        F[NOW] = t
        I[CUR] = seq
        I[EVENTS] += 1
        _event(I, F, kind, a, b)
        if I[IHEAD] < I[ITAIL]:
            _run_inits(I, F)
