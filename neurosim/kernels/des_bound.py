"""The contention-free bound of a step graph (``neurosim.sim.analytic.longest_path``)
as a numba loop over the DES kernel's encoded arrays (``neurosim.sim.engine_arrays``).

An op starts at the latest of its inputs (0 without any); a compute op ends
``duration`` then ``latency`` later (each added only when positive); a transfer's
head reaches a hop ``router + link`` cycles after reaching its parent (the op's
start for a first hop) and delivers ``tail`` cycles after reaching a destination;
the transfer ends at its last delivery. Ops are numbered in dependency order, so
one pass suffices, and every time is the same sum, in the same order, as in
``analytic.schedule`` (``tests/test_engine.py`` checks the makespans equal).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .des_arena import ROUTE

__all__ = ["contention_free_end"]


@njit(cache=True)
def contention_free_end(kind, duration, latency, root_ptr, root, hop_tail, hop_slot, child_ptr, child, key_ptr,
                        succ_ptr, succ, head):
    """End time of every op of one step run with unlimited units."""
    n = kind.shape[0]
    ready = np.zeros(n)
    end = np.zeros(n)
    at = np.empty(hop_tail.shape[0])
    stack = np.empty(hop_tail.shape[0], np.int64)
    for i in range(n):
        t = ready[i]
        if kind[i] == ROUTE:
            last = -np.inf
            sp = 0
            for j in range(root_ptr[i], root_ptr[i + 1]):
                at[root[j]] = t + head
                stack[sp] = root[j]
                sp += 1
            while sp > 0:
                sp -= 1
                h = stack[sp]
                if hop_slot[h] >= 0:
                    delivered = at[h] + hop_tail[h]
                    last = max(last, delivered)
                    key = key_ptr[i] + 1 + hop_slot[h]
                    for k in range(succ_ptr[key], succ_ptr[key + 1]):
                        ready[succ[k]] = max(ready[succ[k]], delivered)
                for j in range(child_ptr[h], child_ptr[h + 1]):
                    at[child[j]] = at[h] + head
                    stack[sp] = child[j]
                    sp += 1
            end[i] = last if last > -np.inf else t
        else:
            done = t + duration[i] if duration[i] > 0 else t
            end[i] = done + latency[i] if latency[i] > 0 else done
        key = key_ptr[i]
        for k in range(succ_ptr[key], succ_ptr[key + 1]):
            ready[succ[k]] = max(ready[succ[k]], end[i])
    return end
