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

A call between two separately compiled numba functions is still a real call: each
array goes on the stack as seven words and the caller checks a status on return.
So the helpers that are leaves (the queue, the unit's queue, a hold) or have a
single caller (the event dispatch, a head's move, a delivery) are inlined into
their callers at numba's IR level (``inline="always"``): ~120 -> ~70 ns per event
at 64x64 arrays, the same events in the same order. Inlining the helpers with
several callers as well copies them into each and makes the compilation explode
(minutes and gigabytes for everything); as it is, an empty cache compiles the loop
in ~45-55 s CPU (~20-30 s before).

Events pop by ``(time, scheduling id)`` (SimPy's order) from one *bucket* per
distinct pending time — a linked list of event records ``(id, kind, a, b, next)``
kept sorted by id (almost always an append: ids grow as events are scheduled) —
and a binary heap of the pending times, as the Python replay runs it (a 4-step
window at 64x64 arrays has ~23 events per distinct time and ~130 pending times,
against thousands of pending events: the heap moves once per time, not per event).
A time finds its bucket through an open-addressing table (linear probing, the
buckets of the last two scheduled times remembered); records and buckets are reused
through free lists, so the queue's memory stays as small as its pending events.
A table more than half full stops the run with error 4 and
``neurosim.sim.engine`` runs it again with a table 4x larger (the order of events
does not depend on the table's size). The units (SimPy's ``PriorityResource``) are
in :mod:`.des_units`.

numba's on-disk cache checks only the file of the function it compiled, and
:mod:`.des_loop` inlines what this module defines; the kernels' cache folder is named
by a hash of every kernel module (:mod:`._cache`), so an edit here compiles the loop again.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["push", "pop", "pending", "schedule", "INT_ARRAYS", "FLOAT_ARRAYS", "ERRORS", "TABLE_FULL"]

GRANT, WALK, RESUME, RELEASE, TRIGGER, DELIVER = 0, 1, 2, 3, 4, 5  # event kinds
COMPUTE, ROUTE, ZERO = 0, 1, 2  # op kinds
# columns of a unit's row: capacity, users held, queue head, queue tail, lazy release id and request,
# phantom count, then the users and (from column PHB) the phantoms' scheduling ids
CAP, NU, QH, QT, LSEQ, LREQ, PHN, USERS = 0, 1, 2, 3, 4, 5, 6, 7
#: error codes (slot ERR)
ERRORS = {1: "event record overflow", 2: "phantom release overflow", 3: "release of a request not held",
          4: "time table full"}
TABLE_FULL = 4
#: the graph's int and float arrays, in the order of their offset slots O_KIND... and OF_DUR...
INT_ARRAYS = ("kind", "prio", "hold_ptr", "hold_unit", "root_ptr", "root", "n_dests", "hop_unit", "hop_slot",
              "child_ptr", "child", "key_ptr", "succ_ptr", "succ", "carry_ptr", "carry")
FLOAT_ARRAYS = ("duration", "latency", "hold_cycles", "hop_hold", "hop_tail")

# ---- the arena: slots of the header of I (sizes, scalar state, offsets of the arrays in I and F)
N, STEPS, TOTAL, NKEYS, NHOPS, NHOLDS, UCOLS, PHB = 0, 1, 2, 3, 4, 5, 6, 7
# HSIZE: times in the heap; HCAP: event records the arena holds
CUR, NEXT, HSIZE, LATER, ERR, IHEAD, ITAIL, EVENTS, HCAP = 8, 9, 10, 11, 12, 13, 14, 15, 16
(O_KIND, O_PRIO, O_HOLD_PTR, O_HOLD_UNIT, O_ROOT_PTR, O_ROOT, O_NDESTS, O_HOP_UNIT, O_HOP_SLOT, O_CHILD_PTR, O_CHILD,
 O_KEY_PTR, O_SUCC_PTR, O_SUCC, O_CARRY_PTR, O_CARRY, O_UU, O_RQ, O_PR, O_INITS, O_CRIT, O_REM, O_PEND, O_STK,
 O_HI) = range(17, 42)
OF_DUR, OF_LAT, OF_HOLD_CYC, OF_HOP_HOLD, OF_HOP_TAIL, OF_UF, OF_RT, OF_PT, OF_TIMES, OF_ARR, OF_HT = range(42, 53)
# the queue: O_HI / OF_HT the heap's buckets and times; event records (free list, first never used, base);
# buckets (free list, first never used, base of (head, tail), base of their times); the table (base, size, hash
# shift); the bucket being served, the last one scheduled into; pending events; live buckets; the one before
EV_FREE, EV_TOP, O_EV = 53, 54, 55
BK_FREE, BK_TOP, O_BK, OF_BK = 56, 57, 58, 59
O_TT, TCAP, TSHIFT, CURB, LASTB, NPEND, NBK, LASTB2 = 60, 61, 62, 63, 64, 65, 66, 67
HEADER = 68
NOW, STALL, STALL1, HEAD, FHEADER = 0, 1, 2, 3, 4  # slots of the header of F


@njit(cache=True, _nrt=False, inline="always")
def _home(I, t):
    """Time ``t``'s home slot in the table (Fibonacci hashing of ``t`` in 1/64 cycles; times
    past 2**50 cycles, far beyond any run, share one home rather than overflow the integer)."""
    x = np.uint64(np.int64(min(t, 1125899906842624.0) * 64.0)) * np.uint64(11400714819323198485)
    return np.int64(x >> np.uint64(I[TSHIFT]))


@njit(cache=True, _nrt=False, inline="always")
def _slot(I, F, t):
    """The table slot holding time ``t``'s bucket, or the empty slot where it goes."""
    # Fibonacci hashing of t in 1/64 cycles (see _home)
    x = np.uint64(np.int64(min(t, 1125899906842624.0) * 64.0)) * np.uint64(11400714819323198485)
    h = np.int64(x >> np.uint64(I[TSHIFT]))
    mask = I[TCAP] - 1
    tt = I[O_TT]
    bt = I[OF_BK]
    while True:
        b = I[tt + h]
        if b < 0 or F[bt + b] == t:
            return h
        h = (h + 1) & mask


@njit(cache=True, _nrt=False, inline="always")
def _new_bucket(I, F, t, slot):
    b = I[BK_FREE]
    if b >= 0:
        I[BK_FREE] = I[I[O_BK] + 2 * b]
    else:
        b = I[BK_TOP]
        I[BK_TOP] = b + 1
    I[I[O_BK] + 2 * b] = -1
    I[I[O_BK] + 2 * b + 1] = -1
    F[I[OF_BK] + b] = t
    I[I[O_TT] + slot] = b
    I[NBK] += 1
    if 2 * I[NBK] > I[TCAP]:
        I[ERR] = 4
    # the heap of times (all distinct)
    i = I[HSIZE]
    I[HSIZE] = i + 1
    ht = I[OF_HT]
    hi = I[O_HI]
    while i > 0:
        parent = (i - 1) >> 1
        if F[ht + parent] < t:
            break
        F[ht + i] = F[ht + parent]
        I[hi + i] = I[hi + parent]
        i = parent
    F[ht + i] = t
    I[hi + i] = b
    return b


@njit(cache=True, _nrt=False, inline="always")
def _next_bucket(I, F):
    """Pop the earliest pending time's bucket off the heap."""
    ht = I[OF_HT]
    hi = I[O_HI]
    b = I[hi]
    size = I[HSIZE] - 1
    I[HSIZE] = size
    if size > 0:
        lt, lb = F[ht + size], I[hi + size]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= size:
                break
            if c + 1 < size and F[ht + c + 1] < F[ht + c]:
                c += 1
            if F[ht + c] < lt:
                F[ht + i] = F[ht + c]
                I[hi + i] = I[hi + c]
                i = c
            else:
                break
        F[ht + i] = lt
        I[hi + i] = lb
    return b


@njit(cache=True, _nrt=False, inline="always")
def _drop_bucket(I, F, b):
    """Take served bucket ``b`` out of the table (backward-shift deletion) and free it."""
    mask = I[TCAP] - 1
    tt = I[O_TT]
    bt = I[OF_BK]
    i = _slot(I, F, F[bt + b])
    j = i
    while True:
        j = (j + 1) & mask
        c = I[tt + j]
        if c < 0:
            break
        k = _home(I, F[bt + c])
        # c stays if its home slot k lies cyclically in (i, j]
        if (i <= j and i < k <= j) or (i > j and (k > i or k <= j)):
            continue
        I[tt + i] = c
        i = j
    I[tt + i] = -1
    F[bt + b] = -1.0  # dead: no scheduled time is negative
    I[I[O_BK] + 2 * b] = I[BK_FREE]
    I[BK_FREE] = b
    I[NBK] -= 1


@njit(cache=True, _nrt=False, inline="always")
def push(I, F, t, seq, kind, a, b):
    """Schedule event ``(t, seq)`` into its time's bucket, in id order."""
    e = I[EV_FREE]
    ev = I[O_EV]
    if e >= 0:
        I[EV_FREE] = I[ev + 5 * e + 4]
    else:
        e = I[EV_TOP]
        if e >= I[HCAP]:
            I[ERR] = 1
            return
        I[EV_TOP] = e + 1
    r = ev + 5 * e
    I[r] = seq
    I[r + 1] = kind
    I[r + 2] = a
    I[r + 3] = b
    bk = I[CURB]
    if bk < 0 or t != F[NOW]:
        bk = I[LASTB]
        if bk < 0 or F[I[OF_BK] + bk] != t:
            # a transfer's hop alternates between its delivery's time and its next move's: remember two
            last = bk
            bk = I[LASTB2]
            if bk < 0 or F[I[OF_BK] + bk] != t:
                slot = _slot(I, F, t)
                bk = I[I[O_TT] + slot]
                if bk < 0:
                    bk = _new_bucket(I, F, t, slot)
            I[LASTB2] = last
            I[LASTB] = bk
    I[NPEND] += 1
    base = I[O_BK] + 2 * bk
    tail = I[base + 1]
    if tail < 0:
        I[base] = e
        I[base + 1] = e
        I[r + 4] = -1
        return
    if I[ev + 5 * tail] < seq:
        I[ev + 5 * tail + 4] = e
        I[base + 1] = e
        I[r + 4] = -1
        return
    prev = -1
    x = I[base]
    while x >= 0 and I[ev + 5 * x] < seq:
        prev = x
        x = I[ev + 5 * x + 4]
    I[r + 4] = x
    if prev < 0:
        I[base] = e
    else:
        I[ev + 5 * prev + 4] = e


@njit(cache=True, _nrt=False, inline="always")
def pop(I, F):
    """The next event by ``(time, id)``: the head of the current time's bucket, or of the
    earliest pending time's."""
    bk = I[CURB]
    if bk < 0 or I[I[O_BK] + 2 * bk] < 0:
        if bk >= 0:
            _drop_bucket(I, F, bk)
        bk = _next_bucket(I, F)
        I[CURB] = bk
    base = I[O_BK] + 2 * bk
    e = I[base]
    r = I[O_EV] + 5 * e
    nxt = I[r + 4]
    I[base] = nxt
    if nxt < 0:
        I[base + 1] = -1
    I[r + 4] = I[EV_FREE]
    I[EV_FREE] = e
    I[NPEND] -= 1
    return F[I[OF_BK] + bk], I[r], I[r + 1], I[r + 2], I[r + 3]


@njit(cache=True, _nrt=False, inline="always")
def pending(I):
    """Events not yet processed."""
    return I[NPEND]


@njit(cache=True, _nrt=False, inline="always")
def schedule(I, F, t, kind, a, b):
    seq = I[NEXT]
    I[NEXT] = seq + 1
    push(I, F, t, seq, kind, a, b)
