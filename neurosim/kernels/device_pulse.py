"""The pulse update of the device model: ``w - w_eff`` sent to the cells as programming pulses.

Normalised conductance ``g ∈ [0, 1]``, pulse position ``p ∈ [0, 1]``, curve
``g(p) = (1 - e^{-p/A}) / N`` with ``N = 1 - e^{-1/A}`` (:mod:`.device`). One
update of ``n`` pulses (``s = ±n/levels``, + for LTP on ``A_ltp > 0``, − for LTD on
``A_ltd < 0``):

=====================  ==========================================================
pulses                 ``n = round(|Δw| / span · levels)``, ``span = 2 w_max`` (reference) or ``w_max`` (differential)
log/exp step           ``p = -A ln(1 - g N) + s``, ``p`` clipped to [0, 1], ``g' = (1 - e^{-p/A}) / N``
closed form            ``e^{-(p + s)/A} = (1 - g N) e^{-s/A}``, so ``g' = (1 - (1 - g N) E[n]) / N``
                       with ``E[n] = e^{∓n/(levels A)}`` (a table per call over ``n ≤ levels``);
                       ``g(p)`` rises with ``p`` for either sign of ``A`` and ``g(0) = 0``,
                       ``g(1) = 1``, so clipping ``p`` to [0, 1] is clipping ``g'`` to [0, 1]
                       (``n > levels`` clips like ``n = levels``)
linear (``A = 0``)     ``g' = clip(g + s, 0, 1)``
cycle-to-cycle         ``g' += c2c · √n · ξ``, ``ξ ~ N(0, 1)``, then clipped to [0, 1]
=====================  ==========================================================

The closed form serves a curve shared by every cell (``d2d = 0``); per-cell
shapes keep the log/exp step (float32). The C2C draws are counter-based, so
the result does not depend on how the work is split over threads: each call
has a key (:func:`pulse_key` of the device seed, the cells' stream number and
the call counter), each chunk of :data:`ROWS_PER_CHUNK` output rows its own
xorshift64* stream seeded with ``splitmix64(key + chunk)``, from which the
written cells of the chunk draw in row-major order (Marsaglia's polar method,
both values of each pair used; drawn :data:`_NORMALS` at a time by
:func:`~.counter_rng.fill_normals`, the same sequence). From :data:`PARALLEL_CELLS` cells the chunks
are shared with a second thread (:mod:`.helper`: each thread claims the next
chunk from an atomic counter), below that they run one after another on the
calling thread — the same chunks and streams, so the same bits either way;
each thread keeps its own row maxima (max is order-free), reduced after the loop.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from .counter_rng import fill_normals, pulse_key, splitmix64
from .helper import Job, two_threads
from .intrinsics import fetch_add, prefetch_write, trailing_zeros

__all__ = ["ROWS_PER_CHUNK", "PARALLEL_CELLS", "BACKGROUND_CELLS", "splitmix64", "pulse_key", "pulse_update", "start_pulse_update", "Pulsing"]

#: Output rows per chunk: the unit of parallel work and of one C2C stream.
ROWS_PER_CHUNK = 32
#: Cells from which the chunks run in parallel (below it a thread launch costs more than it saves).
PARALLEL_CELLS = 1 << 16
#: Cells from which a serial update may run whole on the helper thread while the caller works on.
BACKGROUND_CELLS = 1 << 12
#: Columns marked in one bit mask before single cells are looked at.
_CHUNK = 32
#: C2C normals drawn at a time (counter_rng.fill_normals); the unused rest of a chunk's last batch is dropped.
_NORMALS = 64


@njit(cache=True, nogil=True)
def _mark(w_row, eff_row, up, down, marks, dws) -> None:
    """``marks[i]``: bit ``b`` set where column ``32 i + b`` is to be sent half a pulse or more;
    ``dws`` the change ``w_row - eff_row`` asked of each cell, and ``w_row`` back to ``eff_row``
    (what every cell not written keeps) in the same pass.

    Branch-free, vectorised: a fixed trip count and 32-bit lanes for every whole group of 32
    columns (LLVM packs the compares into a mask)."""
    n_in = w_row.size
    full = n_in - n_in % _CHUNK
    for group in range(marks.size):
        start = group * _CHUNK
        bits = np.uint32(0)
        if start < full:
            for i in range(_CHUNK):
                dw = w_row[start + i] - eff_row[start + i]
                dws[start + i] = dw
                w_row[start + i] = eff_row[start + i]
                bits |= np.uint32((dw >= up) | (-dw >= down)) << np.uint32(i)
        else:
            for k in range(start, n_in):
                dw = w_row[k] - eff_row[k]
                dws[k] = dw
                w_row[k] = eff_row[k]
                bits |= np.uint32((dw >= up) | (-dw >= down)) << np.uint32(k - start)
        marks[group] = bits


@njit(cache=True, nogil=True)
def _prefetch_marked(marks, j, g, pulses, w_blocks, block_of, offset_of) -> None:
    """Ask for the cache lines row ``j``'s marked cells will write (conductance of either side,
    pulse count, weight block): the row before is worked on while they arrive (no value changes)."""
    for group in range(marks.size):
        mask = np.int64(marks[group])
        while mask != 0:
            k = group * _CHUNK + trailing_zeros(mask)
            mask &= mask - 1
            for side in range(g.shape[0]):
                prefetch_write(g, side, j, k)
                prefetch_write(pulses, side, j, k)
            prefetch_write(w_blocks, block_of[k], j, offset_of[k])


@njit(cache=True)
def _step_table(a: float, levels: int, direction: float) -> np.ndarray:
    """``E[n] = e^{-direction · n/(levels A)}`` for ``n = 0 … levels`` (direction +1 LTP, −1 LTD: the
    closed-form step ``e^{-s/A}``; unused when linear)."""
    table = np.ones(levels + 1)
    if a != 0.0:
        for n in range(levels + 1):
            table[n] = np.exp(-direction * n / (levels * a))
    return table


@njit(cache=True, nogil=True)
def _chunk(chunk, w, w_eff, w_blocks, g, a_ltp, a_ltd, frozen, pulses, levels_ltp, levels_ltd, w_max, c2c,
           differential, endurance, row_max, key, g_ref, table_ltp, table_ltd):  # fmt: skip
    """Rows ``[chunk · ROWS_PER_CHUNK, …)`` of :func:`pulse_update`; ``row_max`` (n_in, 2) is this chunk's own.
    Returns (LTP pulses, LTD pulses, cells written)."""
    n_out, n_in = w.shape
    ltp_total = 0
    ltd_total = 0
    written = 0
    shared_a = a_ltp.size == 1
    shared_f = frozen.size == 1
    # the shared curves by direction (0 LTP, 1 LTD): linear or not, N = 1 - e^{-1/A}, the step tables E[n]
    # (arrays: a tuple indexed by a variable compiles to a branch on the index, here the random direction)
    linear = np.array([a_ltp[0, 0, 0] == 0.0, a_ltd[0, 0, 0] == 0.0])
    norms = np.array([1.0 - np.exp(-1.0 / a_ltp[0, 0, 0]) if not linear[0] else 1.0,
                      1.0 - np.exp(-1.0 / a_ltd[0, 0, 0]) if not linear[1] else 1.0])  # fmt: skip
    tables = np.ones((2, max(table_ltp.size, table_ltd.size)))
    tables[0, : table_ltp.size] = table_ltp
    tables[1, : table_ltd.size] = table_ltd
    block_of = np.arange(n_in) // w_blocks.shape[2]  # by input column: its weight block and row in it
    offset_of = np.arange(n_in) - block_of * w_blocks.shape[2]  # (looked up, no division per cell)
    span = w_max if differential else 2.0 * w_max
    # by direction (0 LTP, 1 LTD; a differential pair's cells see only LTP): pulses per weight unit, levels
    per_weight = np.empty(2, dtype=np.float32)
    per_weight[0] = np.float32(levels_ltp / span)
    per_weight[1] = np.float32((levels_ltp if differential else levels_ltd) / span)
    levels_by = np.empty(2, dtype=np.int64)
    levels_by[0] = levels_ltp
    levels_by[1] = levels_ltp if differential else levels_ltd
    half = np.float32(0.5)
    zero = np.float32(0.0)
    # below half a pulse either way (with a margin; the rest is rounded below) nothing is sent
    up = np.float32(0.5 * (1.0 - 1e-6) * span / levels_ltp)
    down = np.float32(0.5 * (1.0 - 1e-6) * span / (levels_ltp if differential else levels_ltd))
    x = splitmix64(key + np.uint64(chunk)) | np.uint64(1)
    normals = np.empty(_NORMALS)  # the stream's next normals (fill_normals), taken in order
    scratch = np.empty((3, _NORMALS // 2))
    taken = _NORMALS
    first, last = chunk * ROWS_PER_CHUNK, min((chunk + 1) * ROWS_PER_CHUNK, n_out)
    # this row's and the next row's marks and changes (_mark)
    marks = np.empty((2, -(-n_in // _CHUNK)), dtype=np.uint32)
    dws = np.empty((2, n_in), dtype=np.float32)
    _mark(w[first], w_eff[first], up, down, marks[0], dws[0])
    for j in range(first, last):
        w_row = w[j]
        eff_row = w_eff[j]
        if j + 1 < last:  # the next row's marks, and its written cells' lines on their way meanwhile
            _mark(w[j + 1], w_eff[j + 1], up, down, marks[(j + 1 - first) % 2], dws[(j + 1 - first) % 2])
            _prefetch_marked(marks[(j + 1 - first) % 2], j + 1, g, pulses, w_blocks, block_of, offset_of)
        row_marks = marks[(j - first) % 2]
        row_dw = dws[(j - first) % 2]
        for group in range(row_marks.size):
            start = group * _CHUNK
            mask = np.int64(row_marks[group])
            while mask != 0:  # the marked cells in column order (the C2C draws keep their order)
                k = start + trailing_zeros(mask)
                mask &= mask - 1
                dw = row_dw[k]
                ltp = dw > zero
                direction = 0 if ltp else 1  # selects and table lookups, not branches: the sign of dw is random
                n = int(np.floor(max(dw, -dw) * per_weight[direction] + half))
                if n == 0:
                    continue
                side = direction if differential else 0
                if differential:  # both cells of a pair see only LTP
                    ltp = True
                    direction = 0
                levels = levels_by[direction]
                written += 1
                ltd_total += n * direction
                ltp_total += n - n * direction
                row_max[k, direction] = max(row_max[k, direction], n)
                pulses[side, j, k] += n
                dead = frozen[0, 0, 0] if shared_f else frozen[side, j, k]
                if not dead:
                    gv = g[side, j, k]
                    if shared_a:
                        if linear[direction]:
                            gn = gv + (n if ltp else -n) / levels
                        else:
                            norm = norms[direction]
                            gn = (1.0 - (1.0 - gv * norm) * tables[direction, min(n, levels)]) / norm
                    else:  # per-cell shapes: the log/exp step in float32
                        a = a_ltp[side, j, k] if ltp else a_ltd[side, j, k]
                        one = np.float32(1.0)
                        step = np.float32(n if ltp else -n) / np.float32(levels)
                        if a == 0.0:
                            gn = min(max(np.float32(gv) + step, np.float32(0.0)), one)
                        else:
                            af = np.float32(a)
                            nf = np.float32(1.0 - np.exp(-1.0 / a))
                            p = min(max(-af * np.log(one - np.float32(gv) * nf) + step, np.float32(0.0)), one)
                            gn = (one - np.exp(-p / af)) / nf
                    gn = min(max(gn, 0.0), 1.0)
                    if c2c > 0.0:
                        if taken == _NORMALS:
                            x = fill_normals(x, normals, scratch[0], scratch[1], scratch[2])
                            taken = 0
                        z = normals[taken]
                        taken += 1
                        gn = min(max(gn + c2c * np.sqrt(n) * z, 0.0), 1.0)
                    g[side, j, k] = gn
                    if endurance > 0 and pulses[side, j, k] >= endurance and not shared_f:
                        frozen[side, j, k] = True
                if differential:
                    value = w_max * (g[0, j, k] - g[1, j, k])
                else:
                    value = w_max * (2.0 * g[0, j, k] - 2.0 * g_ref)
                w_row[k] = value
                eff_row[k] = value
                w_blocks[block_of[k], j, offset_of[k]] = value
    return ltp_total, ltd_total, written


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
def _chunks_serial(w, w_eff, w_blocks, g, a_ltp, a_ltd, frozen, pulses, levels_ltp, levels_ltd, w_max, c2c,
                   differential, endurance, row_max, key, g_ref, table_ltp, table_ltd):  # fmt: skip
    """Every chunk in order on this thread (max is order-free: one shared ``row_max`` gives the same maxima)."""
    ltp = 0
    ltd = 0
    written = 0
    for c in range(-(-w.shape[0] // ROWS_PER_CHUNK)):
        counts = _chunk(c, w, w_eff, w_blocks, g, a_ltp, a_ltd, frozen, pulses, levels_ltp, levels_ltd, w_max, c2c,
                        differential, endurance, row_max, key, g_ref, table_ltp, table_ltd)  # fmt: skip
        ltp += counts[0]
        ltd += counts[1]
        written += counts[2]
    return ltp, ltd, written


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
    the helper's chunks and returns (LTP, LTD, written) with ``row_max`` raised."""

    def __init__(self, args: tuple, n_in: int, chunks: int, row_max: np.ndarray):
        self.args = args
        self.row_max = row_max
        self.counter = np.zeros(1, dtype=np.int64)
        self.done = np.zeros(1, dtype=np.int64)
        self.counts = np.zeros((chunks, 3), dtype=np.int64)
        self.maxima = np.zeros((2, n_in, 2), dtype=np.int64)  # per thread: the caller's, the helper's
        self.helper = Job(self._claim, 1)

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


class _Done:
    """An update already run on the calling thread (the serial loop), as a :class:`Pulsing`."""

    def __init__(self, counts: tuple[int, int, int]):
        self.counts = counts

    def join(self) -> tuple[int, int, int]:
        return self.counts


class _Background:
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
) -> Pulsing | _Done | _Background:
    """Program the change ``w - w_eff`` into the cells as pulses; ``w``/``w_eff`` get the new weights
    once the returned update's ``join()`` (LTP pulses, LTD pulses, cells written) has returned.

    ``w`` (n_out, n_in) holds the weights the optimizer wants, ``w_eff`` the ones the
    cells hold and ``w_blocks`` the same in row blocks (:func:`~.device.block_weights`); all kept up to date.
    Reference mapping: one cell per weight, ``g[0]`` (n_out, n_in), ``w = 2 w_max (g - g_ref)``,
    LTP on ``a_ltp``, LTD on ``a_ltd``. Differential: ``g[0] = G⁺``, ``g[1] = G⁻``,
    ``w = w_max (g⁺ - g⁻)``, ``n = round(|Δw| / w_max · levels_ltp)`` LTP pulses on ``G⁺`` (Δw > 0) or ``G⁻``.
    ``a_*`` and ``frozen`` are per cell (shape of ``g``) or of shape (1, 1, 1) (shared).
    C2C draws come from the streams of ``key`` (module docstring). A frozen cell (stuck, or
    worn out after ``endurance`` pulses when ``endurance > 0``) keeps its conductance.
    ``pulses`` counts every pulse sent per cell; ``row_max[k, 0/1]`` gets the largest
    LTP/LTD pulse count sent on input row ``k`` (it is raised, not reset). ``parallel``:
    force the parallel or the serial loop (default: parallel from :data:`PARALLEL_CELLS` cells;
    the results are the same). A parallel update runs on the helper thread until it is joined,
    so the caller can do other work meanwhile (on other arrays); so does a serial one of at least
    :data:`BACKGROUND_CELLS` cells with ``background`` (whole, on the helper).
    """
    if parallel is None:
        parallel = w.size >= PARALLEL_CELLS and two_threads()
    shared = a_ltp.size == 1
    table_ltp = _tables(float(a_ltp[0, 0, 0]) if shared else 0.0, levels_ltp, 1.0)
    table_ltd = _tables(float(a_ltd[0, 0, 0]) if shared else 0.0, levels_ltd, -1.0)
    if not parallel:
        serial = (w, w_eff, w_blocks, g, a_ltp, a_ltd, frozen, pulses, levels_ltp, levels_ltd, float(w_max), float(c2c),
                  bool(differential), int(endurance), row_max, np.uint64(key), float(g_ref), table_ltp, table_ltd)  # fmt: skip
        if background and w.size >= BACKGROUND_CELLS and two_threads():
            return _Background(serial)
        return _Done(_chunks_serial(*serial))
    args = (w, w_eff, w_blocks, g, a_ltp, a_ltd, frozen, pulses, levels_ltp, levels_ltd, float(w_max), float(c2c),
            bool(differential), int(endurance), np.uint64(key), float(g_ref), table_ltp, table_ltd)  # fmt: skip
    return Pulsing(args, w.shape[1], -(-w.shape[0] // ROWS_PER_CHUNK), row_max)


def pulse_update(*args, **kwargs) -> tuple[int, int, int]:
    """:func:`start_pulse_update` and its join: the whole update before it returns (LTP pulses, LTD pulses, cells written)."""
    return start_pulse_update(*args, **kwargs).join()
