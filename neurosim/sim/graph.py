"""One training step of a rule as a DAG of coarse operations.

The mini-batch is streamed through the chip in chunks (``chunk_sizes``): every
operation that works per sample (array reads at every output position,
partial-sum reductions, activations, pooling, transfers, error projections) is
one op per chunk and tile, so layers pipeline across chunks the way samples
stream through a real tiled accelerator, and the op count grows with tiles and
chunks, never with output positions. The weight gradient and the update are per
step (they need the whole batch). Counts are additive in samples, so the records
of a step do not depend on the chunking (only the timing granularity does).

Op kinds (``Op.name``), built by :mod:`.forward`, :mod:`.backward`,
:mod:`.update` and :mod:`.spills` through the primitives of :mod:`.builder`:

========================  =========================================================
``dram_input``            load one chunk of images + labels from DRAM (forward)
``noc``                   one (multicast) transfer over its XY tree, pruned payload
``inbuf``                 a tile stores the inputs it received and reads them to its
                          DACs (conv: the input maps once, a window per position)
``mvm`` / ``tmvm``        forward / transposed MVM of all blocks of one matrix on one tile
``col2im``                conv: a tile sums its transposed window outputs into maps
``psum_prereduce``        a tile adds the partial sums of its blocks before sending them
``fwd_act``               home: reduce partial sums, bias, activation, derivative (or
                          softmax), pooling
``bn``                    home: batchnorm (after every chunk's reduction), activation, pooling
``out_err``               output home: e = softmax - onehot(label)
``bp_delta``              home: reduce the transposed partial sums, pooling's error, ⊙ f'(a)
``fb_proj``               home: feedback projection on the core (DFA B_l e, sparse DFA,
                          DRTP, FA with B in SRAM), times f'(a)
``fb_delta``              home: product with f'(a) of a crossbar feedback projection
``fb_mvm``                B_l e on the arrays of B_l (``feedback_storage: crossbar``)
``tangent_*``             fdfa: forward-mode tangent pass (feedback_learning)
``b_update``              fdfa: moving-average update of B_l (feedback_learning)
``b_program``             fdfa with B_l in arrays: the learned B_l programmed once per step
``wgrad``                 one block's weight gradient on the core (accumulate mode)
``wupdate``               one block programmed (crossbar) / read-modify-written (SRAM)
``bias``                  a home's bias (and batchnorm) gradient and update
``spill_out/_in/_land``   SRAM overflow written to DRAM after the forward, read back
                          (DRAM, NoC, SRAM) before the weight gradient
========================  =========================================================

Dependencies: an op waits for the ops producing its inputs (a NoC op's
dependants wait for *its delivery to their tile*); the ops on one tile's arrays
are chained in program order (forward chunks, tangent chunks, error chunks,
updates), as an array does one thing at a time.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config.hw import HwConfig
from ..config.network import LayerShape
from ..mapping.placement import Placement, place
from .backward import build_errors, build_feedback_program
from .builder import StepBuilder
from .forward import build_forward, build_tangent
from .ops import Op, StepGraph, chunk_sizes, default_chunks
from .spills import spill_lines
from .update import build_update

__all__ = ["Op", "StepGraph", "build_step_graph", "default_chunks", "chunk_sizes"]


def _chain_steps(sb: StepBuilder) -> None:
    """Step s+1's first op on a tile's arrays waits for step s's updates of that tile;
    step s+1's input chunk k is loaded once this step's chunk k has left the DRAM port."""
    for t, first in sb.chain_first.items():
        for u in sb.updates_on_tile.get(t, []):
            sb.carry.append((u, first))
    loads = [op.id for op in sb.ops if op.name == "dram_input"]
    for k, load in enumerate(loads):
        sb.carry.append((sb.input_msgs[k], load))


def build_step_graph(hw: HwConfig, shapes: list[LayerShape], batch: int, algo, *,
                     placement: Placement | None = None, chunks: int | None = None,
                     write_cycles: Mapping[str, float] | None = None) -> StepGraph:
    """The op graph of one training step of ``algo`` on ``hw`` for the network ``shapes``
    (``write_cycles``: measured programming cycles per layer, :class:`~.builder.StepBuilder`)."""
    pl = placement if placement is not None else place(hw, shapes, algo)
    sb = StepBuilder(hw, shapes, batch, algo, pl, chunks if chunks is not None else default_chunks(batch), write_cycles)
    build_forward(sb)
    if sb.flow.learns_feedback and sb.n_layers > 1:
        build_tangent(sb)
    build_errors(sb)
    for l in range(1, sb.n_layers + 1):
        build_update(sb, l)
    if sb.flow.learns_feedback and sb.feedback_arrays:
        build_feedback_program(sb)
    sb.spills = spill_lines(sb)
    _chain_steps(sb)
    cells_total = 0.0
    if hw.crossbar is not None:
        for m in pl.matrices:
            if m.matrix == "B" or pl.storage == "crossbar":
                cells_total += sum(bl.rows_used * bl.cols_used for bl in m.blocks)
    return StepGraph(hw, pl, list(shapes), batch, algo, sb.sizes, sb.ops, sb.spills, sb.carry, sb.cells_written, cells_total)
