"""One training step of each rule as a DAG of coarse operations.

The mini-batch of ``B`` samples is streamed through the chip in ``K`` chunks
(``chunk_sizes``): every operation that works per sample (block MVMs, partial-sum
reductions, activations, transfers, error projections) is one op per chunk, so
layers pipeline across chunks the way samples stream through a real tiled
accelerator; the weight gradient and the update are per step (they need the
whole batch). Counts are additive in samples, so the records of a step do not
depend on ``K`` (only the timing granularity does).

Op kinds (``Op.name``):

========================  =========================================================
``dram_input``            load one chunk of images + labels from DRAM (forward)
``noc``                   one (multicast) transfer over its XY tree, pruned payload
``inbuf``                 a tile stores the vectors it received and reads them to its DACs
``mvm`` / ``tmvm``        forward / transposed MVM of all blocks of one matrix on one tile
``psum_prereduce``        a tile adds the partial sums of its blocks before sending them
``fwd_act``               home tile: reduce partial sums, bias, activation, derivative (or softmax)
``out_err``               output home: e = softmax - onehot(label)
``bp_delta``              home: reduce the transposed partial sums, multiply by f'(a)
``fb_proj``               home: feedback projection on the core (DFA B_l e, sparse DFA,
                          DRTP, FA with B in SRAM), times f'(a)
``fb_delta``              home: product with f'(a) of a crossbar feedback projection
``fb_mvm``                B_l e on the arrays of B_l (dfa family, ``feedback_storage: crossbar``)
``tangent_*``             fdfa: forward-mode tangent pass (feedback_learning): inputs,
                          MVM on W_l (l >= 2), reduction, f'(a) and u_l at the home,
                          d = t W_L^T at the output
``b_update``              fdfa: moving-average update of B_l (feedback_learning)
``b_program``             fdfa with B_l in arrays: the learned B_l programmed once per step
``wgrad``                 one block's weight gradient on the core (accumulate mode)
``wupdate``               one block programmed (crossbar) / read-modify-written (SRAM)
``bias``                  a home's bias gradient and update
``spill_out/_in/_land``   SRAM overflow written to DRAM after the forward, read back
                          (DRAM, NoC, SRAM) before the weight gradient
========================  =========================================================

Dependencies: an op waits for the ops producing its inputs (a NoC op's
dependants wait for *its delivery to their tile*); the ops on one tile's arrays
are chained in program order (forward chunks, tangent chunks, error chunks,
updates), as an array does one thing at a time. The timing of an op: it holds
each unit in ``holds`` (unit key -> busy cycles) for ``duration`` cycles (the
longest hold, or longer for a pipelined array read), then ``latency`` cycles of
pure delay (DRAM access).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from ..config.hw import HwConfig
from ..config.workload import AlgorithmConfig
from ..hw.crossbar import CrossbarModel
from ..hw.noc import Mesh, Route
from ..hw.units import CoreWork, pure_units
from ..mapping.placement import MatrixPlacement, Placement, feedback_in_arrays
from ..records import Record

__all__ = ["Op", "StepGraph", "build_step_graph", "default_chunks", "chunk_sizes"]

Dep = tuple[int, int]  # (op id, destination tile for a NoC op or -1)
UnitKey = tuple


class Op:
    """One coarse operation of the step graph."""

    __slots__ = (
        "id", "name", "layer", "phase", "chunk", "tile", "deps", "holds", "duration",
        "latency", "route", "samples", "records", "macs", "busy",
    )

    def __init__(self, id, name, layer, phase, chunk, tile, deps, holds, duration, latency, route, samples, records, macs, busy):
        self.id = id
        self.name = name
        self.layer = layer
        self.phase = phase
        self.chunk = chunk
        self.tile = tile
        self.deps: list[Dep] = deps
        self.holds: list[tuple[UnitKey, float]] = holds
        self.duration: float = duration
        self.latency: float = latency
        self.route: Route | None = route
        self.samples: float = samples
        self.records: list[Record] = records
        #: (phase, "crossbar" | "core", MACs)
        self.macs: list[tuple[str, str, float]] = macs
        #: component -> busy unit-cycles (for utilisation)
        self.busy: dict[str, float] = busy

    def __repr__(self) -> str:
        return f"Op#{self.id}({self.name} {self.layer}/{self.phase} tile={self.tile} chunk={self.chunk} dur={self.duration:g})"


@dataclass
class StepGraph:
    """The ops of one training step plus what is needed to chain steps."""

    hw: HwConfig
    placement: Placement
    layers: list[int]
    batch: int
    algo: AlgorithmConfig
    chunk_sizes: list[int]
    ops: list[Op]
    spills: list[str]
    #: cross-step edges: (op of step s, op of step s+1 that waits for it)
    carry: list[tuple[int, int]] = field(default_factory=list)
    #: cells programmed per step, and all cells of placed blocks (endurance)
    cells_written_per_step: float = 0.0
    cells_total: float = 0.0

    def records(self) -> list[Record]:
        """Hardware records of the step, summed per (layer, phase, component, action)."""
        acc: dict[tuple[str, str, str, str], list[float]] = {}
        for op in self.ops:
            for r in op.records:
                k = (r.layer, r.phase, r.component, r.action)
                a = acc.get(k)
                if a is None:
                    acc[k] = [r.count, r.bytes, r.cycles]
                else:
                    a[0] += r.count
                    a[1] += r.bytes
                    a[2] += r.cycles
        return [Record(k[0], k[1], k[2], k[3], v[0], v[1], v[2]) for k, v in sorted(acc.items())]

    def expanded(self, steps: int) -> Iterable[tuple[int, Op, list[Dep]]]:
        """The graph repeated ``steps`` times, in topological order: for each op of
        each step its global index ``s * len(ops) + op.id`` and the global
        ``(op, destination)`` keys it waits for, its own deps and the carry edges
        from the previous step."""
        n = len(self.ops)
        carry_in: dict[int, list[int]] = defaultdict(list)
        for u, v in self.carry:
            carry_in[v].append(u)
        for s in range(steps):
            base = s * n
            for op in self.ops:
                preds = []
                for d, dest in op.deps:
                    if d >= op.id:  # pragma: no cover - a builder bug
                        raise RuntimeError(f"{op} depends on a later op #{d}")
                    preds.append((base + d, dest))
                if s > 0:
                    preds.extend((base - n + u, -1) for u in carry_in.get(op.id, ()))
                yield base + op.id, op, preds

    def macs(self) -> dict[tuple[str, str], dict[str, float]]:
        """(layer, phase) -> {"crossbar": MACs, "core": MACs} executed by the graph."""
        out: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: {"crossbar": 0.0, "core": 0.0})
        for op in self.ops:
            for phase, where, n in op.macs:
                out[(op.layer, phase)][where] += n
        return dict(out)


def chunk_sizes(batch: int, chunks: int) -> list[int]:
    k = max(1, min(batch, chunks))
    base, extra = divmod(batch, k)
    return [base + (1 if i < extra else 0) for i in range(k)]


def default_chunks(batch: int) -> int:
    """Batch chunks the step is streamed in: up to 8."""
    return min(batch, 8)


class _Work:
    """Accumulates what one op does: unit holds, records, busy time, MACs."""

    __slots__ = ("holds", "recs", "busy", "macs", "min_duration")

    def __init__(self):
        self.holds: dict[UnitKey, float] = {}
        self.recs: dict[tuple[str, str, str], list[float]] = {}
        self.busy: dict[str, float] = defaultdict(float)
        self.macs: list[tuple[str, str, float]] = []
        self.min_duration = 0.0

    def hold(self, key: UnitKey, cycles: float) -> None:
        if cycles > 0:
            self.holds[key] = self.holds.get(key, 0.0) + cycles

    def rec(self, phase: str, comp: str, action: str, count: float, nbytes: float = 0.0, cycles: float = 0.0) -> None:
        if count <= 0:
            return
        k = (phase, comp, action)
        a = self.recs.get(k)
        if a is None:
            self.recs[k] = [count, nbytes, cycles]
        else:
            a[0] += count
            a[1] += nbytes
            a[2] += cycles


class _Builder:
    def __init__(self, hw: HwConfig, layers: list[int], batch: int, algo: AlgorithmConfig, placement: Placement, chunks: int):
        self.hw = hw
        self.layers = list(layers)
        self.B = batch
        self.algo = algo
        self.rule = algo.name
        self.L = len(layers) - 1
        self.C = layers[-1]
        self.pl = placement
        self.mesh = Mesh(hw.noc)
        self.units = pure_units(hw)
        self.xm = CrossbarModel(hw.crossbar) if hw.crossbar is not None else None
        self.in_xbar = hw.chip.weight_storage == "crossbar"
        self.V = math.ceil(hw.core.data_bits / 8)
        if self.in_xbar:
            self.A = math.ceil(hw.crossbar.input_bits / 8)
            self.WB = 0
        else:
            self.A = math.ceil(hw.sram_weights.weight_bits / 8)
            self.WB = self.A
        #: in-place outer-product update (batch 1 on crossbars) instead of accumulate-then-program
        self.in_place = self.in_xbar and batch == 1
        self.fb_arrays = feedback_in_arrays(hw, self.rule)
        self.sizes = chunk_sizes(batch, chunks)
        self.K = len(self.sizes)
        self.port = self.mesh.tile_at(*hw.dram.port_tile_xy)
        self.ops: list[Op] = []
        self.chain_last: dict[int, int] = {}
        self.chain_first: dict[int, int] = {}
        self.fwd_last: dict[int, int] = {}
        self.b_updates: dict[int, list[int]] = defaultdict(list)
        self._ws: dict[int, tuple[str, float, float]] | None = None
        self._spilled: dict[int, list[Dep]] = {}
        self.updates_on_tile: dict[int, list[int]] = defaultdict(list)
        self.carry: list[tuple[int, int]] = []
        self.spills: list[str] = []
        self.cells_written = 0.0
        # layer structure
        self.W: dict[int, MatrixPlacement] = {}
        self.FB: dict[int, MatrixPlacement] = {}
        for l in range(1, self.L + 1):
            m = placement.matrix(f"fc{l}", "W")
            assert m is not None
            self.W[l] = m
            fb = placement.matrix(f"fc{l}", "B")
            if fb is not None:
                self.FB[l] = fb
        # neuron ownership: home tile of each output neuron of every layer
        self.owner: dict[int, np.ndarray] = {}
        self.homes: dict[int, list[int]] = {}
        self.home_ids: dict[int, dict[int, frozenset]] = {}
        for l, m in self.W.items():
            own = np.empty(layers[l], dtype=np.int64)
            bw = placement.block_weights
            for c, h in enumerate(m.home):
                own[c * bw : min((c + 1) * bw, layers[l])] = h
            self.owner[l] = own
            hs = sorted(set(int(h) for h in m.home))
            self.homes[l] = hs
            self.home_ids[l] = {h: frozenset(np.nonzero(own == h)[0].tolist()) for h in hs}

    # ------------------------------------------------------------ primitives
    def L_(self, l: int) -> str:
        return f"fc{l}"

    def add(self, name: str, layer: str, phase: str, tile, deps: Iterable[Dep], w: _Work | None = None, *,
            chunk=None, latency: float = 0.0, route: Route | None = None, samples: float = 0.0) -> int:
        recs: list[Record] = []
        holds: list[tuple[UnitKey, float]] = []
        busy: dict[str, float] = {}
        macs: list[tuple[str, str, float]] = []
        duration = 0.0
        if w is not None:
            holds = sorted(w.holds.items())
            duration = max([c for _, c in holds] + [w.min_duration])
            recs = [Record(layer, p, c, a, v[0], v[1], v[2]) for (p, c, a), v in w.recs.items()]
            busy = dict(w.busy)
            macs = list(w.macs)
        op = Op(len(self.ops), name, layer, phase, chunk, tile, list(dict.fromkeys(deps)), holds, duration,
                latency, route, samples, recs, macs, busy)
        self.ops.append(op)
        return op.id

    def core(self, w: _Work, tile: int, phase: str, macs: float = 0.0, ew: float = 0.0, psum: float = 0.0) -> None:
        if macs <= 0 and ew <= 0 and psum <= 0:
            return
        cyc = self.units["core"].service_cycles(CoreWork(macs, ew + psum))
        w.hold(("core", tile), cyc)
        w.busy["core"] += cyc
        mpc = self.hw.core.macs_per_cycle
        epc = self.hw.core.elementwise_per_cycle
        w.rec(phase, "core", "digital_mac", macs, 0.0, macs / mpc)
        w.rec(phase, "core", "elementwise", ew, 0.0, ew / epc)
        w.rec(phase, "core", "psum_add", psum, 0.0, psum / epc)
        if macs > 0:
            w.macs.append((phase, "core", macs))

    def sram(self, w: _Work, tile: int, phase: str, rd: float = 0.0, wr: float = 0.0) -> None:
        if rd <= 0 and wr <= 0:
            return
        cyc = self.units["sram"].service_cycles(rd + wr)
        w.hold(("sram", tile), cyc)
        w.busy["sram"] += cyc
        bpc = self.hw.sram.bytes_per_cycle_per_port
        w.rec(phase, "sram", "read", rd, rd, rd / bpc)
        w.rec(phase, "sram", "write", wr, wr, wr / bpc)

    def route(self, src: int, needs: dict[int, frozenset], value_bytes: Callable[[int], float]) -> Route | None:
        remote = {d: ids for d, ids in needs.items() if d != src and ids}
        if not remote:
            return None
        return self.mesh.route(src, remote, value_bytes)

    def send(self, route: Route | None, samples: float, layer: str, phase: str, deps: list[Dep], chunk, name: str = "noc") -> int | None:
        if route is None:
            return None
        w = _Work()
        fh = samples * route.flit_hops()
        link_c = self.hw.noc.link_cycles_per_hop.value
        w.rec(phase, "noc", "flit_hop", fh, samples * route.byte_hops(), fh * link_c)
        w.busy["noc"] += fh * link_c
        return self.add(name, layer, phase, route.src, deps, w, chunk=chunk, route=route, samples=samples)

    def delivered(self, msg: int | None, dest: int, local: list[Dep]) -> list[Dep]:
        return [(msg, dest)] if msg is not None and dest in self.ops[msg].route.dests else list(local)

    def vb(self, n: int) -> float:
        return n * self.V

    def err_bytes(self, n: int) -> float:
        """Bytes per sample of n components of the output-error signal as the rule sends it."""
        if self.rule == "sign_dfa":
            return math.ceil(2 * n / 8)  # sign(e) in {-1, 0, +1}: 2 bits each
        if self.rule == "fdfa":
            return 2 * n * self.V  # e and the output directional derivative d travel together
        return n * self.V

    # ----------------------------------------------------------- arrays ops
    def array_op(self, name: str, m: MatrixPlacement, tile: int, phase: str, samples: float, transposed: bool,
                 deps: list[Dep], chunk, first_chunk: bool) -> int:
        """All blocks of matrix ``m`` on ``tile`` process ``samples`` vectors (forward or transposed)."""
        blocks = m.tile_blocks(tile)
        w = _Work()
        layer = m.layer
        if self.in_xbar or m.matrix == "B":
            xm = self.xm
            arr_max = adc_max = dur = 0.0
            counts: dict[tuple[str, str], float] = defaultdict(float)
            macs = 0.0
            for b in blocks:
                bw = (xm.transposed_read if transposed else xm.forward_read)(b.rows_used, b.weights_used, samples)
                for k, v in bw.counts.items():
                    counts[k] += v
                arr_max = max(arr_max, bw.array_cycles)
                adc_max = max(adc_max, bw.adc_cycles)
                dur = max(dur, bw.cycles)
                w.busy["crossbar"] += bw.array_cycles
                w.busy["adc"] += bw.adc_busy_total
                macs += bw.macs
            cfg = self.hw.crossbar
            w.hold(("xbar", tile), arr_max)
            w.hold(("adc", tile), adc_max)
            w.min_duration = dur
            for (comp, action), n in sorted(counts.items()):
                if comp == "crossbar":
                    w.rec(phase, comp, action, n, 0.0, n * cfg.read_cycles.value)
                elif comp == "dac":
                    w.rec(phase, comp, action, n, n * cfg.dac_bits / 8)
                elif comp == "adc":
                    w.rec(phase, comp, action, n, n * cfg.adc_bits / 8, n * cfg.adc_cycles.value)
                else:
                    w.rec(phase, comp, action, n)
            w.macs.append((phase, "crossbar", macs))
        else:
            macs = sum(samples * b.rows_used * b.weights_used for b in blocks)
            self.core(w, tile, phase, macs=macs)
            if first_chunk:  # weight-stationary over the batch: weights read once per step and phase
                self.sram(w, tile, phase, rd=sum(b.rows_used * b.weights_used for b in blocks) * self.WB)
        deps = list(deps)
        if tile in self.chain_last:
            deps.append((self.chain_last[tile], -1))
        op = self.add(name, layer, phase, tile, deps, w, chunk=chunk)
        self.chain_last[tile] = op
        self.chain_first.setdefault(tile, op)
        if phase == "forward":
            self.fwd_last[tile] = op
        return op

    # -------------------------------------------------------- reductions
    def gather_plan(self, m: MatrixPlacement, by_rows: bool, owner: np.ndarray):
        """Static plan to reduce the partial sums of matrix ``m`` into the owners of its outputs.

        Outputs are the columns (weights) of ``m`` for a forward MVM, its rows for a
        transposed one. A tile first adds up its own blocks' partial sums of neurons homed
        elsewhere, then scatters them in one pruned tree. Returns (per source tile:
        (pre-reduce adds per sample, scatter route or None, its destinations, whether it homes
        some outputs), per home: (adds per sample, values received per sample))."""
        n = len(owner)
        cnt: dict[int, np.ndarray] = {}
        for b in m.blocks:
            c = cnt.get(b.tile)
            if c is None:
                c = cnt[b.tile] = np.zeros(n, dtype=np.int64)
            if by_rows:
                c[b.row_start : b.row_start + b.rows_used] += 1
            else:
                c[b.weight_start : b.weight_start + b.weights_used] += 1
        remote = np.zeros(n, dtype=np.int64)
        src_plan = {}
        rx: dict[int, int] = defaultdict(int)
        for t in sorted(cnt):
            c = cnt[t]
            touched = c > 0
            foreign = touched & (owner != t)
            pre = int((c[foreign] - 1).sum())
            needs = {}
            for h in sorted(set(owner[foreign].tolist())):
                ids = np.nonzero(foreign & (owner == h))[0]
                remote[ids] += 1
                rx[h] += len(ids)
                needs[h] = frozenset(ids.tolist())
            # one scatter tree per source tile: each branch carries only its destinations' partial sums
            rt = self.route(t, needs, self.vb) if needs else None
            src_plan[t] = (pre, rt, sorted(needs), bool((touched & (owner == t)).any()))
        home_plan = {}
        for h in sorted(set(owner.tolist())):
            mine = owner == h
            tot = remote[mine] + (cnt[h][mine] if h in cnt else 0)
            adds = int((tot[tot > 0] - 1).sum())
            home_plan[h] = (adds, rx.get(h, 0))
        return src_plan, home_plan

    def gather(self, plan, tile_ops: dict[int, int], samples: float, layer: str, phase: str, chunk) -> dict[int, list[Dep]]:
        """Instantiate a gather plan for one chunk; returns home -> deps on its incoming partial sums."""
        src_plan, _ = plan
        out: dict[int, list[Dep]] = defaultdict(list)
        for t, (pre, rt, dests, owns) in src_plan.items():
            deps_t = [(tile_ops[t], -1)]
            if rt is not None:
                if pre > 0:
                    w = _Work()
                    self.core(w, t, phase, psum=pre * samples)
                    deps_t = [(self.add("psum_prereduce", layer, phase, t, deps_t, w, chunk=chunk), -1)]
                msg = self.send(rt, samples, layer, phase, deps_t, chunk)
                for h in dests:
                    out[h].append((msg, h))
            if owns:
                out[t].append((tile_ops[t], -1))
        return out

    # ------------------------------------------------------------- phases
    def build(self) -> None:
        B, L, C, K = self.B, self.L, self.C, self.K
        layers = self.layers
        V, A = self.V, self.A
        rule = self.rule

        # per-chunk bookkeeping
        self.inbuf: dict[int, list[dict[int, int]]] = {l: [dict() for _ in range(K)] for l in range(1, L + 1)}
        self.fwd_home: dict[int, list[dict[int, int]]] = {l: [dict() for _ in range(K)] for l in range(1, L + 1)}
        self.delta: dict[int, list[dict[int, int]]] = {l: [dict() for _ in range(K)] for l in range(1, L + 1)}
        self.input_msgs: list[int] = []

        # ---- forward ------------------------------------------------------
        W1 = self.W[1]
        x_needs = {t: self.rows_of(W1, t) for t in W1.tiles}
        x_route = self.route(self.port, x_needs, lambda n: n * A)
        lab_dests = set(self.homes[L])
        if rule == "drtp":
            for l in range(1, L):
                lab_dests |= set(self.homes[l])
        lab_route = self.route(self.port, {d: frozenset([0]) for d in lab_dests}, lambda n: float(n))
        self.label_deps: list[dict[int, list[Dep]]] = []
        self.fwd_routes = {l: {h: self.route(h, {t: self.rows_of(self.W[l + 1], t) & self.home_ids[l][h] for t in self.W[l + 1].tiles},
                                        lambda n: n * A)
                          for h in self.homes[l]} for l in range(1, L)}
        self.gplans = gplans = {l: self.gather_plan(self.W[l], False, self.owner[l]) for l in range(1, L + 1)}
        dram = self.units["dram"]
        for k, b in enumerate(self.sizes):
            nbytes = b * (layers[0] * A + 1)
            w = _Work()
            cyc = dram.service_cycles(nbytes)
            w.hold(("dram",), cyc)
            w.busy["dram"] += cyc
            w.rec("forward", "dram", "read", nbytes, nbytes, cyc)
            d_op = self.add("dram_input", "fc1", "forward", self.port, [], w, chunk=k, latency=dram.latency_cycles)
            xmsg = self.send(x_route, b, "fc1", "forward", [(d_op, -1)], k)
            if xmsg is not None:
                self.input_msgs.append(xmsg)
            else:
                self.input_msgs.append(d_op)
            lmsg = self.send(lab_route, b, self.L_(L), "error", [(d_op, -1)], k)
            self.label_deps.append({d: self.delivered(lmsg, d, [(d_op, -1)]) for d in lab_dests})
            incoming = {t: self.delivered(xmsg, t, [(d_op, -1)]) for t in W1.tiles}
            for l in range(1, L + 1):
                M = self.W[l]
                self.inbuf[l][k], parts = self.layer_mvm(l, k, b, "forward", incoming)
                adds_plan = gplans[l][1]
                hidden = l < L
                for h in self.homes[l]:
                    n_h = len(self.home_ids[l][h])
                    adds, rxv = adds_plan[h]
                    w = _Work()
                    ew = (2 if hidden else 3) * b * n_h  # activation + derivative, or softmax
                    self.core(w, h, "forward", ew=ew, psum=(adds + n_h) * b)  # partial sums + bias
                    self.sram(w, h, "forward", rd=b * rxv * V, wr=b * rxv * V + (b * n_h * V if hidden else 0))
                    self.fwd_home[l][k][h] = self.add("fwd_act", M.layer, "forward", h, parts[h], w, chunk=k)
                if hidden:
                    incoming = self.multicast_to_next(l, k, b, "forward", self.fwd_home[l][k])

        # ---- fdfa tangent pass (feedback_learning) -------------------------
        self.tangent_home: dict[int, list[dict[int, int]]] = {}
        self.d_ready: list[list[Dep]] = [[] for _ in range(K)]
        if rule == "fdfa" and L > 1:
            self.build_tangent()

        # ---- output error -------------------------------------------------
        for k, b in enumerate(self.sizes):
            for h in self.homes[L]:
                n_h = len(self.home_ids[L][h])
                w = _Work()
                self.core(w, h, "error", ew=b * n_h)
                self.sram(w, h, "error", wr=b * n_h * V)
                deps = [(self.fwd_home[L][k][h], -1)] + self.label_deps[k][h] + self.d_ready[k]
                self.delta[L][k][h] = self.add("out_err", self.L_(L), "error", h, deps, w, chunk=k)

        # ---- hidden errors ------------------------------------------------
        if L > 1:
            if rule == "bp" or (rule == "fa" and self.fb_arrays):
                self.build_chain()
            elif rule == "fa":
                self.build_fa_core()
            else:
                self.build_direct()

        # ---- weight gradient and update -------------------------------------
        for l in range(1, L + 1):
            self.build_update(l)
        if rule == "fdfa" and self.fb_arrays:
            self.build_feedback_program()
        self.build_spills()

    # helpers on blocks
    def rows_of(self, m: MatrixPlacement, tile: int) -> frozenset:
        s: set[int] = set()
        for b in m.tile_blocks(tile):
            s.update(range(b.row_start, b.row_start + b.rows_used))
        return frozenset(s)

    def cols_of(self, m: MatrixPlacement, tile: int) -> frozenset:
        s: set[int] = set()
        for b in m.tile_blocks(tile):
            s.update(range(b.weight_start, b.weight_start + b.weights_used))
        return frozenset(s)

    # ------------------------------------------------- forward-direction MVMs
    def layer_mvm(self, l: int, k: int, b: float, phase: str, incoming, prefix: str = "") -> tuple[dict[int, int], dict[int, list[Dep]]]:
        """Chunk ``k`` through W_l's arrays: each tile stores the vectors it received
        (``inbuf``) and reads them forward (``mvm``); the partial sums are gathered
        at the homes. Returns (inbuf op per tile, dependencies per home)."""
        M = self.W[l]
        inbufs, tile_ops = {}, {}
        for t in M.tiles:
            rows_t = len(self.rows_of(M, t))
            w = _Work()
            self.sram(w, t, phase, rd=b * rows_t * self.A, wr=b * rows_t * self.A)
            inbufs[t] = self.add(prefix + "inbuf", M.layer, phase, t, incoming[t], w, chunk=k)
            tile_ops[t] = self.array_op(prefix + "mvm", M, t, phase, b, False, [(inbufs[t], -1)], k, k == 0)
        return inbufs, self.gather(self.gplans[l], tile_ops, b, M.layer, phase, k)

    def multicast_to_next(self, l: int, k: int, b: float, phase: str, sources: dict[int, int]) -> dict[int, list[Dep]]:
        """Each home h of layer l sends the vectors of op ``sources[h]`` to the tiles
        of W_{l+1} that hold its rows; returns what each of those tiles waits for."""
        nxt = self.W[l + 1]
        incoming: dict[int, list[Dep]] = defaultdict(list)
        for h in self.homes[l]:
            src = [(sources[h], -1)]
            msg = self.send(self.fwd_routes[l][h], b, self.W[l].layer, phase, src, k)
            for t in nxt.tiles:
                if self.rows_of(nxt, t) & self.home_ids[l][h]:
                    incoming[t].extend(self.delivered(msg, t, src))
        return incoming

    # ---------------------------------------------------------- fdfa tangent
    def build_tangent(self) -> None:
        """fdfa's forward-mode pass, as :meth:`FDFA.learn_feedback` runs it.

        ``t_1 = u_1`` is drawn at layer 1's homes (no MVM: ``t_0 = 0``);
        ``t_l = (t_{l-1} W_lᵀ) ⊙ f'(a_l) + u_l`` runs on W_l's arrays for
        ``l = 2..L-1``; the output's directional derivative ``d = t_{L-1} W_Lᵀ``
        runs on W_L's arrays and is reduced at the output homes.
        """
        L, V = self.L, self.V
        self.tangent_home = {l: [dict() for _ in range(self.K)] for l in range(1, L)}
        for k, b in enumerate(self.sizes):
            incoming: dict[int, list[Dep]] = defaultdict(list)
            for l in range(1, L + 1):
                M = self.W[l]
                hidden = l < L
                parts: dict[int, list[Dep]] = defaultdict(list)
                if l > 1:
                    _, parts = self.layer_mvm(l, k, b, "feedback_learning", incoming, "tangent_")
                for h in self.homes[l]:
                    n_h = len(self.home_ids[l][h])
                    adds, rxv = self.gplans[l][1][h] if l > 1 else (0, 0)
                    w = _Work()
                    if hidden:  # reduce, ⊙ f'(a_l), draw u_l and add it; keep u_l for the B_l update
                        self.core(w, h, "feedback_learning", ew=2 * b * n_h, psum=(adds + n_h) * b)
                        self.sram(w, h, "feedback_learning", rd=b * rxv * V + b * n_h * V, wr=b * rxv * V + b * n_h * V)
                        deps = parts[h] + [(self.fwd_home[l][k][h], -1)]
                        self.tangent_home[l][k][h] = self.add("tangent_act", M.layer, "feedback_learning", h, deps, w, chunk=k)
                    else:  # d at the output home
                        self.core(w, h, "feedback_learning", psum=adds * b)
                        self.sram(w, h, "feedback_learning", rd=b * rxv * V, wr=b * rxv * V + b * n_h * V)
                        self.d_ready[k].append((self.add("tangent_out", M.layer, "feedback_learning", h, parts[h], w, chunk=k), -1))
                if hidden:
                    incoming = self.multicast_to_next(l, k, b, "feedback_learning", self.tangent_home[l][k])

    # ------------------------------------------------------------ BP / FA chain
    def build_chain(self) -> None:
        L, V = self.L, self.V
        for l in range(L - 1, 0, -1):
            M = self.FB[l + 1] if self.rule == "fa" else self.W[l + 1]
            routes = {h: self.route(h, {t: self.cols_of(M, t) & self.home_ids[l + 1][h] for t in M.tiles}, self.vb)
                      for h in self.homes[l + 1]}
            plan = self.gather_plan(M, True, self.owner[l])
            for k, b in enumerate(self.sizes):
                incoming: dict[int, list[Dep]] = defaultdict(list)
                for h in self.homes[l + 1]:
                    src = [(self.delta[l + 1][k][h], -1)]
                    msg = self.send(routes[h], b, self.L_(l), "error", src, k)
                    for t in M.tiles:
                        if self.cols_of(M, t) & self.home_ids[l + 1][h]:
                            incoming[t].extend(self.delivered(msg, t, src))
                tile_ops = {}
                for t in M.tiles:
                    cols_t = len(self.cols_of(M, t))
                    w = _Work()
                    self.sram(w, t, "error", rd=b * cols_t * V, wr=b * cols_t * V)
                    ib = self.add("inbuf", self.L_(l), "error", t, incoming[t], w, chunk=k)
                    tile_ops[t] = self.array_op("tmvm", M, t, "error", b, True, [(ib, -1)], k, k == 0)
                # the transposed MVM's MACs and array actions belong to layer l's error phase
                for t, o in tile_ops.items():
                    self._relayer(o, self.L_(l))
                parts = self.gather(plan, tile_ops, b, self.L_(l), "error", k)
                for h in self.homes[l]:
                    n_h = len(self.home_ids[l][h])
                    adds, rxv = plan[1][h]
                    w = _Work()
                    self.core(w, h, "error", ew=b * n_h, psum=adds * b)
                    self.sram(w, h, "error", rd=b * rxv * V + b * n_h * V, wr=b * rxv * V + b * n_h * V)
                    deps = parts[h] + [(self.fwd_home[l][k][h], -1)]
                    self.delta[l][k][h] = self.add("bp_delta", self.L_(l), "error", h, deps, w, chunk=k)

    def _relayer(self, op_id: int, layer: str) -> None:
        op = self.ops[op_id]
        op.layer = layer
        op.records = [Record(layer, r.phase, r.component, r.action, r.count, r.bytes, r.cycles) for r in op.records]

    # ---------------------------------------------------- FA with B in SRAM
    def build_fa_core(self) -> None:
        L, V = self.L, self.V
        for l in range(L - 1, 0, -1):
            n_next = self.layers[l + 1]
            routes = {h2: self.route(h2, {h: self.home_ids[l + 1][h2] for h in self.homes[l]}, self.vb) for h2 in self.homes[l + 1]}
            for k, b in enumerate(self.sizes):
                msgs = {h2: self.send(routes[h2], b, self.L_(l), "error", [(self.delta[l + 1][k][h2], -1)], k) for h2 in self.homes[l + 1]}
                for h in self.homes[l]:
                    n_h = len(self.home_ids[l][h])
                    deps = [(self.fwd_home[l][k][h], -1)]
                    for h2, msg in msgs.items():
                        deps += self.delivered(msg, h, [(self.delta[l + 1][k][h2], -1)])
                    rx = sum(len(self.home_ids[l + 1][h2]) for h2 in self.homes[l + 1] if h2 != h)
                    w = _Work()
                    self.core(w, h, "error", macs=b * n_h * n_next, ew=b * n_h)
                    fb = n_h * n_next * V if k == 0 else 0  # B rows streamed once per step
                    self.sram(w, h, "error", rd=fb + b * n_h * V + b * rx * V, wr=b * n_h * V + b * rx * V)
                    self.delta[l][k][h] = self.add("fb_proj", self.L_(l), "error", h, deps, w, chunk=k)

    # -------------------------------------------- DFA family, sparse DFA, DRTP
    def sdfa_components(self, l: int, h: int) -> frozenset:
        """Components of e the neurons homed at h listen to (banded sparse B, s per neuron)."""
        n, C, s = self.layers[l], self.C, self.algo.fanin
        comps: set[int] = set()
        for j in self.home_ids[l][h]:
            g = (j * C) // n
            comps.update((g + i) % C for i in range(s))
        return frozenset(comps)

    def build_direct(self) -> None:
        L, C, V = self.L, self.C, self.V
        rule = self.rule
        hidden = range(1, L)
        out_homes = self.homes[L]
        # what each hidden home needs of e (component ids)
        if rule == "drtp":
            needs = {}
        elif rule == "sdfa":
            needs = {(l, h): self.sdfa_components(l, h) for l in hidden for h in self.homes[l]}
        else:
            needs = {(l, h): frozenset(range(C)) for l in hidden for h in self.homes[l]}
        # destinations of e: homes (projection on the core) or the tiles of B_l arrays
        use_arrays = self.fb_arrays and rule in ("dfa", "sign_dfa", "fdfa")
        routes = {}
        for o in out_homes:
            mine = self.home_ids[L][o]
            tgt: dict[int, set] = defaultdict(set)
            if use_arrays:
                for l in hidden:
                    for t in self.FB[l].tiles:
                        tgt[t] |= self.rows_of(self.FB[l], t) & mine
                    if rule == "fdfa":  # d (with e) also reaches the homes that update B_l
                        for h in self.homes[l]:
                            tgt[h] |= mine
            else:
                for (l, h), ids in needs.items():
                    tgt[h] |= ids & mine
            routes[o] = self.route(o, {t: frozenset(v) for t, v in tgt.items()}, self.err_bytes)
        fb_plans = {l: self.gather_plan(self.FB[l], False, self.owner[l]) for l in hidden} if use_arrays else {}
        for k, b in enumerate(self.sizes):
            msgs = {}
            for o in out_homes:
                msgs[o] = self.send(routes[o], b, self.L_(L), "error", [(self.delta[L][k][o], -1)], k)

            def arrival(t: int) -> list[Dep]:
                deps: list[Dep] = []
                for o in out_homes:
                    deps += self.delivered(msgs[o], t, [(self.delta[L][k][o], -1)])
                return deps

            for l in hidden:
                if use_arrays:
                    FBm = self.FB[l]
                    tile_ops = {}
                    for t in FBm.tiles:
                        rows_t = len(self.rows_of(FBm, t))
                        w = _Work()
                        self.sram(w, t, "error", rd=b * rows_t * V, wr=b * rows_t * V)
                        ib = self.add("inbuf", self.L_(l), "error", t, arrival(t), w, chunk=k)
                        tile_ops[t] = self.array_op("fb_mvm", FBm, t, "error", b, False, [(ib, -1)], k, k == 0)
                    parts = self.gather(fb_plans[l], tile_ops, b, self.L_(l), "error", k)
                for h in self.homes[l]:
                    n_h = len(self.home_ids[l][h])
                    w = _Work()
                    deps = [(self.fwd_home[l][k][h], -1)]
                    if rule == "fdfa":
                        deps.append((self.b_update(l, h, k, b, arrival(h)), -1))
                    if use_arrays:
                        adds, rxv = fb_plans[l][1][h]
                        self.core(w, h, "error", ew=b * n_h, psum=adds * b)
                        self.sram(w, h, "error", rd=b * rxv * V + b * n_h * V, wr=b * rxv * V + b * n_h * V)
                        deps += parts[h]
                        name = "fb_delta"
                    else:
                        if rule == "drtp":
                            kk = 1
                            fb_rd = b * n_h * V  # the label picks one entry of B per neuron and sample
                            deps += self.label_deps[k][h]
                            rx_bytes = b * 1.0  # the label
                        else:
                            kk = self.algo.fanin if rule == "sdfa" else C
                            fb_rd = n_h * kk * V if k == 0 else 0  # B (dense or sparse) streamed once per step
                            deps += arrival(h)
                            rx_bytes = b * self.err_bytes(len(needs[(l, h)]))
                        self.core(w, h, "error", macs=b * n_h * kk, ew=b * n_h)
                        self.sram(w, h, "error", rd=fb_rd + b * n_h * V + rx_bytes, wr=b * n_h * V + rx_bytes)
                        name = "fb_proj"
                    self.delta[l][k][h] = self.add(name, self.L_(l), "error", h, deps, w, chunk=k)

    def b_update(self, l: int, h: int, k: int, b: int, d_deps: list[Dep]) -> int:
        """fdfa: B_l rows of home h move toward d u^T (feedback_learning)."""
        n_h = len(self.home_ids[l][h])
        C, V = self.C, self.V
        w = _Work()
        self.core(w, h, "feedback_learning", macs=b * n_h * C)
        once = n_h * C * V if k == 0 else 0
        self.sram(w, h, "feedback_learning", rd=once + b * n_h * V, wr=once)
        deps = [(self.tangent_home[l][k][h], -1)] + d_deps
        op = self.add("b_update", self.L_(l), "feedback_learning", h, deps, w, chunk=k)
        self.b_updates[l].append(op)
        return op

    def build_feedback_program(self) -> None:
        """fdfa with B in arrays: the step's learned B_l is programmed once, after its last use."""
        for l, FBm in self.FB.items():
            for t in FBm.tiles:
                for i, blk in enumerate(FBm.tile_blocks(t)):
                    w = _Work()
                    bw = self.xm.program(blk.rows_used, blk.weights_used)
                    w.hold(("xbar", t, i), bw.array_cycles)
                    w.busy["crossbar"] += bw.array_cycles
                    for (comp, action), n in bw.counts.items():
                        w.rec("feedback_learning", comp, action, n, 0.0, bw.array_cycles if action == "cell_write" else 0.0)
                    self.sram(w, t, "feedback_learning", rd=blk.rows_used * blk.weights_used * self.V)
                    deps = [(o, -1) for o in self.b_updates[l]] + [(self.chain_last[t], -1)]
                    op = self.add("b_program", FBm.layer, "feedback_learning", t, deps, w)
                    self.updates_on_tile[t].append(op)
                    self.cells_written += bw.counts[("crossbar", "cell_write")]

    # --------------------------------------------------- weight grad/update
    def build_update(self, l: int) -> None:
        M = self.W[l]
        B, V, A = self.B, self.V, self.A
        layer = M.layer
        # delta of the columns each tile holds, delivered per chunk where the home is elsewhere
        delta_deps: dict[int, list[Dep]] = defaultdict(list)
        for h in self.homes[l]:
            needs = {t: self.cols_of(M, t) & self.home_ids[l][h] for t in M.tiles}
            rt = self.route(h, needs, self.vb)
            for k, b in enumerate(self.sizes):
                src = [(self.delta[l][k][h], -1)]
                msg = self.send(rt, b, layer, "weight_grad", src, k)
                for t in M.tiles:
                    if needs[t]:
                        delta_deps[t].extend(self.delivered(msg, t, src))
        for t in M.tiles:
            x_deps = [(self.inbuf[l][k][t], -1) for k in range(self.K)]
            spill = self._spill_in_dep(t)
            base = x_deps + delta_deps[t] + spill
            after_reads = [(self.chain_last[t], -1)]
            for i, blk in enumerate(M.tile_blocks(t)):
                r, wts = blk.rows_used, blk.weights_used
                if self.in_place:
                    w = _Work()
                    bw = self.xm.program(r, wts)
                    w.hold(("xbar", t, i), bw.array_cycles)
                    w.busy["crossbar"] += bw.array_cycles
                    for (comp, action), n in bw.counts.items():
                        w.rec("weight_update", comp, action, n, 0.0, bw.array_cycles if action == "cell_write" else 0.0)
                    w.macs.append(("weight_grad", "crossbar", float(B * r * wts)))
                    self.sram(w, t, "weight_update", rd=B * (r * A + wts * V))
                    op = self.add("wupdate", layer, "weight_update", t, base + after_reads, w)
                    self.cells_written += bw.counts[("crossbar", "cell_write")]
                else:
                    w = _Work()
                    self.core(w, t, "weight_grad", macs=B * r * wts)
                    self.sram(w, t, "weight_grad", rd=B * (r * A + wts * V), wr=r * wts * V)
                    g = self.add("wgrad", layer, "weight_grad", t, base, w)
                    w = _Work()
                    if self.in_xbar:
                        bw = self.xm.program(r, wts)
                        w.hold(("xbar", t, i), bw.array_cycles)
                        w.busy["crossbar"] += bw.array_cycles
                        for (comp, action), n in bw.counts.items():
                            w.rec("weight_update", comp, action, n, 0.0, bw.array_cycles if action == "cell_write" else 0.0)
                        self.sram(w, t, "weight_update", rd=r * wts * V)
                        self.cells_written += bw.counts[("crossbar", "cell_write")]
                    else:
                        self.core(w, t, "weight_update", ew=r * wts)
                        self.sram(w, t, "weight_update", rd=r * wts * (self.WB + V), wr=r * wts * self.WB)
                    op = self.add("wupdate", layer, "weight_update", t, [(g, -1)] + after_reads, w)
                self.updates_on_tile[t].append(op)
        # biases live at the homes
        for h in self.homes[l]:
            n_h = len(self.home_ids[l][h])
            w = _Work()
            self.core(w, h, "weight_grad", psum=B * n_h)
            self.sram(w, h, "weight_grad", rd=B * n_h * V)
            self.core(w, h, "weight_update", ew=n_h)
            self.sram(w, h, "weight_update", rd=n_h * V, wr=n_h * V)
            deps = [(self.delta[l][k][h], -1) for k in range(self.K)]
            self.add("bias", layer, "weight_update", h, deps, w)

    # ---------------------------------------------------------------- spills
    def working_sets(self) -> dict[int, tuple[str, float, float]]:
        """tile -> (layer, bytes it must keep through the step, of which activations it could spill)."""
        B, V, A = self.B, self.V, self.A
        ws: dict[int, list] = {}

        def add(t: int, layer: str, keep: float, act: float) -> None:
            e = ws.setdefault(t, [layer, 0.0, 0.0])
            e[1] += keep + act
            e[2] += act

        for l, M in self.W.items():
            for t in M.tiles:
                blocks = M.tile_blocks(t)
                add(t, M.layer, 0.0, B * len(self.rows_of(M, t)) * A)  # inputs kept for the weight gradient
                if not self.in_place:
                    biggest = max(b.rows_used * b.weights_used for b in blocks)
                    add(t, M.layer, 2 * biggest * V, 0.0)  # double-buffered block gradient
                if not self.in_xbar:
                    add(t, M.layer, len(blocks) * self.hw.sram_weights.block_bytes, 0.0)
            for h in self.homes[l]:
                n_h = len(self.home_ids[l][h])
                hidden = l < self.L
                add(h, M.layer, 0.0, B * n_h * V * (2 if hidden else 1))  # f'(a) and delta (e at the output)
                if hidden and self.rule == "fdfa":
                    add(h, M.layer, 0.0, B * n_h * V)  # tangent
                if hidden and not self.fb_arrays:
                    kk = {"fa": self.layers[l + 1], "dfa": self.C, "sign_dfa": self.C, "fdfa": self.C,
                          "drtp": self.C, "sdfa": getattr(self.algo, "fanin", 0)}.get(self.rule, 0)
                    add(h, M.layer, n_h * kk * V, 0.0)  # feedback rows in SRAM
        return {t: (v[0], v[1], v[2]) for t, v in ws.items()}

    def build_spills(self) -> None:
        """One line per layer whose tiles' working sets overflow their SRAM."""
        cap = self.hw.sram.size_kib * 1024
        per_layer: dict[str, list] = {}
        for t, (layer, total, _act) in sorted(self.working_sets().items()):
            if total <= cap:
                continue
            e = per_layer.setdefault(layer, [0, 0.0, 0.0])
            e[0] += 1
            e[1] += total - cap
            e[2] = max(e[2], total)
        for layer, (n, excess, worst) in per_layer.items():
            n_tiles = len({t for m in self.pl.matrices if m.layer == layer for t in m.tiles})
            self.spills.append(
                f"{layer}: working set up to {worst / 1024:.1f} KiB exceeds the {self.hw.sram.size_kib:g} KiB tile SRAM "
                f"on {n} of {n_tiles} tiles; {excess / 1024:.1f} KiB per step spilled to DRAM (written in forward, read back for the weight gradient)"
            )

    def _spill_in_dep(self, t: int) -> list[Dep]:
        """Ops that write the tile's overflow to DRAM and read it back (created on first use)."""
        cap = self.hw.sram.size_kib * 1024
        if self._ws is None:
            self._ws = self.working_sets()
        if t in self._spilled:
            return self._spilled[t]
        layer, total, _act = self._ws.get(t, ("", 0.0, 0.0))
        if total <= cap:
            self._spilled[t] = []
            return []
        excess = total - cap
        dram = self.units["dram"]
        to_port = self.route(t, {self.port: frozenset([0])}, lambda n: excess)
        from_port = self.route(self.port, {t: frozenset([0])}, lambda n: excess)
        last_fwd = [(self.fwd_last[t], -1)]
        m1 = self.send(to_port, 1, layer, "forward", last_fwd, None, name="noc")
        w = _Work()
        cyc = dram.service_cycles(excess)
        w.hold(("dram",), cyc)
        w.busy["dram"] += cyc
        w.rec("forward", "dram", "write", excess, excess, cyc)
        self.sram(w, t, "forward", rd=excess)
        out = self.add("spill_out", layer, "forward", self.port, self.delivered(m1, self.port, last_fwd), w, latency=dram.latency_cycles)
        w = _Work()
        w.hold(("dram",), cyc)
        w.busy["dram"] += cyc
        w.rec("weight_grad", "dram", "read", excess, excess, cyc)
        sin = self.add("spill_in", layer, "weight_grad", self.port, [(out, -1)], w, latency=dram.latency_cycles)
        m2 = self.send(from_port, 1, layer, "weight_grad", [(sin, -1)], None)
        w = _Work()
        self.sram(w, t, "weight_grad", wr=excess)
        land = self.add("spill_land", layer, "weight_grad", t, self.delivered(m2, t, [(sin, -1)]), w)
        self._spilled[t] = [(land, -1)]
        return self._spilled[t]

    # --------------------------------------------------------- step chaining
    def finish(self) -> None:
        # step s+1's first op on a tile's arrays waits for step s's updates of that tile
        for t, first in self.chain_first.items():
            for u in self.updates_on_tile.get(t, []):
                self.carry.append((u, first))
        # the next step's input chunk k is loaded once this step's chunk k has left the DRAM port
        dram_ops = [op.id for op in self.ops if op.name == "dram_input"]
        for k, d in enumerate(dram_ops):
            self.carry.append((self.input_msgs[k], d))


def build_step_graph(hw: HwConfig, layers: list[int], batch: int, algo: AlgorithmConfig, *,
                     placement: Placement | None = None, chunks: int | None = None) -> StepGraph:
    """The op graph of one training step of ``algo`` on ``hw``."""
    from ..mapping.placement import place

    pl = placement if placement is not None else place(hw, layers, algo)
    b = _Builder(hw, layers, batch, algo, pl, chunks if chunks is not None else default_chunks(batch))
    b.build()
    b.finish()
    cells_total = 0.0
    if hw.crossbar is not None:
        for m in pl.matrices:
            if m.matrix == "B" or pl.storage == "crossbar":
                cells_total += sum(bl.rows_used * bl.cols_used for bl in m.blocks)
    return StepGraph(hw, pl, list(layers), batch, algo, b.sizes, b.ops, b.spills, b.carry, b.cells_written, cells_total)
