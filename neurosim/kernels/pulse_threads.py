"""An update's chunks on one thread or two: the helper thread takes chunks beside the caller.

:mod:`.device_pulse` has the pulse update itself (one chunk of :data:`~.device_pulse.ROWS_PER_CHUNK`
output rows, its formulas and its C2C streams). Here a whole update is started
(:func:`start_pulse_update`): from :data:`~.device_pulse.PARALLEL_CELLS` cells the chunks are
claimed one at a time from an atomic counter by the helper thread (:mod:`.helper`) and, when
the caller joins, by the calling thread too, each thread with its own row maxima (max is
order-free), reduced after; below that the chunks run in order on the calling thread, or whole
on the helper (``background``, from :data:`~.device_pulse.BACKGROUND_CELLS` cells). The same
chunks and streams either way, so the same bits. An update can be given a step to run on the
helper first (``before``: the optimizer step of its own layer), its chunks then following on
the helper at once.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import numpy as np
from numba import njit

from .device_pulse import BACKGROUND_CELLS, PARALLEL_CELLS, ROWS_PER_CHUNK, _chunk, _chunks_serial, _step_table
from .helper import Job, two_threads
from .intrinsics import fetch_add

__all__ = ["Pulsing", "start_pulse_update", "pulse_update"]


@functools.lru_cache(maxsize=64)
def _tables(a: float, levels: int, direction: float) -> np.ndarray:
    """:func:`_step_table`, once per curve (read-only)."""
    table = _step_table(a, levels, direction)
    table.flags.writeable = False
    return table


@njit(cache=True)
def _raise_to(row_max: np.ndarray, maxima: np.ndarray) -> None:
    """``row_max = max(row_max, maxima[t])`` over the threads ``t``."""
    for c in range(maxima.shape[0]):
        for k in range(row_max.shape[0]):
            row_max[k, 0] = max(row_max[k, 0], maxima[c, k, 0])
            row_max[k, 1] = max(row_max[k, 1], maxima[c, k, 1])


@njit(cache=True, nogil=True)
def _claim_chunks(counter, done, counts, maxima, w, w_eff, w_blocks, g, a_ltp, a_ltd, frozen, pulses, levels_ltp,
                  levels_ltd, w_max, c2c, differential, endurance, key, g_ref, table_ltp, table_ltd):  # fmt: skip
    """Take chunks (``counter``) until none is left, each with its own ``counts[c]``, the row maxima
    into this thread's ``maxima``;
    ``done`` counts the chunks finished."""
    chunks = counts.shape[0]
    while True:
        c = fetch_add(counter, 1)
        if c >= chunks:
            break
        ltp, ltd, written = _chunk(c, w, w_eff, w_blocks, g, a_ltp, a_ltd, frozen, pulses, levels_ltp, levels_ltd,
                                   w_max, c2c, differential, endurance, maxima, key, g_ref, table_ltp, table_ltd)  # fmt: skip
        counts[c, 0] = ltp
        counts[c, 1] = ltd
        counts[c, 2] = written
        fetch_add(done, 1)


@njit(cache=True)
def _finished(done: np.ndarray) -> int:
    """``done[0]``, read atomically (a full barrier: the chunks it counts are visible after it)."""
    return fetch_add(done, 0)


class Pulsing:
    """One update whose chunks the helper thread starts taking as soon as this is made
    (:mod:`.helper`; the claiming runs in numba, with an atomic counter), while the caller
    goes on with other work; :meth:`join` takes what is left on the calling thread, waits for
    the helper's chunks and returns (LTP, LTD, written) with ``row_max`` raised. With
    ``before``, the helper runs it first and its chunks right after (:meth:`wait_before`)."""

    def __init__(self, args: tuple, n_in: int, chunks: int, row_max: np.ndarray, before: Callable[[], None] | None = None):
        self.args = args
        self.row_max = row_max
        self.counter = np.zeros(1, dtype=np.int64)
        self.done = np.zeros(1, dtype=np.int64)
        self.counts = np.zeros((chunks, 3), dtype=np.int64)
        self.maxima = np.zeros((2, n_in, 2), dtype=np.int64)  # per thread: the caller's, the helper's
        self.before, self.stepped, self.before_error = before, threading.Event(), None
        self.helper = Job(self._helper_part)

    def _helper_part(self) -> None:
        if self.before is not None:
            try:
                self.before()
            except BaseException as error:  # re-raised by wait_before on the calling thread
                self.before_error = error
                raise
            finally:
                self.stepped.set()
        self._claim(1)

    def wait_before(self) -> None:
        """Wait until ``before`` has run (no chunk is taken before: it may change ``w``). If the
        helper has not started it, it runs here, with the helper's share of the chunks after it."""
        if not self.helper.run_here():
            self.stepped.wait()
        if self.before_error is not None:
            raise self.before_error

    def _claim(self, thread: int) -> None:
        _claim_chunks(self.counter, self.done, self.counts, self.maxima[thread], *self.args)

    def join(self) -> tuple[int, int, int]:
        self._claim(0)
        if _finished(self.done) < self.counts.shape[0]:  # the helper is still on chunks it took
            self.helper.wait()
        elif self.helper.error is not None:  # it failed before taking any
            raise self.helper.error
        _raise_to(self.row_max, self.maxima)
        ltp, ltd, written = self.counts.sum(axis=0)
        return int(ltp), int(ltd), int(written)


class _Started:
    """An update started after its ``before`` step, which ran on the calling thread."""

    def wait_before(self) -> None:
        pass


class _Done(_Started):
    """An update already run on the calling thread (the serial loop), as a :class:`Pulsing`."""

    def __init__(self, counts: tuple[int, int, int]):
        self.counts = counts

    def join(self) -> tuple[int, int, int]:
        return self.counts


class _Background(_Started):
    """A serial update run whole on the helper thread while the caller goes on; :meth:`join` waits for it."""

    def __init__(self, args: tuple):
        self.job = Job(_chunks_serial, *args)

    def join(self) -> tuple[int, int, int]:
        return self.job.wait()


def start_pulse_update(
    w: np.ndarray,
    w_eff: np.ndarray,
    w_blocks: np.ndarray,
    g: np.ndarray,
    a_ltp: np.ndarray,
    a_ltd: np.ndarray,
    frozen: np.ndarray,
    pulses: np.ndarray,
    levels_ltp: int,
    levels_ltd: int,
    w_max: float,
    c2c: float,
    differential: bool,
    endurance: int,
    row_max: np.ndarray,
    key: int,
    g_ref: float = 0.5,
    parallel: bool | None = None,
    background: bool = False,
    before: Callable[[], None] | None = None,
) -> Pulsing | _Done | _Background:
    """Program the change ``w - w_eff`` into the cells as pulses; ``w``/``w_eff`` get the new weights
    once the returned update's ``join()`` (LTP pulses, LTD pulses, cells written) has returned.

    ``w`` (n_out, n_in) holds the weights the optimizer wants, ``w_eff`` the ones the
    cells hold and ``w_blocks`` the same in row blocks (:func:`~.device.block_weights`); all kept up to date.
    Reference mapping: one cell per weight, ``g[0]`` (n_out, n_in), ``w = 2 w_max (g - g_ref)``,
    LTP on ``a_ltp``, LTD on ``a_ltd``. Differential: ``g[0] = G⁺``, ``g[1] = G⁻``,
    ``w = w_max (g⁺ - g⁻)``, ``n = round(|Δw| / w_max · levels_ltp)`` LTP pulses on ``G⁺`` (Δw > 0) or ``G⁻``.
    ``a_*`` and ``frozen`` are per cell (shape of ``g``) or of shape (1, 1, 1) (shared).
    C2C draws come from the streams of ``key`` (:mod:`.device_pulse`). A frozen cell (stuck, or
    worn out after ``endurance`` pulses when ``endurance > 0``) keeps its conductance.
    ``pulses`` counts every pulse sent per cell; ``row_max[k, 0/1]`` gets the largest
    LTP/LTD pulse count sent on input row ``k`` (it is raised, not reset). ``parallel``:
    force the parallel or the serial loop (default: parallel from :data:`~.device_pulse.PARALLEL_CELLS` cells;
    the results are the same). A parallel update runs on the helper thread until it is joined,
    so the caller can do other work meanwhile (on other arrays); so does a serial one of at least
    :data:`~.device_pulse.BACKGROUND_CELLS` cells with ``background`` (whole, on the helper). ``before``: a step
    to run first, which may change ``w`` (its layer's optimizer step): on the helper with the
    chunks following it there at once (a parallel update; the caller must call ``wait_before()``
    before ``w`` is read), otherwise here before the update starts.
    """
    if parallel is None:
        parallel = w.size >= PARALLEL_CELLS and two_threads()
    shared = a_ltp.size == 1
    table_ltp = _tables(float(a_ltp[0, 0, 0]) if shared else 0.0, levels_ltp, 1.0)
    table_ltd = _tables(float(a_ltd[0, 0, 0]) if shared else 0.0, levels_ltd, -1.0)
    if not parallel:
        if before is not None:
            before()
        serial = (w, w_eff, w_blocks, g, a_ltp, a_ltd, frozen, pulses, levels_ltp, levels_ltd, float(w_max), float(c2c),
                  bool(differential), int(endurance), row_max, np.uint64(key), float(g_ref), table_ltp, table_ltd)  # fmt: skip
        if background and w.size >= BACKGROUND_CELLS and two_threads():
            return _Background(serial)
        return _Done(_chunks_serial(*serial))
    args = (w, w_eff, w_blocks, g, a_ltp, a_ltd, frozen, pulses, levels_ltp, levels_ltd, float(w_max), float(c2c),
            bool(differential), int(endurance), np.uint64(key), float(g_ref), table_ltp, table_ltd)  # fmt: skip
    return Pulsing(args, w.shape[1], -(-w.shape[0] // ROWS_PER_CHUNK), row_max, before)


def pulse_update(*args, **kwargs) -> tuple[int, int, int]:
    """:func:`start_pulse_update` and its join: the whole update before it returns (LTP pulses, LTD pulses, cells written)."""
    return start_pulse_update(*args, **kwargs).join()
