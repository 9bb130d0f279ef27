"""The arena of the DES kernel (:mod:`.des_loop`) — the graph's arrays and the engine's
state laid out in one int array ``I`` (int32 unless the graph is huge) and one float64
array ``F`` by ``neurosim.sim.engine_arrays.make_arena`` —, the event queues and the units.

numba pays for every array a compiled function receives (a tuple of arrays is
copied and reference-counted member by member on each call), so the kernel's
helpers take just ``(I, F)``: a header of ``I`` holds the sizes, the scalar state
and the offset of every array (slots below); the header of ``F`` the clock, the
stall sums and the head's hop time.

The kernels allocate nothing, so they compile without numba's reference counting
(``_nrt=False``): a helper call then passes ``(I, F)`` without the atomic
increments and decrements numba otherwise wraps around every call that takes an
array (the event loop ran ~1.5x faster per event at 64x64 arrays without them).

Events pop by ``(time, scheduling id)`` (SimPy's order) from three queues: a binary
heap (times in ``F``, ``(id, kind, a, b)`` in ``I``), a FIFO of the events at the
current time (sorted by id) and a FIFO of the transfers' head moves (each scheduled
``router + link`` cycles after the current time, so appended in order). A unit is
SimPy's ``PriorityResource`` as the Python replay (:mod:`neurosim.sim.replay`) runs
it: :func:`request`, :func:`hold` (a release timeout, elided while no one waits),
:func:`release`.

numba's on-disk cache checks only the file of the function it compiled: after an edit
here, touch ``des_loop.py`` too (or its cached loop keeps the old helpers inlined).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["push", "pop", "pending", "schedule", "request", "hold", "release", "grant_head", "INT_ARRAYS",
           "FLOAT_ARRAYS", "ERRORS"]

GRANT, WALK, RESUME, RELEASE, TRIGGER, DELIVER = 0, 1, 2, 3, 4, 5  # event kinds
COMPUTE, ROUTE, ZERO = 0, 1, 2  # op kinds
# columns of a unit's row: capacity, users held, queue head, queue tail, lazy release id and request,
# phantom count, then the users and (from column PHB) the phantoms' scheduling ids
CAP, NU, QH, QT, LSEQ, LREQ, PHN, USERS = 0, 1, 2, 3, 4, 5, 6, 7
#: error codes (slot ERR)
ERRORS = {1: "event heap overflow", 2: "phantom release overflow", 3: "release of a request not held"}
#: the graph's int and float arrays, in the order of their offset slots O_KIND... and OF_DUR...
INT_ARRAYS = ("kind", "prio", "hold_ptr", "hold_unit", "root_ptr", "root", "n_dests", "hop_unit", "hop_slot",
              "child_ptr", "child", "key_ptr", "succ_ptr", "succ", "carry_ptr", "carry")
FLOAT_ARRAYS = ("duration", "latency", "hold_cycles", "hop_hold", "hop_tail")

# ---- the arena: slots of the header of I (sizes, scalar state, offsets of the arrays in I and F)
N, STEPS, TOTAL, NKEYS, NHOPS, NHOLDS, UCOLS, PHB = 0, 1, 2, 3, 4, 5, 6, 7
CUR, NEXT, HSIZE, LATER, ERR, IHEAD, ITAIL, EVENTS, HCAP = 8, 9, 10, 11, 12, 13, 14, 15, 16
(O_KIND, O_PRIO, O_HOLD_PTR, O_HOLD_UNIT, O_ROOT_PTR, O_ROOT, O_NDESTS, O_HOP_UNIT, O_HOP_SLOT, O_CHILD_PTR, O_CHILD,
 O_KEY_PTR, O_SUCC_PTR, O_SUCC, O_CARRY_PTR, O_CARRY, O_UU, O_RQ, O_PR, O_INITS, O_CRIT, O_REM, O_PEND, O_STK,
 O_HI) = range(17, 42)
OF_DUR, OF_LAT, OF_HOLD_CYC, OF_HOP_HOLD, OF_HOP_TAIL, OF_UF, OF_RT, OF_PT, OF_TIMES, OF_ARR, OF_HT = range(42, 53)
NQ_HEAD, NQ_TAIL, O_NQ = 53, 54, 55  # the queue of events at the current time
WQ_HEAD, WQ_TAIL, O_WQ, OF_WQ = 56, 57, 58, 59  # the queue of head moves (ids, walkers; times)
HEADER = 60
NOW, STALL, STALL1, HEAD, FHEADER = 0, 1, 2, 3, 4  # slots of the header of F


@njit(cache=True, _nrt=False)
def push(I, F, t, seq, kind, a, b):
    """Schedule event ``(t, seq)``: a head move into the walk queue (always ``now + router +
    link``: appended in ``(time, id)`` order), another event at the current time into the
    now-queue (kept sorted by id: almost always an append), a later one into the heap."""
    if kind == WALK:
        j = I[WQ_TAIL]
        I[WQ_TAIL] = j + 1
        F[I[OF_WQ] + j] = t
        I[I[O_WQ] + 2 * j] = seq
        I[I[O_WQ] + 2 * j + 1] = a
        return
    if t != F[NOW]:
        _heap_push(I, F, t, seq, kind, a, b)
        return
    q = I[O_NQ]
    j = I[NQ_TAIL]
    if j >= I[HCAP]:
        I[ERR] = 1
        return
    I[NQ_TAIL] = j + 1
    while j > I[NQ_HEAD] and I[q + 4 * (j - 1)] > seq:
        I[q + 4 * j] = I[q + 4 * (j - 1)]
        I[q + 4 * j + 1] = I[q + 4 * (j - 1) + 1]
        I[q + 4 * j + 2] = I[q + 4 * (j - 1) + 2]
        I[q + 4 * j + 3] = I[q + 4 * (j - 1) + 3]
        j -= 1
    I[q + 4 * j] = seq
    I[q + 4 * j + 1] = kind
    I[q + 4 * j + 2] = a
    I[q + 4 * j + 3] = b


@njit(cache=True, _nrt=False)
def pop(I, F):
    """The next event by ``(time, id)``: the head of the now-queue or of the walk queue, or
    the heap's top."""
    which = 0
    bt = 0.0
    bs = 0
    if I[HSIZE] > 0:
        which, bt, bs = 1, F[I[OF_HT]], I[I[O_HI]]
    w = I[WQ_HEAD]
    if w < I[WQ_TAIL]:
        wt, ws = F[I[OF_WQ] + w], I[I[O_WQ] + 2 * w]
        if which == 0 or wt < bt or (wt == bt and ws < bs):
            which, bt, bs = 2, wt, ws
    head = I[NQ_HEAD]
    if head < I[NQ_TAIL]:
        q = I[O_NQ] + 4 * head
        if which == 0 or F[NOW] < bt or (F[NOW] == bt and I[q] < bs):
            I[NQ_HEAD] = head + 1
            if head + 1 == I[NQ_TAIL]:
                I[NQ_HEAD] = 0
                I[NQ_TAIL] = 0
            return F[NOW], I[q], I[q + 1], I[q + 2], I[q + 3]
    if which == 2:
        I[WQ_HEAD] = w + 1
        return bt, bs, WALK, I[I[O_WQ] + 2 * w + 1], 0
    return _heap_pop(I, F)


@njit(cache=True, _nrt=False)
def pending(I):
    """Events not yet processed."""
    return I[HSIZE] + I[NQ_TAIL] - I[NQ_HEAD] + I[WQ_TAIL] - I[WQ_HEAD]


@njit(cache=True, _nrt=False)
def _heap_push(I, F, t, seq, kind, a, b):
    i = I[HSIZE]
    if i >= I[HCAP]:
        I[ERR] = 1
        return
    I[HSIZE] = i + 1
    ht = I[OF_HT]
    hi = I[O_HI]
    while i > 0:
        parent = (i - 1) >> 1
        pt = F[ht + parent]
        if pt < t or (pt == t and I[hi + 4 * parent] < seq):
            break
        F[ht + i] = pt
        I[hi + 4 * i] = I[hi + 4 * parent]
        I[hi + 4 * i + 1] = I[hi + 4 * parent + 1]
        I[hi + 4 * i + 2] = I[hi + 4 * parent + 2]
        I[hi + 4 * i + 3] = I[hi + 4 * parent + 3]
        i = parent
    F[ht + i] = t
    I[hi + 4 * i] = seq
    I[hi + 4 * i + 1] = kind
    I[hi + 4 * i + 2] = a
    I[hi + 4 * i + 3] = b


@njit(cache=True, _nrt=False)
def _heap_pop(I, F):
    ht = I[OF_HT]
    hi = I[O_HI]
    t, seq, kind, a, b = F[ht], I[hi], I[hi + 1], I[hi + 2], I[hi + 3]
    size = I[HSIZE] - 1
    I[HSIZE] = size
    if size > 0:
        lt, ls = F[ht + size], I[hi + 4 * size]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= size:
                break
            if c + 1 < size:
                tc, tr = F[ht + c], F[ht + c + 1]
                if tr < tc or (tr == tc and I[hi + 4 * c + 4] < I[hi + 4 * c]):
                    c += 1
            if F[ht + c] < lt or (F[ht + c] == lt and I[hi + 4 * c] < ls):
                F[ht + i] = F[ht + c]
                I[hi + 4 * i] = I[hi + 4 * c]
                I[hi + 4 * i + 1] = I[hi + 4 * c + 1]
                I[hi + 4 * i + 2] = I[hi + 4 * c + 2]
                I[hi + 4 * i + 3] = I[hi + 4 * c + 3]
                i = c
            else:
                break
        F[ht + i] = lt
        I[hi + 4 * i] = ls
        I[hi + 4 * i + 1] = I[hi + 4 * size + 1]
        I[hi + 4 * i + 2] = I[hi + 4 * size + 2]
        I[hi + 4 * i + 3] = I[hi + 4 * size + 3]
    return t, seq, kind, a, b


@njit(cache=True, _nrt=False)
def schedule(I, F, t, kind, a, b):
    seq = I[NEXT]
    I[NEXT] = seq + 1
    push(I, F, t, seq, kind, a, b)


# ---- units: SimPy's PriorityResource (a request queue sorted by (priority, time), stably)

@njit(cache=True, _nrt=False)
def remove_user(I, ub, r):
    nu = I[ub + NU]
    j = 0
    while j < nu and I[ub + USERS + j] != r:
        j += 1
    if j == nu:
        I[ERR] = 3
        return
    while j < nu - 1:
        I[ub + USERS + j] = I[ub + USERS + j + 1]
        j += 1
    I[ub + NU] = nu - 1


@njit(cache=True, _nrt=False)
def dequeue(I, ub):
    head = I[ub + QH]
    nxt = I[I[O_RQ] + 4 * head + 3]
    I[ub + QH] = nxt
    if nxt < 0:
        I[ub + QT] = -1
    return head


@njit(cache=True, _nrt=False)
def enqueue(I, F, ub, r, prio, now):
    """Insert request ``r`` after every queued request with ``(priority, time) <= (prio, now)``."""
    rq = I[O_RQ]
    rt = I[OF_RT]
    I[rq + 4 * r + 3] = -1
    tail = I[ub + QT]
    if tail < 0:
        I[ub + QH] = r
        I[ub + QT] = r
        return
    if I[rq + 4 * tail] < prio or (I[rq + 4 * tail] == prio and F[rt + tail] <= now):
        I[rq + 4 * tail + 3] = r
        I[ub + QT] = r
        return
    prev = -1
    e = I[ub + QH]
    while e >= 0 and (I[rq + 4 * e] < prio or (I[rq + 4 * e] == prio and F[rt + e] <= now)):
        prev = e
        e = I[rq + 4 * e + 3]
    I[rq + 4 * r + 3] = e
    if prev < 0:
        I[ub + QH] = r
    else:
        I[rq + 4 * prev + 3] = r


@njit(cache=True, _nrt=False)
def grant_head(I, F, ub, now):
    """The head of the queue takes a free slot; its grant is processed now."""
    granted = dequeue(I, ub)
    nu = I[ub + NU]
    I[ub + USERS + nu] = granted
    I[ub + NU] = nu + 1
    schedule(I, F, now, GRANT, granted, 0)


@njit(cache=True, _nrt=False)
def request(I, F, u, r):
    """Request ``r`` (priority and process already set) asks for unit ``u`` now."""
    now = F[NOW]
    ub = I[O_UU] + u * I[UCOLS]
    uf = I[OF_UF] + 2 * u
    rq = I[O_RQ]
    lr = I[ub + LREQ]
    if lr >= 0 and (F[uf] < now or (F[uf] == now and I[ub + LSEQ] < I[CUR])):
        remove_user(I, ub, lr)  # its release timeout came before this moment: a no-op release
        I[ub + LREQ] = -1
        lr = -1
    prio = I[rq + 4 * r]
    nu = I[ub + NU]
    if prio < 8 and nu > 0 and (I[rq + 4 * I[ub + USERS]] >= 8 or I[rq + 4 * I[ub + USERS + nu - 1]] >= 8):
        I[LATER] = 1  # a later step holds a unit the first step asks for
    seq = I[NEXT]
    F[I[OF_RT] + r] = now
    I[rq + 4 * r + 1] = seq
    if I[ub + QH] < 0 and nu < I[ub + CAP]:  # free and no one waits: granted at once
        I[NEXT] = seq + 2
        I[ub + USERS + nu] = r
        I[ub + NU] = nu + 1
        push(I, F, now, seq + 1, GRANT, r, 0)
        return
    I[NEXT] = seq + 1
    enqueue(I, F, ub, r, prio, now)
    if nu < I[ub + CAP]:
        grant_head(I, F, ub, now)
    if I[ub + QH] >= 0 and lr >= 0:  # someone waits: the holder's release timeout becomes a real event
        I[ub + LREQ] = -1
        push(I, F, F[uf], I[ub + LSEQ], RELEASE, u, lr)
    if I[ub + QH] >= 0 and I[ub + PHN] > 0:  # someone waits: release events not yet reached become real
        if F[uf + 1] == now:
            for j in range(I[ub + PHN]):
                sp = I[ub + I[PHB] + j]
                if sp > I[CUR]:
                    push(I, F, now, sp, TRIGGER, u, 0)
        I[ub + PHN] = 0


@njit(cache=True, _nrt=False)
def hold(I, F, u, r, cycles):
    """A timeout that releases ``r`` after ``cycles`` (elided while no one waits)."""
    t = F[NOW] + cycles
    ub = I[O_UU] + u * I[UCOLS]
    if I[ub + CAP] == 1 and I[ub + QH] < 0 and cycles > 0:
        seq = I[NEXT]
        I[NEXT] = seq + 1
        F[I[OF_UF] + 2 * u] = t
        I[ub + LSEQ] = seq
        I[ub + LREQ] = r
    else:
        schedule(I, F, t, RELEASE, u, r)


@njit(cache=True, _nrt=False)
def release(I, F, u, r):
    ub = I[O_UU] + u * I[UCOLS]
    remove_user(I, ub, r)
    now = F[NOW]
    if I[ub + QH] >= 0:
        schedule(I, F, now, TRIGGER, u, 0)
    elif I[ub + CAP] > 1:  # elided until someone waits at this time
        seq = I[NEXT]
        I[NEXT] = seq + 1
        uf = I[OF_UF] + 2 * u
        k = I[ub + PHN]
        if k > 0 and F[uf + 1] != now:
            k = 0
        if I[PHB] + k >= I[UCOLS]:
            I[ERR] = 2
            return
        F[uf + 1] = now
        I[ub + I[PHB] + k] = seq
        I[ub + PHN] = k + 1
