"""The exact event engine of the DES: SimPy's semantics for the step graph's processes,
as a numba loop over flat arrays.

:func:`simulate` produces, for any step graph, exactly what the SimPy model of
:func:`neurosim.sim.des.simulate_simpy` produces (every op's ready, start and end
time, every delivery, the stall sum — bit for bit). It runs the event order of
:mod:`.replay` (the same engine in pure Python: SimPy's order, minus the events
that provably cannot change it; see its docstring) in
:func:`neurosim.kernels.des_loop.run_events`, on the arrays of
:mod:`.engine_arrays`. ``tests/test_engine.py`` checks engine == replay == SimPy.

The first call in a fresh environment compiles the kernel (a few seconds, once:
numba caches it on disk, ``cache=True``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np

from ..kernels.des_arena import ERRORS, TABLE_FULL
from ..kernels.des_bound import contention_free_end
from ..kernels.des_loop import run_events
from .des import SimResult, make_result
from .engine_arrays import EncodedGraph, Scratch, encode, make_arena, results
from .ops import StepGraph

__all__ = ["simulate", "simulate_window", "contention_free_makespan", "EngineStats"]


class EngineStats:
    """Events processed by :func:`simulate` calls since ``events`` was last reset (for bench/)."""

    events = 0


def simulate(graph: StepGraph, steps: int = 1, encoded: EncodedGraph | None = None) -> SimResult:
    """Run ``steps`` back-to-back copies of ``graph`` (same result as the SimPy model).
    ``encoded``: :func:`~neurosim.sim.engine_arrays.encode` of ``graph``, if already made."""
    return simulate_window(graph, steps, encoded)[0]


#: slots of the event queue's table of pending times in a first run (grown 4x while a run finds it full)
TABLE_SLOTS = 4096


#: per thread, the memory of the last run's arenas (see :class:`~neurosim.sim.engine_arrays.Scratch`)
_SCRATCH = threading.local()


def _run(enc: EncodedGraph, steps: int):
    table = TABLE_SLOTS
    scratch = getattr(_SCRATCH, "memory", None)
    if scratch is None:
        scratch = _SCRATCH.memory = Scratch()
    while True:
        arena = make_arena(enc.ints, enc.floats, enc.unit_cap, enc.rem0, enc.carry_cnt, enc.head_cycles, steps,
                           enc.n_keys, table, scratch)
        run_events(*arena)
        out = results(*arena)
        if out[7] != TABLE_FULL:
            break
        table *= 4  # more distinct times pending at once than the table admits: run again with a larger one
    if out[7]:  # pragma: no cover - a bound of make_arena is wrong
        raise RuntimeError(f"DES engine: {ERRORS[out[7]]}")
    EngineStats.events += out[8]
    return (out[0].copy(),) + out[1:]  # the times outlive the arena's memory (the next run reuses it)


class _ReadBack(Mapping):
    """A mapping read from the kernel's arrays on demand (``__getitem__``); made into a dict
    (:meth:`_build`) only if someone iterates over it: ``cost_step`` asks for the few entries on
    the critical path of the ~10^5 of a large step."""

    _all: dict | None = None

    def _build(self) -> dict:
        raise NotImplementedError

    def _dict(self) -> dict:
        if self._all is None:
            self._all = self._build()
        return self._all

    def __iter__(self):
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())


class _Arrivals(_ReadBack):
    """``(global op, destination tile) -> delivery time`` of a run."""

    def __init__(self, enc: EncodedGraph, arr: np.ndarray, limit: int):
        self._enc, self._arr, self._limit = enc, arr[:limit].copy(), limit  # a copy: not the run's whole arena kept alive

    def __getitem__(self, key: tuple[int, int]) -> float:
        g, node = key
        enc = self._enc
        step, op = divmod(g, enc.n_ops)
        first = int(enc.ints["key_ptr"][op]) + 1  # op's delivery keys follow its completion key
        slots = np.flatnonzero(enc.key_node[first:first + int(enc.ints["n_dests"][op])] == node)
        at = step * enc.n_keys + first + int(slots[0]) if node >= 0 and slots.size else -1
        if not 0 <= at < self._limit or np.isnan(self._arr[at]):
            raise KeyError(key)
        return float(self._arr[at])

    def _build(self) -> dict[tuple[int, int], float]:
        enc, arr = self._enc, self._arr
        kid = np.flatnonzero(~np.isnan(arr))
        step, key = np.divmod(kid, enc.n_keys)
        g = step * enc.n_ops + enc.key_op[key]
        return dict(zip(zip(g.tolist(), enc.key_node[key].tolist()), arr[kid].tolist()))


class _Critical(_ReadBack):
    """``global op -> (releasing global op, destination or -1)`` of a run."""

    def __init__(self, enc: EncodedGraph, crit: np.ndarray):
        self._enc, self._crit = enc, crit.copy()

    def __getitem__(self, g: int) -> tuple[int, int]:
        if not 0 <= g < self._crit.shape[0] or self._crit[g] < 0:
            raise KeyError(g)
        step, key = divmod(int(self._crit[g]), self._enc.n_keys)
        return step * self._enc.n_ops + int(self._enc.key_op[key]), int(self._enc.key_node[key])

    def _build(self) -> dict[int, tuple[int, int]]:
        enc, crit = self._enc, self._crit
        g = np.flatnonzero(crit >= 0)
        step, key = np.divmod(crit[g], enc.n_keys)
        pred = step * enc.n_ops + enc.key_op[key]
        return dict(zip(g.tolist(), zip(pred.tolist(), enc.key_node[key].tolist())))


def simulate_window(graph: StepGraph, steps: int, encoded: EncodedGraph | None = None, *,
                    times_only: bool = False) -> tuple[SimResult, SimResult | None]:
    """Run ``steps`` chained copies of ``graph``; also return what a lone step would give
    (:func:`simulate` with ``steps=1``) when it can be read off the window exactly: when no
    op of a later step ever held a unit that an op of the first step asked for, the first
    step's ops were never delayed by the later ones (their requests queue behind the first
    step's, which has the better priority), so they ran as if alone. Else None.
    ``times_only``: the window's result leaves ``arrivals``, ``critical_dep`` and ``busy`` empty
    (``cost_step`` reads only its step ends; the lone step's result is always complete)."""
    enc = encoded if encoded is not None else encode(graph)
    n = enc.n_ops
    times, arr, crit, rem, stall, stall_first, later, _error, _events = _run(enc, steps)
    if (rem > 0).any():  # pragma: no cover - a builder bug
        stuck = int(np.flatnonzero(rem > 0)[0])
        raise RuntimeError(f"op graph deadlocked at {graph.ops[stuck % n]}")
    ready, start, end = times
    if times_only:
        window = make_result(graph, steps, ready, start, end, {}, {}, stall, with_busy=False)
    else:
        window = make_result(graph, steps, ready, start, end, _Arrivals(enc, arr, arr.size), _Critical(enc, crit),
                             stall)
    if steps == 1 or later:
        return window, None
    lone = make_result(graph, 1, ready[:n], start[:n], end[:n], _Arrivals(enc, arr, enc.n_keys),
                       _Critical(enc, crit[:n]), stall_first)
    return window, lone


def contention_free_makespan(encoded: EncodedGraph) -> float:
    """``longest_path(graph).makespan`` of the encoded graph (one step, unlimited units)."""
    i, f = encoded.ints, encoded.floats
    end = contention_free_end(i["kind"], f["duration"], f["latency"], i["root_ptr"], i["root"], f["hop_tail"],
                              i["hop_slot"], i["child_ptr"], i["child"], i["key_ptr"], i["succ_ptr"], i["succ"],
                              encoded.head_cycles)
    return max(0.0, float(end.max())) if end.size else 0.0
