"""Cost one training step of a learning rule on the simulated chip.

:func:`cost_step` places the network (:mod:`neurosim.mapping`), builds the step's
op graph (:mod:`neurosim.sim.graph`), runs it through the discrete-event
simulator (:mod:`neurosim.sim.engine`, the model of :mod:`neurosim.sim.des` as a numba loop; or, where no
unit contends, its exact result without it, :mod:`neurosim.sim.fastpath`) once alone (per-step figures) and as a window
of back-to-back steps (the epoch extrapolation), and returns the hardware
records (counts only; energy is the ledger's post-pass) with the timing figures.
See docs/hardware.md for every formula.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..config.hw import HwConfig
from ..config.network import LayerShape
from ..hw.noc import Mesh
from ..mapping.placement import Placement, place
from ..vocabulary import COMPONENT_LEVEL, LEVELS, PHASES
from .des import SimResult, critical_path_share, unit_counts
from .engine import contention_free_makespan, simulate, simulate_window
from .engine_arrays import encode
from .fastpath import fast_simulate
from .graph import StepGraph, build_step_graph, default_chunks

__all__ = ["HardwareCost", "cost_step", "epoch_cycles", "phase_cycles"]


@dataclass(frozen=True)
class HardwareCost:
    #: hardware rows for ONE step (no energy): crossbar/dac/adc/core/sram/noc/dram
    records: list[Record]
    #: latency of one step run alone (DES)
    cycles_per_step: float
    #: one epoch of steps_per_epoch back-to-back steps (window simulation, extrapolated)
    cycles_per_epoch: float
    #: per phase: cycles from its first op's start to its last op's end, one step
    phase_cycles: dict[str, float]
    #: per component: busy unit-cycles / (cycles_per_step x units on the chip), one step
    utilisation: dict[str, float]
    #: cycles contention adds to one step: cycles_per_step - analytic_cycles_per_step
    stall_cycles: float
    #: crossbar_io, sram, noc_byte_hops, dram (bytes per step)
    bytes_by_level: dict[str, float]
    #: {"mean", "max"} programming writes per RRAM cell per epoch; zeros without crossbars
    rram_writes_per_cell_per_epoch: dict[str, float]
    placement: Placement
    #: one line per layer that spilled to DRAM
    spills: list[str]
    # ---- extras ----
    #: share of the step's critical path spent in each phase's ops ("stall": queued)
    critical_path_share: dict[str, float] = field(default_factory=dict)
    #: steady-state cycles per step when steps run back to back
    cycles_per_step_steady: float = 0.0
    #: contention-free bound on cycles_per_step (longest path of the op graph)
    analytic_cycles_per_step: float = 0.0
    #: cycles ops spent queued for busy units, summed over all ops of one step
    queued_op_cycles: float = 0.0
    #: per component: busy unit-cycles of one step (numerator of utilisation)
    busy_cycles: dict[str, float] = field(default_factory=dict)
    #: per component: instances on the chip (denominator of utilisation)
    units: dict[str, float] = field(default_factory=dict)
    #: batch chunks the step was streamed in, steps in the epoch window, ops per step
    chunks: int = 1
    window_steps: int = 1
    ops_per_step: int = 0
    steps_per_epoch: int = 1


def phase_cycles(graph: StepGraph, res: SimResult) -> dict[str, float]:
    """Per phase: last end minus first start over the phase's ops of the first step."""
    n = len(graph.ops)
    if n == 0:
        return {}
    names = {p: k for k, p in enumerate(PHASES)}
    phase = np.array([names.get(op.phase, len(PHASES)) for op in graph.ops], np.int64)
    start = np.asarray(res.start[:n], dtype=float)
    end = np.asarray(res.end[:n], dtype=float)
    first = np.full(len(PHASES) + 1, math.inf)
    last = np.zeros(len(PHASES) + 1)  # as max(0, ends...): a phase's last end is never below 0
    np.minimum.at(first, phase, start)
    np.maximum.at(last, phase, end)
    present = np.bincount(phase, minlength=len(PHASES) + 1) > 0
    return {p: float(last[k] - first[k]) for k, p in enumerate(PHASES) if present[k]}


def epoch_cycles(step_end: list[float], steps_per_epoch: int) -> tuple[float, float]:
    """(cycles of an epoch, steady cycles per step) from a window's cumulative step ends.

    The window's last steps give the steady-state marginal cost of a step,
    ``(T_k - T_{k-j}) / j`` with ``j = max(1, k // 2)``; the epoch is
    ``T_k + (steps_per_epoch - k) x marginal``. A window as long as the epoch is exact.
    """
    k = len(step_end)
    if steps_per_epoch <= k:
        t = step_end[steps_per_epoch - 1]
        return t, t / steps_per_epoch
    if k == 1:
        return step_end[0] * steps_per_epoch, step_end[0]
    j = max(1, k // 2)
    marginal = (step_end[-1] - step_end[-1 - j]) / j
    return step_end[-1] + (steps_per_epoch - k) * marginal, marginal


def cost_step(
    hw: HwConfig,
    shapes: list[LayerShape],
    batch_size: int,
    algo,
    *,
    steps_per_epoch: int,
    window_steps: int = 4,
    chunks: int | None = None,
    write_cycles: Mapping[str, float] | None = None,
) -> HardwareCost:
    """Simulate one training step of ``algo`` on ``hw`` (see module docstring).

    ``chunks``: the batch is streamed in this many chunks (default
    :func:`~neurosim.sim.graph.default_chunks`); counts do not depend on it.
    ``write_cycles``: the measured programming cycles of a layer's arrays per step
    (``numerics: device``, :func:`neurosim.pipeline.measured_write_cycles`), held by
    its weight arrays instead of the crossbar model's one write per cell.
    Raises :class:`~neurosim.errors.MappingError` when the network does not fit.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if steps_per_epoch < 1:
        raise ValueError("steps_per_epoch must be at least 1")
    with _no_cycle_collection():
        return _cost_step(hw, shapes, batch_size, algo, steps_per_epoch, window_steps, chunks, write_cycles)


@contextmanager
def _no_cycle_collection():
    """Pause Python's cyclic garbage collector while a step is costed: the op graph of a
    large chip is ~10^5 live objects (ops, records, tuples, id sets), none of them cyclic
    garbage, and the collector's full passes over them took about a third of the graph
    build (64x32 arrays on a 16x16 mesh). Reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _cost_step(hw: HwConfig, shapes: list[LayerShape], batch_size: int, algo, steps_per_epoch: int,
               window_steps: int, chunks: int | None, write_cycles: Mapping[str, float] | None) -> HardwareCost:
    pl = place(hw, shapes, algo)
    k_chunks = chunks if chunks is not None else default_chunks(batch_size)
    graph = build_step_graph(hw, shapes, batch_size, algo, placement=pl, chunks=k_chunks, write_cycles=write_cycles)
    encoded = encode(graph)
    fast = fast_simulate(graph, steps=1)
    window = max(1, min(window_steps, steps_per_epoch))
    if fast is not None:
        one = fast
        # a window contends wherever its first step does, so only a contention-free step tries the fast path again
        win = one if window == 1 else (fast_simulate(graph, steps=window) or simulate(graph, window, encoded))
    elif window == 1:
        one = win = simulate(graph, 1, encoded)
    else:
        win, lone = simulate_window(graph, window, encoded, times_only=True)
        one = lone or simulate(graph, steps=1, encoded=encoded)
    epoch, steady = epoch_cycles(win.step_end, steps_per_epoch)
    cycles = one.makespan
    bound = contention_free_makespan(encoded)  # longest_path(graph).makespan, from the encoded arrays

    records = graph.records()
    levels = {lv: 0.0 for lv in LEVELS}
    for r in records:
        if r.component in COMPONENT_LEVEL:
            levels[COMPONENT_LEVEL[r.component]] += r.bytes

    counts = unit_counts(hw, Mesh(hw.noc).n_links)
    util = {c: (one.busy.get(c, 0.0) / (cycles * n) if cycles > 0 and n > 0 else 0.0) for c, n in counts.items()}

    if graph.cells_total > 0:
        mean = graph.cells_written_per_step / graph.cells_total * steps_per_epoch
        mx = float(steps_per_epoch) if graph.cells_written_per_step > 0 else 0.0
        writes = {"mean": mean, "max": mx}
    else:
        writes = {"mean": 0.0, "max": 0.0}

    return HardwareCost(
        records=records,
        cycles_per_step=cycles,
        cycles_per_epoch=epoch,
        phase_cycles=phase_cycles(graph, one),
        utilisation=util,
        stall_cycles=max(0.0, cycles - bound),
        bytes_by_level=levels,
        rram_writes_per_cell_per_epoch=writes,
        placement=pl,
        spills=list(graph.spills),
        critical_path_share=critical_path_share(graph, one),
        cycles_per_step_steady=steady,
        analytic_cycles_per_step=bound,
        queued_op_cycles=one.stall_cycles,
        busy_cycles={c: float(one.busy.get(c, 0.0)) for c in counts},
        units=dict(counts),
        chunks=len(graph.chunk_sizes),
        window_steps=window,
        ops_per_step=len(graph.ops),
        steps_per_epoch=steps_per_epoch,
    )
