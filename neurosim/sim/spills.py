"""Tile SRAM overflow: working sets, the spill lines, and the DRAM round trip.

A tile's working set through one step: the inputs it keeps for the weight
gradient (``batch × received maps or features``), a double-buffered block
gradient (accumulate-then-program), SRAM weight blocks on a digital chip, and
at a home the derivative and error of its outputs (and FDFA's tangent), plus
feedback rows kept in SRAM. What exceeds ``sram.size_kib`` is written to DRAM
after the forward pass and read back before the weight gradient.
"""

from __future__ import annotations

from .builder import StepBuilder
from .ops import Dep, Work

__all__ = ["working_sets", "spill_lines", "spill_in_dep"]


def _feedback_rows(sb: StepBuilder, l: int, h: int) -> int:
    """Feedback weights a home of hidden layer l keeps in SRAM (0 when they live in arrays)."""
    layer = sb.layers[l]
    plan = layer.stage.plan
    if plan.error == "chain" and sb.flow.chain_matrix == "B" and sb.layers[l + 1].feedback is None:
        upper = sb.layers[l + 1]
        owner = upper.input_owner(layer)
        window = upper.stage.shape.kernel ** 2 if upper.is_conv else 1
        return int((owner == h).sum()) * window * upper.stage.shape.cols // upper.stage.plan.error_groups
    if plan.error == "direct" and layer.feedback is None:
        per_unit = sb.n_classes if sb.flow.feedback == "column" else plan.fanin
        return layer.projected_at(h) * per_unit
    return 0


def working_sets(sb: StepBuilder) -> dict[int, tuple[str, float, float]]:
    """tile -> (layer, bytes it must keep through the step, of which activations it could spill)."""
    batch, value_bytes, input_bytes = sb.batch, sb.value_bytes, sb.input_bytes
    ws: dict[int, list] = {}

    def add(t: int, layer: str, keep: float, act: float) -> None:
        e = ws.setdefault(t, [layer, 0.0, 0.0])
        e[1] += keep + act
        e[2] += act

    for l, layer in sb.layers.items():
        m = layer.weights
        for t in m.tiles:
            blocks = m.tile_blocks(t)
            kept = layer.inputs_on(t).bit_count() * layer.input_values_per_id
            add(t, m.layer, 0.0, batch * kept * input_bytes)  # inputs kept for the weight gradient
            if not sb.in_place:
                biggest = max(b.rows_used * b.weights_used for b in blocks)
                add(t, m.layer, 2 * biggest * value_bytes, 0.0)  # double-buffered block gradient
            if not sb.in_crossbars:
                add(t, m.layer, len(blocks) * sb.hw.sram_weights.block_bytes, 0.0)
        for h in layer.homes:
            values = layer.values_at(h)
            hidden = l < sb.n_layers
            add(h, m.layer, 0.0, batch * values * value_bytes * (2 if hidden else 1))  # f'(a) and delta (e at the output)
            if hidden and sb.flow.learns_feedback:
                add(h, m.layer, 0.0, batch * values * value_bytes)  # tangent
            if hidden:
                add(h, m.layer, _feedback_rows(sb, l, h) * value_bytes, 0.0)  # feedback rows in SRAM
    return {t: (v[0], v[1], v[2]) for t, v in ws.items()}


def spill_lines(sb: StepBuilder) -> list[str]:
    """One line per layer whose tiles' working sets overflow their SRAM."""
    cap = sb.hw.sram.size_kib * 1024
    per_layer: dict[str, list] = {}
    for t, (layer, total, _act) in sorted(_sets(sb).items()):
        if total <= cap:
            continue
        e = per_layer.setdefault(layer, [0, 0.0, 0.0])
        e[0] += 1
        e[1] += total - cap
        e[2] = max(e[2], total)
    out = []
    for layer, (n, excess, worst) in per_layer.items():
        n_tiles = len({t for m in sb.placement.matrices if m.layer == layer for t in m.tiles})
        out.append(
            f"{layer}: working set up to {worst / 1024:.1f} KiB exceeds the {sb.hw.sram.size_kib:g} KiB tile SRAM "
            f"on {n} of {n_tiles} tiles; {excess / 1024:.1f} KiB per step spilled to DRAM (written in forward, read back for the weight gradient)"
        )
    return out


def _sets(sb: StepBuilder) -> dict[int, tuple[str, float, float]]:
    if sb.working_sets is None:
        sb.working_sets = working_sets(sb)
    return sb.working_sets


def spill_in_dep(sb: StepBuilder, t: int) -> list[Dep]:
    """Ops that write the tile's overflow to DRAM and read it back (created on first use)."""
    cap = sb.hw.sram.size_kib * 1024
    if t in sb.spilled:
        return sb.spilled[t]
    layer, total, _act = _sets(sb).get(t, ("", 0.0, 0.0))
    if total <= cap:
        sb.spilled[t] = []
        return []
    excess = total - cap
    latency = sb.units["dram"].latency_cycles
    to_port = sb.route(t, {sb.port: 1}, lambda n: excess)  # one id (bitmask 1): the payload is the excess
    from_port = sb.route(sb.port, {t: 1}, lambda n: excess)
    last_fwd = [(sb.fwd_last[t], -1)]
    m1 = sb.send(to_port, 1, layer, "forward", last_fwd, None, name="noc")
    w = Work()
    sb.dram(w, "forward", "write", excess)
    sb.sram(w, t, "forward", rd=excess)
    out = sb.add("spill_out", layer, "forward", sb.port, sb.delivered(m1, sb.port, last_fwd), w, latency=latency)
    w = Work()
    sb.dram(w, "weight_grad", "read", excess)
    back = sb.add("spill_in", layer, "weight_grad", sb.port, [(out, -1)], w, latency=latency)
    m2 = sb.send(from_port, 1, layer, "weight_grad", [(back, -1)], None)
    w = Work()
    sb.sram(w, t, "weight_grad", wr=excess)
    land = sb.add("spill_land", layer, "weight_grad", t, sb.delivered(m2, t, [(back, -1)]), w)
    sb.spilled[t] = [(land, -1)]
    return sb.spilled[t]
