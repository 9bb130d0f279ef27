"""The forward pass (and FDFA's forward-mode tangent pass) as ops.

Per chunk of ``samples``: the DRAM port loads the images and labels and
multicasts each input channel (or feature) to the tiles whose rows read it;
each tile of a layer stores what it received in its SRAM (``inbuf``: a conv
tile writes the input maps once and reads a ``k·k·C`` window per output
position — the input reuse across positions), reads its arrays once per output
position and sample (``mvm``), the partial sums are reduced at the column
blocks' homes (``fwd_act``: bias, activation and derivative, or the softmax;
then pooling on the core, see below), and the homes multicast the layer's
outputs (pooled maps, or units) to the next layer's tiles.

Work of the non-weight layers at the home of the channels they act on
(``core`` ``elementwise``, as :mod:`neurosim.counts` counts them):
max pooling ``(k²−1)`` compares per pooled value, average pooling ``k²`` per
pooled value; a batchnorm (``bn`` op) needs the whole batch's statistics, so it
waits for every chunk's reduction at that home: ``4`` ops per value plus the
activation and derivative that follow it.
"""

from __future__ import annotations

from collections import defaultdict

from .builder import StepBuilder
from .layers import ChipLayer
from .ops import Dep, Work

__all__ = ["build_forward", "build_tangent", "layer_mvm", "multicast_to_next", "pool_work"]


def pool_work(layer: ChipLayer, home: int, samples: int, error: bool = False) -> int:
    """Core ops of the pooling after ``layer`` at ``home`` (forward, or its error if ``error``)."""
    total = 0
    for a in layer.stage.after:
        if a.kind not in ("maxpool", "avgpool"):
            continue
        window = a.kernel * a.kernel
        pooled = samples * layer.pooled_at(home)
        if a.kind == "maxpool":
            total += pooled if error else pooled * (window - 1)
        else:
            total += pooled * window
    return total


def layer_mvm(sb: StepBuilder, l: int, k: int, samples: int, phase: str, incoming, prefix: str = ""):
    """Chunk ``k`` through W_l's arrays: each tile stores the inputs it received
    (``inbuf``) and reads them forward (``mvm``); the partial sums are gathered
    at the homes. Returns (inbuf op per tile, dependencies per home)."""
    layer = sb.layers[l]
    m = layer.weights
    vectors = samples * layer.positions
    inbufs, tile_ops = {}, {}
    for t in m.tiles:
        rows_t = sb.rows_of(m, t).bit_count()
        received = layer.inputs_on(t).bit_count() * layer.input_values_per_id
        w = Work()
        sb.sram(w, t, phase, rd=vectors * rows_t * sb.input_bytes, wr=samples * received * sb.input_bytes)
        inbufs[t] = sb.add(prefix + "inbuf", m.layer, phase, t, incoming[t], w, chunk=k)
        tile_ops[t] = sb.array_op(prefix + "mvm", m, t, phase, vectors, False, [(inbufs[t], -1)], k, k == 0)
    return inbufs, sb.gather(sb.fwd_plans[l], tile_ops, samples, m.layer, phase, k)


def multicast_to_next(sb: StepBuilder, l: int, k: int, samples: int, phase: str, sources: dict[int, int]) -> dict[int, list[Dep]]:
    """Each home h of layer l sends the outputs of op ``sources[h]`` to the tiles
    of layer l+1 that read them; returns what each of those tiles waits for."""
    nxt = sb.layers[l + 1]
    incoming: dict[int, list[Dep]] = defaultdict(list)
    for h in sb.layers[l].homes:
        src = [(sources[h], -1)]
        msg = sb.send(sb.fwd_routes[l][h], samples, sb.layers[l].name, phase, src, k)
        sb.fan_out(msg, sb.fwd_readers[l][h], src, incoming)
    return incoming


def _plan_forward(sb: StepBuilder) -> None:
    """Static routes and reduction plans of the forward direction."""
    for l in range(1, sb.n_layers):
        nxt = sb.layers[l + 1]
        per_id = nxt.input_values_per_id
        sb.fed_ids[l] = {h: nxt.inputs_from(ids) for h, ids in sb.layers[l].home_ids.items()}
        sb.fwd_routes[l], sb.fwd_readers[l] = {}, {}
        for h in sb.layers[l].homes:
            needs = {t: nxt.inputs_on(t) & sb.fed_ids[l][h] for t in nxt.weights.tiles}
            sb.fwd_routes[l][h] = sb.route(h, needs, lambda n, per_id=per_id: n * sb.input_bytes * per_id)
            sb.fwd_readers[l][h] = [t for t, ids in needs.items() if ids]
    for l, layer in sb.layers.items():
        sb.fwd_plans[l] = sb.gather_plan(layer.weights, lambda b: [(b.weight_start, b.weight_start + b.weights_used)],
                                         layer.owner, layer.positions)


def _home_forward(sb: StepBuilder, l: int, k: int, samples: int, parts: dict[int, list[Dep]]) -> None:
    """Reduce, bias and activate (or softmax) at each home of layer l; pool; batchnorm."""
    layer = sb.layers[l]
    hidden = l < sb.n_layers
    value_bytes = sb.value_bytes
    norm = layer.stage.batchnorm is not None
    for h in layer.homes:
        values = layer.values_at(h)
        adds, received = sb.fwd_plans[l][1][h]
        w = Work()
        act = 0 if norm else (2 if hidden else 3) * samples * values  # activation + derivative, or softmax
        sb.core(w, h, "forward", ew=act + (0 if norm else pool_work(layer, h, samples)), psum=(adds + values) * samples)
        sb.sram(w, h, "forward", rd=samples * received * value_bytes,
                wr=samples * received * value_bytes + (samples * values * value_bytes if hidden else 0))
        sb.fwd_home[l][k][h] = sb.add("fwd_act", layer.name, "forward", h, parts[h], w, chunk=k)


def _batchnorm(sb: StepBuilder, l: int) -> None:
    """Batchnorm + activation + pooling of every chunk, after every chunk's reduction (batch statistics)."""
    layer = sb.layers[l]
    reduced = {h: [(sb.fwd_home[l][j][h], -1) for j in range(sb.n_chunks)] for h in layer.homes}
    for k, samples in enumerate(sb.sizes):
        for h in layer.homes:
            values = layer.values_at(h)
            w = Work()
            sb.core(w, h, "forward", ew=6 * samples * values + pool_work(layer, h, samples))
            sb.sram(w, h, "forward", rd=samples * values * sb.value_bytes, wr=samples * values * sb.value_bytes)
            sb.fwd_home[l][k][h] = sb.add("bn", layer.stage.batchnorm.name, "forward", h, reduced[h], w, chunk=k)


def _inputs(sb: StepBuilder) -> list[dict[int, list]]:
    """Per chunk: load images + labels from DRAM, multicast them; returns what layer 1's tiles wait for."""
    first = sb.layers[1]
    out_layer = sb.layers[sb.n_layers]
    per_id = first.input_values_per_id
    x_route = sb.route(sb.port, {t: first.inputs_on(t) for t in first.weights.tiles}, lambda n: n * sb.input_bytes * per_id)
    label_homes = set(out_layer.homes)
    if sb.flow.signal == "label":
        for layer in sb.layers.values():
            if layer.stage.plan.error == "direct":
                label_homes |= set(layer.homes)
    label_route = sb.route(sb.port, {d: 1 for d in label_homes}, lambda n: float(n))  # id 0: the label
    out = []
    for k, samples in enumerate(sb.sizes):
        nbytes = samples * (first.stage.shape.in_units * sb.input_bytes + 1)
        w = Work()
        sb.dram(w, "forward", "read", nbytes)
        load = sb.add("dram_input", first.name, "forward", sb.port, [], w, chunk=k, latency=sb.units["dram"].latency_cycles)
        xmsg = sb.send(x_route, samples, first.name, "forward", [(load, -1)], k)
        sb.input_msgs.append(xmsg if xmsg is not None else load)
        lmsg = sb.send(label_route, samples, out_layer.name, "error", [(load, -1)], k)
        sb.label_deps.append({d: sb.delivered(lmsg, d, [(load, -1)]) for d in label_homes})
        out.append({t: sb.delivered(xmsg, t, [(load, -1)]) for t in first.weights.tiles})
        if not sb.layer_major:
            _chunk_through(sb, k, samples, out[-1])
    return out


def _chunk_through(sb: StepBuilder, k: int, samples: int, incoming) -> None:
    """Chunk-major order (no batchnorm): chunk k through every layer."""
    for l in range(1, sb.n_layers + 1):
        sb.inbuf[l][k], parts = layer_mvm(sb, l, k, samples, "forward", incoming)
        _home_forward(sb, l, k, samples, parts)
        if l < sb.n_layers:
            incoming = multicast_to_next(sb, l, k, samples, "forward", sb.fwd_home[l][k])


def build_forward(sb: StepBuilder) -> None:
    """The forward pass: chunk-major (chunks pipeline through the layers), or layer-major
    when a batchnorm needs the whole batch before its layer's outputs move on."""
    _plan_forward(sb)
    incoming = _inputs(sb)
    if not sb.layer_major:
        return
    for l in range(1, sb.n_layers + 1):
        parts = {}
        for k, samples in enumerate(sb.sizes):
            sb.inbuf[l][k], parts[k] = layer_mvm(sb, l, k, samples, "forward", incoming[k])
            _home_forward(sb, l, k, samples, parts[k])
        if sb.layers[l].stage.batchnorm is not None:
            _batchnorm(sb, l)
        if l < sb.n_layers:
            incoming = [multicast_to_next(sb, l, k, samples, "forward", sb.fwd_home[l][k]) for k, samples in enumerate(sb.sizes)]


def build_tangent(sb: StepBuilder) -> None:
    """fdfa's forward-mode pass, as :meth:`FDFA.learn_feedback` runs it (phase ``feedback_learning``).

    ``t_1 = u_1`` is drawn at layer 1's homes (no MVM: ``t_0 = 0``);
    ``t_l = (t_{l-1} W_lᵀ) ⊙ f'(a_l) + u_l`` runs on W_l's arrays for
    ``l = 2..L-1``; the output's directional derivative ``d = t_{L-1} W_Lᵀ``
    runs on W_L's arrays and is reduced at the output homes.
    """
    n_layers, value_bytes = sb.n_layers, sb.value_bytes
    sb.tangent_home = {l: [dict() for _ in range(sb.n_chunks)] for l in range(1, n_layers)}
    for k, samples in enumerate(sb.sizes):
        incoming: dict[int, list[Dep]] = defaultdict(list)
        for l in range(1, n_layers + 1):
            layer = sb.layers[l]
            hidden = l < n_layers
            parts: dict[int, list[Dep]] = defaultdict(list)
            if l > 1:
                _, parts = layer_mvm(sb, l, k, samples, "feedback_learning", incoming, "tangent_")
            for h in layer.homes:
                values = layer.values_at(h)
                adds, received = sb.fwd_plans[l][1][h] if l > 1 else (0, 0)
                w = Work()
                if hidden:  # reduce, ⊙ f'(a_l), draw u_l and add it; keep u_l for the B_l update
                    sb.core(w, h, "feedback_learning", ew=2 * samples * values, psum=(adds + values) * samples)
                    sb.sram(w, h, "feedback_learning", rd=samples * received * value_bytes + samples * values * value_bytes,
                            wr=samples * received * value_bytes + samples * values * value_bytes)
                    deps = parts[h] + [(sb.fwd_home[l][k][h], -1)]
                    sb.tangent_home[l][k][h] = sb.add("tangent_act", layer.name, "feedback_learning", h, deps, w, chunk=k)
                else:  # d at the output home
                    sb.core(w, h, "feedback_learning", psum=adds * samples)
                    sb.sram(w, h, "feedback_learning", rd=samples * received * value_bytes,
                            wr=samples * received * value_bytes + samples * values * value_bytes)
                    op = sb.add("tangent_out", layer.name, "feedback_learning", h, parts[h], w, chunk=k)
                    sb.d_ready[k].append((op, -1))
            if hidden:
                incoming = multicast_to_next(sb, l, k, samples, "feedback_learning", sb.tangent_home[l][k])
