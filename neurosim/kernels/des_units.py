"""The units of the DES kernel (:mod:`.des_loop`): SimPy's ``PriorityResource`` as the
Python replay (:mod:`neurosim.sim.replay`) runs it — :func:`request`, :func:`hold` (a
release timeout, elided while no one waits), :func:`release` — over the arena of
:mod:`.des_arena` (a unit is a row of ``UCOLS`` ints there, a request 4 ints and its time).

numba's on-disk cache checks only the file of the function it compiled, and
:mod:`.des_loop` inlines what this module defines; the kernels' cache folder is named
by a hash of every kernel module (:mod:`._cache`), so an edit here compiles the loop again.
"""

from __future__ import annotations

from numba import njit

from .des_arena import (CAP, CUR, ERR, GRANT, LATER, LREQ, LSEQ, NEXT, NOW, NU, OF_RT, OF_UF, O_RQ, O_UU, PHB, PHN, QH,
                        QT, RELEASE, TRIGGER, UCOLS, USERS, push, schedule)

__all__ = ["request", "hold", "release", "grant_head"]


@njit(cache=True, _nrt=False, inline="always")
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


@njit(cache=True, _nrt=False, inline="always")
def dequeue(I, ub):
    head = I[ub + QH]
    nxt = I[I[O_RQ] + 4 * head + 3]
    I[ub + QH] = nxt
    if nxt < 0:
        I[ub + QT] = -1
    return head


@njit(cache=True, _nrt=False, inline="always")
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


@njit(cache=True, _nrt=False, inline="always")
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


@njit(cache=True, _nrt=False, inline="always")
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
