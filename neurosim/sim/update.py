"""Weight gradients and updates as ops (phases ``weight_grad``, ``weight_update``).

The homes send each tile the errors of the columns it holds (a map per channel
for conv); each block's gradient ``Σ_samples Σ_positions x δᵀ`` runs on the
tile's core (the inputs it kept in SRAM since the forward pass: the sliding
windows are read again, ``positions × rows`` per sample) and is then programmed
into the crossbar (or read-modify-written in SRAM). A batch of one on crossbars
updates in place (outer product on the array). Biases (and a following
batchnorm's scale and shift) are updated at the homes. Layers frozen by
transfer have neither.
"""

from __future__ import annotations

from collections import defaultdict

from .builder import StepBuilder
from .layers import ChipLayer
from .ops import Dep, Work

__all__ = ["build_update"]


def _deltas_to_tiles(sb: StepBuilder, layer: ChipLayer) -> dict[int, list[Dep]]:
    """Per tile of W_l: what its gradient waits for (the errors of its columns, every chunk)."""
    m = layer.weights
    deps: dict[int, list[Dep]] = defaultdict(list)
    for h in layer.homes:
        rt, readers = sb.scatter(layer, m, h)
        for k, samples in enumerate(sb.sizes):
            src = [(sb.delta[layer.index][k][h], -1)]
            msg = sb.send(rt, samples, m.layer, "weight_grad", src, k)
            sb.fan_out(msg, readers, src, deps)
    return deps


def _block_update(sb: StepBuilder, layer: ChipLayer, t: int, i: int, blk, base: list[Dep], after_reads: list[Dep]) -> int:
    batch, value_bytes, input_bytes = sb.batch, sb.value_bytes, sb.input_bytes
    vectors = batch * layer.positions
    rows, weights = blk.rows_used, blk.weights_used
    name = layer.weights.layer
    if sb.in_place:
        w = Work()
        sb.program(w, t, i, blk, "weight_update")
        w.macs.append(("weight_grad", "crossbar", float(vectors * rows * weights)))
        sb.sram(w, t, "weight_update", rd=vectors * (rows * input_bytes + weights * value_bytes))
        return sb.add("wupdate", name, "weight_update", t, base + after_reads, w)
    w = Work()
    sb.core(w, t, "weight_grad", macs=vectors * rows * weights)
    sb.sram(w, t, "weight_grad", rd=vectors * (rows * input_bytes + weights * value_bytes), wr=rows * weights * value_bytes)
    grad = sb.add("wgrad", name, "weight_grad", t, base, w)
    w = Work()
    if sb.in_crossbars:
        sb.program(w, t, i, blk, "weight_update")
        sb.sram(w, t, "weight_update", rd=rows * weights * value_bytes)
    else:
        sb.core(w, t, "weight_update", ew=rows * weights)
        sb.sram(w, t, "weight_update", rd=rows * weights * (sb.weight_bytes + value_bytes), wr=rows * weights * sb.weight_bytes)
    return sb.add("wupdate", name, "weight_update", t, [(grad, -1)] + after_reads, w)


def _bias_update(sb: StepBuilder, layer: ChipLayer) -> None:
    batch, value_bytes = sb.batch, sb.value_bytes
    norm = layer.stage.batchnorm
    for h in layer.homes:
        values, channels = layer.values_at(h), layer.home_ids[h].bit_count()
        w = Work()
        sb.core(w, h, "weight_grad", psum=batch * values)
        sb.sram(w, h, "weight_grad", rd=batch * values * value_bytes)
        sb.core(w, h, "weight_update", ew=channels)
        sb.sram(w, h, "weight_update", rd=channels * value_bytes, wr=channels * value_bytes)
        if norm is not None and norm.name not in sb.frozen:  # batchnorm's scale and shift (2 per channel)
            sb.core(w, h, "weight_grad", ew=2 * batch * values)
            sb.core(w, h, "weight_update", ew=2 * channels)
        deps = [(sb.delta[layer.index][k][h], -1) for k in range(sb.n_chunks)]
        sb.add("bias", layer.name, "weight_update", h, deps, w)


def build_update(sb: StepBuilder, l: int) -> None:
    """Gradient and update of layer l's blocks and biases (nothing for a frozen layer)."""
    layer = sb.layers[l]
    if not layer.stage.plan.trainable:
        return
    from .spills import spill_in_dep

    m = layer.weights
    delta_deps = _deltas_to_tiles(sb, layer)
    for t in m.tiles:
        x_deps = [(sb.inbuf[l][k][t], -1) for k in range(sb.n_chunks)]
        base = x_deps + delta_deps[t] + spill_in_dep(sb, t)
        after_reads = [(sb.chain_last[t], -1)]
        for i, blk in enumerate(m.tile_blocks(t)):
            sb.updates_on_tile[t].append(_block_update(sb, layer, t, i, blk, base, after_reads))
    _bias_update(sb, layer)
