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
are shared with a second thread, below that they run one after another
(:mod:`.pulse_threads` starts an update and joins it) — the same chunks and
streams, so the same bits either way.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .counter_rng import fill_normals, pulse_key, splitmix64
from .intrinsics import prefetch_write, trailing_zeros

__all__ = ["ROWS_PER_CHUNK", "PARALLEL_CELLS", "BACKGROUND_CELLS", "splitmix64", "pulse_key"]

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
