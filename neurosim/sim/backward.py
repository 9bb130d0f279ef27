"""The error phase as ops: the output error, the chain (transposed reads, or FA's
B on the cores) and the direct projections of the DFA family, as each layer's
:class:`~neurosim.config.dataflow.LayerPlan` says.

- ``out_err`` (output homes): ``e = softmax − onehot(label)``.
- chain (``plan.error == "chain"``): the homes of layer l+1 send δ_{l+1} (a map
  per channel for conv) to the tiles of its matrix (``W``, or FA's ``B`` in
  arrays), which store it (``inbuf``) and read it transposed once per position
  (``tmvm``; a grouped product when the plan has ``error_groups``); a conv
  tile first sums its window outputs into input maps (``col2im``); the partial
  sums reduce at layer l's homes (``bp_delta``: pooling's error, ``⊙ f'``,
  batchnorm's error). FA with B in SRAM runs the product on layer l's cores
  (``fb_proj``).
- direct (``plan.error == "direct"``): the output homes multicast e (or sign(e),
  or e with FDFA's d) to the homes that project it on their cores (``fb_proj``:
  ``f`` MACs per reached unit), or to the tiles of B_l in arrays (``fb_mvm``,
  reduced into ``fb_delta``); DRTP's label selects one entry of B per unit.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .builder import StepBuilder
from .forward import pool_work
from .layers import ChipLayer, ids_mask, mask_ids
from .ops import Dep, Work

__all__ = ["build_errors", "build_feedback_program"]


def _error_tail(sb: StepBuilder, layer: ChipLayer, home: int, samples: int, crossed_pool: bool) -> int:
    """Core ops at a home between the arriving error and δ: pooling's error (chain only),
    ``⊙ f'`` over the reached values, batchnorm's error (``3`` per value)."""
    reached = layer.values_at(home) if crossed_pool else layer.projected_at(home)
    ops = samples * reached
    if crossed_pool:
        ops += pool_work(layer, home, samples, error=True)
    if layer.stage.batchnorm is not None:
        ops += 3 * samples * layer.values_at(home)
    return ops


def _output_error(sb: StepBuilder) -> None:
    n_layers, value_bytes = sb.n_layers, sb.value_bytes
    out_layer = sb.layers[n_layers]
    for k, samples in enumerate(sb.sizes):
        for h in out_layer.homes:
            values = out_layer.values_at(h)
            w = Work()
            sb.core(w, h, "error", ew=samples * values)
            sb.sram(w, h, "error", wr=samples * values * value_bytes)
            deps = [(sb.fwd_home[n_layers][k][h], -1)] + sb.label_deps[k][h] + sb.d_ready[k]
            sb.delta[n_layers][k][h] = sb.add("out_err", out_layer.name, "error", h, deps, w, chunk=k)


def _chain_step(sb: StepBuilder, l: int) -> None:
    """δ_l from δ_{l+1} by a transposed read of layer l+1's W (or FA's B) in arrays."""
    value_bytes = sb.value_bytes
    below, upper = sb.layers[l], sb.layers[l + 1]
    m = upper.feedback if sb.flow.chain_matrix == "B" else upper.weights
    groups = upper.stage.plan.error_groups
    positions = upper.positions
    scatters = {h: sb.scatter(upper, m, h) for h in upper.homes}
    per_id = upper.input_values_per_id
    plan = sb.gather_plan(m, upper.block_inputs, upper.input_owner(below), per_id)
    for k, samples in enumerate(sb.sizes):
        incoming: dict[int, list[Dep]] = defaultdict(list)
        for h in upper.homes:
            src = [(sb.delta[l + 1][k][h], -1)]
            route, readers = scatters[h]
            msg = sb.send(route, samples, below.name, "error", src, k)
            sb.fan_out(msg, readers, src, incoming)
        tile_ops = {}
        for t in m.tiles:
            cols_t = sb.cols_of(m, t).bit_count()
            w = Work()
            sb.sram(w, t, "error", rd=samples * cols_t * value_bytes * positions, wr=samples * cols_t * value_bytes * positions)
            buf = sb.add("inbuf", below.name, "error", t, incoming[t], w, chunk=k)
            op = sb.array_op("tmvm", m, t, "error", samples * positions, True, [(buf, -1)], k, k == 0, groups)
            sb.relayer(op, below.name)  # the transposed MVM's work belongs to layer l's error phase
            tile_ops[t] = _col2im(sb, upper, t, samples, op, k) if upper.is_conv else op
        parts = sb.gather(plan, tile_ops, samples, below.name, "error", k)
        for h in below.homes:
            values = below.values_at(h)
            adds, received = plan[1][h]
            w = Work()
            sb.core(w, h, "error", ew=_error_tail(sb, below, h, samples, True), psum=adds * samples)
            sb.sram(w, h, "error", rd=samples * received * value_bytes + samples * values * value_bytes,
                    wr=samples * received * value_bytes + samples * values * value_bytes)
            deps = parts[h] + [(sb.fwd_home[l][k][h], -1)]
            sb.delta[l][k][h] = sb.add("bp_delta", below.name, "error", h, deps, w, chunk=k)


def _col2im(sb: StepBuilder, upper: ChipLayer, tile: int, samples: int, after: int, k: int) -> int:
    """A conv tile sums its transposed window outputs into input maps (one add per output value)."""
    rows_t = sb.rows_of(upper.weights, tile).bit_count()
    adds = samples * (upper.positions * rows_t - upper.inputs_on(tile).bit_count() * upper.input_values_per_id)
    if adds <= 0:
        return after
    w = Work()
    below = sb.ops[after].layer
    sb.core(w, tile, "error", psum=adds)
    return sb.add("col2im", below, "error", tile, [(after, -1)], w, chunk=k)


def _fa_core_step(sb: StepBuilder, l: int) -> None:
    """FA with B in SRAM: δ_l = (δ_{l+1} B_{l+1}) ⊙ f'(a_l) on layer l's cores."""
    value_bytes = sb.value_bytes
    below, upper = sb.layers[l], sb.layers[l + 1]
    shape = upper.stage.shape
    positions, groups = upper.positions, upper.stage.plan.error_groups
    owner = upper.input_owner(below)
    window = shape.kernel * shape.kernel if upper.is_conv else 1
    rows_of_home = {h: int((owner == h).sum()) * window for h in below.homes}
    routes = {h2: sb.route(h2, {h: upper.home_ids[h2] for h in below.homes}, sb.values(positions)) for h2 in upper.homes}
    for k, samples in enumerate(sb.sizes):
        msgs = {h2: sb.send(routes[h2], samples, below.name, "error", [(sb.delta[l + 1][k][h2], -1)], k) for h2 in upper.homes}
        for h in below.homes:
            values = below.values_at(h)
            deps = [(sb.fwd_home[l][k][h], -1)]
            for h2, msg in msgs.items():
                deps += sb.delivered(msg, h, [(sb.delta[l + 1][k][h2], -1)])
            received = sum(upper.values_at(h2) for h2 in upper.homes if h2 != h)
            w = Work()
            macs = samples * positions * rows_of_home[h] * shape.cols // groups
            sb.core(w, h, "error", macs=macs, ew=_error_tail(sb, below, h, samples, True))
            rows = rows_of_home[h] * shape.cols // groups * value_bytes if k == 0 else 0  # B rows streamed once per step
            sb.sram(w, h, "error", rd=rows + samples * values * value_bytes + samples * received * value_bytes,
                    wr=samples * values * value_bytes + samples * received * value_bytes)
            sb.delta[l][k][h] = sb.add("fb_proj", below.name, "error", h, deps, w, chunk=k)


def _listened(layer: ChipLayer, home: int, n_classes: int, fanin: int) -> int:
    """Components of e the units homed at ``home`` listen to (banded sparse B, ``fanin`` per unit), a bitmask."""
    per_channel = layer.stage.projected_positions
    units = np.concatenate([np.arange(c * per_channel, (c + 1) * per_channel) for c in mask_ids(layer.home_ids[home])])
    first = (units * n_classes) // layer.stage.projected_units
    comps = (first[:, None] + np.arange(fanin)[None, :]) % n_classes
    return ids_mask(comps.ravel())


def _direct(sb: StepBuilder, targets: list[int]) -> None:
    """Direct projections of the output error onto the layers ``targets``."""
    n_layers, n_classes, value_bytes = sb.n_layers, sb.n_classes, sb.value_bytes
    flow = sb.flow
    out_homes = sb.layers[n_layers].homes
    # what each target home needs of e (component ids)
    needs: dict[tuple[int, int], int] = {}
    if flow.feedback != "column":
        for l in targets:
            layer, fanin = sb.layers[l], sb.layers[l].stage.plan.fanin
            for h in layer.homes:
                needs[(l, h)] = (1 << n_classes) - 1 if fanin == n_classes else _listened(layer, h, n_classes, fanin)
    in_arrays = {l for l in targets if sb.layers[l].feedback is not None}
    routes = {}
    for o in out_homes:
        mine = sb.layers[n_layers].home_ids[o]
        tgt: dict[int, int] = defaultdict(int)
        for l in targets:
            layer = sb.layers[l]
            if l in in_arrays:
                for t in layer.feedback.tiles:
                    tgt[t] |= sb.rows_of(layer.feedback, t) & mine
                if flow.learns_feedback:  # d (with e) also reaches the homes that update B_l
                    for h in layer.homes:
                        tgt[h] |= mine
            else:
                for h in layer.homes:
                    tgt[h] |= needs.get((l, h), 0) & mine
        routes[o] = sb.route(o, dict(tgt), sb.err_bytes)
    fb_plans = {}
    for l in sorted(in_arrays):
        layer = sb.layers[l]
        per_channel = layer.stage.projected_positions
        unit_owner = layer.owner[np.arange(layer.stage.projected_units) // per_channel]
        fb_plans[l] = sb.gather_plan(layer.feedback, lambda b: [(b.weight_start, b.weight_start + b.weights_used)], unit_owner)
    for k, samples in enumerate(sb.sizes):
        msgs = {o: sb.send(routes[o], samples, sb.layers[n_layers].name, "error", [(sb.delta[n_layers][k][o], -1)], k)
                for o in out_homes}

        def arrival(t: int) -> list[Dep]:
            deps: list[Dep] = []
            for o in out_homes:
                deps += sb.delivered(msgs[o], t, [(sb.delta[n_layers][k][o], -1)])
            return deps

        for l in targets:
            layer = sb.layers[l]
            parts = _feedback_mvm(sb, layer, fb_plans[l], k, samples, arrival) if l in in_arrays else {}
            for h in layer.homes:
                sb.delta[l][k][h] = _project_home(sb, layer, h, k, samples, parts, needs, arrival, fb_plans.get(l))


def _feedback_mvm(sb: StepBuilder, layer: ChipLayer, plan, k: int, samples: int, arrival) -> dict[int, list[Dep]]:
    """B_l e on the arrays of B_l, reduced at the homes."""
    tile_ops = {}
    for t in layer.feedback.tiles:
        rows_t = sb.rows_of(layer.feedback, t).bit_count()
        w = Work()
        sb.sram(w, t, "error", rd=samples * rows_t * sb.value_bytes, wr=samples * rows_t * sb.value_bytes)
        buf = sb.add("inbuf", layer.name, "error", t, arrival(t), w, chunk=k)
        tile_ops[t] = sb.array_op("fb_mvm", layer.feedback, t, "error", samples, False, [(buf, -1)], k, k == 0)
    return sb.gather(plan, tile_ops, samples, layer.name, "error", k)


def _project_home(sb: StepBuilder, layer: ChipLayer, h: int, k: int, samples: int, parts, needs, arrival, plan) -> int:
    """δ at one home of a direct layer: the projection (core, or reduced from arrays) ⊙ f'."""
    l, value_bytes = layer.index, sb.value_bytes
    reached = layer.projected_at(h)
    w = Work()
    deps = [(sb.fwd_home[l][k][h], -1)]
    if sb.flow.learns_feedback:
        deps.append((_b_update(sb, layer, h, k, samples, arrival(h)), -1))
    tail = _error_tail(sb, layer, h, samples, False)
    if plan is not None:
        adds, received = plan[1][h]
        sb.core(w, h, "error", ew=tail, psum=adds * samples)
        sb.sram(w, h, "error", rd=samples * received * value_bytes + samples * reached * value_bytes,
                wr=samples * received * value_bytes + samples * reached * value_bytes)
        return sb.add("fb_delta", layer.name, "error", h, deps + parts[h], w, chunk=k)
    if sb.flow.feedback == "column":
        fanin = 1
        fb_rd = samples * reached * value_bytes  # the label picks one entry of B per unit and sample
        deps += sb.label_deps[k][h]
        rx_bytes = samples * 1.0  # the label
    else:
        fanin = layer.stage.plan.fanin
        fb_rd = reached * fanin * value_bytes if k == 0 else 0  # B (dense or sparse) streamed once per step
        deps += arrival(h)
        rx_bytes = samples * sb.err_bytes(needs[(l, h)].bit_count())
    sb.core(w, h, "error", macs=samples * reached * fanin, ew=tail)
    sb.sram(w, h, "error", rd=fb_rd + samples * reached * value_bytes + rx_bytes, wr=samples * reached * value_bytes + rx_bytes)
    return sb.add("fb_proj", layer.name, "error", h, deps, w, chunk=k)


def _b_update(sb: StepBuilder, layer: ChipLayer, h: int, k: int, samples: int, d_deps: list[Dep]) -> int:
    """fdfa: B_l rows of home h move toward d u^T (feedback_learning)."""
    values, n_classes, value_bytes = layer.values_at(h), sb.n_classes, sb.value_bytes
    w = Work()
    sb.core(w, h, "feedback_learning", macs=samples * values * n_classes)
    once = values * n_classes * value_bytes if k == 0 else 0
    sb.sram(w, h, "feedback_learning", rd=once + samples * values * value_bytes, wr=once)
    deps = [(sb.tangent_home[layer.index][k][h], -1)] + d_deps
    op = sb.add("b_update", layer.name, "feedback_learning", h, deps, w, chunk=k)
    sb.b_updates[layer.index].append(op)
    return op


def build_feedback_program(sb: StepBuilder) -> None:
    """fdfa with B in arrays: the step's learned B_l is programmed once, after its last use."""
    for l, layer in sb.layers.items():
        if layer.feedback is None:
            continue
        fb = layer.feedback
        for t in fb.tiles:
            for i, blk in enumerate(fb.tile_blocks(t)):
                w = Work()
                sb.program(w, t, i, blk, "feedback_learning")
                sb.sram(w, t, "feedback_learning", rd=blk.rows_used * blk.weights_used * sb.value_bytes)
                deps = [(o, -1) for o in sb.b_updates[l]] + [(sb.chain_last[t], -1)]
                op = sb.add("b_program", fb.layer, "feedback_learning", t, deps, w)
                sb.updates_on_tile[t].append(op)


def build_errors(sb: StepBuilder) -> None:
    """The output error, then the direct projections, then the chain from the top down."""
    _output_error(sb)
    hidden = range(1, sb.n_layers)
    direct = [l for l in hidden if sb.layers[l].stage.plan.error == "direct"]
    if direct:
        _direct(sb, direct)
    for l in reversed(hidden):
        if sb.layers[l].stage.plan.error != "chain":
            continue
        if sb.flow.chain_matrix == "B" and sb.layers[l + 1].feedback is None:
            _fa_core_step(sb, l)
        else:
            _chain_step(sb, l)
