"""The op-graph builder's state and its primitives: add an op, charge a core, an
SRAM port, a transfer, an array read, and reduce partial sums into their homes.

The phase modules (:mod:`.forward`, :mod:`.backward`, :mod:`.update`,
:mod:`.spills`) create ops through these primitives; :mod:`.graph` runs them in
order. Quantities per op are per *chunk* of ``samples`` samples; an array op on
a layer applied at ``positions`` per sample processes ``samples × positions``
vectors (one MVM per output position), so positions never multiply the op count.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Iterable, Mapping

import numpy as np

from ..config.hw import HwConfig
from ..config.network import LayerShape
from ..hw.crossbar import CrossbarModel
from ..hw.noc import Mesh, Route
from ..hw.units import CoreWork, pure_units
from ..mapping.placement import Block, MatrixPlacement, Placement, feedback_in_arrays
from ..records import Record
from ..stages import stages
from .layers import ChipLayer, chip_layers, ids_mask, ranges_mask
from .ops import Dep, Op, UnitKey, Work, chunk_sizes, work_record

__all__ = ["StepBuilder", "GatherPlan"]

#: A reduction plan: (per source tile: (pre-reduce adds per sample, scatter route, its
#: destinations, whether it homes some outputs), per home: (adds per sample, values received per sample))
GatherPlan = tuple[dict[int, tuple[int, Route | None, list[int], bool]], dict[int, tuple[int, int]]]


class StepBuilder:
    """State of one step graph under construction (see the module docstring)."""

    def __init__(self, hw: HwConfig, shapes: list[LayerShape], batch: int, algo, placement: Placement, chunks: int,
                 write_cycles: Mapping[str, float] | None = None):
        self.hw = hw
        self.write_cycles = dict(write_cycles or {})  #: measured programming cycles of a layer's weight arrays
        self.shapes = list(shapes)
        self.batch = batch
        self.algo = algo
        self.flow = type(algo).dataflow
        self.stages = stages(shapes, algo)
        transfer = getattr(algo, "transfer", None)
        #: layers frozen by transfer (weight and batchnorm layers)
        self.frozen = frozenset(transfer.layers) if transfer is not None else frozenset()
        self.n_layers = len(self.stages)
        self.n_classes = self.stages[-1].shape.cols
        self.placement = placement
        self.mesh = Mesh(hw.noc)
        self.units = pure_units(hw)
        self.crossbar = CrossbarModel(hw.crossbar) if hw.crossbar is not None else None
        self.in_crossbars = hw.chip.weight_storage == "crossbar"
        #: bytes of one digital value (activations, errors, partial sums)
        self.value_bytes = math.ceil(hw.core.data_bits / 8)
        if self.in_crossbars:
            #: bytes of one array input, and of one weight read from SRAM (0: weights live in arrays)
            self.input_bytes = math.ceil(hw.crossbar.input_bits / 8)
            self.weight_bytes = 0
        else:
            self.input_bytes = math.ceil(hw.sram_weights.weight_bits / 8)
            self.weight_bytes = self.input_bytes
        #: in-place outer-product update (batch 1 on crossbars) instead of accumulate-then-program
        self.in_place = self.in_crossbars and batch == 1
        self.feedback_arrays = feedback_in_arrays(hw, algo)
        self.sizes = chunk_sizes(batch, chunks)
        self.n_chunks = len(self.sizes)
        self.port = self.mesh.tile_at(*hw.dram.port_tile_xy)
        self.ops: list[Op] = []
        self.chain_last: dict[int, int] = {}
        self.chain_first: dict[int, int] = {}
        self.fwd_last: dict[int, int] = {}
        self.b_updates: dict[int, list[int]] = defaultdict(list)
        self.updates_on_tile: dict[int, list[int]] = defaultdict(list)
        self.carry: list[tuple[int, int]] = []
        self.spills: list[str] = []
        self.spilled: dict[int, list[Dep]] = {}
        self.working_sets: dict[int, tuple[str, float, float]] | None = None
        self.cells_written = 0.0
        self.layers: dict[int, ChipLayer] = chip_layers(self.stages, placement, self.stages[0].shape.in_shape)
        per_chunk = lambda: [dict() for _ in range(self.n_chunks)]  # noqa: E731
        #: per layer, per chunk, per tile/home: the op that stored the inputs / finished the forward / the error
        self.inbuf: dict[int, list[dict[int, int]]] = {l: per_chunk() for l in self.layers}
        self.fwd_home: dict[int, list[dict[int, int]]] = {l: per_chunk() for l in self.layers}
        self.delta: dict[int, list[dict[int, int]]] = {l: per_chunk() for l in self.layers}
        self.tangent_home: dict[int, list[dict[int, int]]] = {}
        self.d_ready: list[list[Dep]] = [[] for _ in range(self.n_chunks)]
        self.input_msgs: list[int] = []
        self.label_deps: list[dict[int, list[Dep]]] = []
        #: forward routing and reductions, planned once per step (see :mod:`.forward`)
        self.fed_ids: dict[int, dict[int, int]] = {}
        #: layer -> home -> the tiles of the next layer that read some of the home's outputs
        self.fwd_readers: dict[int, dict[int, list[int]]] = {}
        self.fwd_routes: dict[int, dict[int, Route | None]] = {}
        self.fwd_plans: dict[int, GatherPlan] = {}
        #: the forward pass runs layer by layer (a batchnorm needs the whole batch) instead of chunk by chunk
        self.layer_major = any(st.batchnorm is not None for st in self.stages)
        self._sets: dict[tuple, int] = {}
        self._reads: dict[tuple, object] = {}
        self._scatters: dict[tuple, tuple[Route | None, list[int]]] = {}
        #: the step's distinct records (frozen, so ops share them)
        self._records: dict[tuple, Record] = {}

    # ------------------------------------------------------------ primitives
    def add(self, name: str, layer: str, phase: str, tile, deps: Iterable[Dep], w: Work | None = None, *,
            chunk=None, latency: float = 0.0, route: Route | None = None, samples: float = 0.0) -> int:
        recs: list[Record] = []
        holds: list[tuple[UnitKey, float]] = []
        busy: dict[str, float] = {}
        macs: list[tuple[str, str, float]] = []
        duration = 0.0
        if w is not None:
            holds = sorted(w.holds.items())
            duration = max([c for _, c in holds] + [w.min_duration])
            cache = self._records  # a large step has ~20k records but ~200 distinct ones: share them
            for (p, c, a), v in w.recs.items():
                key = (layer, p, c, a, v[0], v[1], v[2])
                r = cache.get(key)
                if r is None:
                    r = cache[key] = work_record(*key)
                recs.append(r)
            busy = dict(w.busy)
            macs = list(w.macs)
        op = Op(len(self.ops), name, layer, phase, chunk, tile, list(dict.fromkeys(deps)), holds, duration,
                latency, route, samples, recs, macs, busy)
        self.ops.append(op)
        return op.id

    def core(self, w: Work, tile: int, phase: str, macs: float = 0.0, ew: float = 0.0, psum: float = 0.0) -> None:
        """Charge the tile's core: ``macs`` digital MACs, ``ew`` elementwise ops, ``psum`` partial-sum adds."""
        if macs <= 0 and ew <= 0 and psum <= 0:
            return
        cycles = self.units["core"].service_cycles(CoreWork(macs, ew + psum))
        w.hold(("core", tile), cycles)
        w.busy["core"] += cycles
        per_cycle_mac = self.hw.core.macs_per_cycle
        per_cycle_ew = self.hw.core.elementwise_per_cycle
        w.rec(phase, "core", "digital_mac", macs, 0.0, macs / per_cycle_mac)
        w.rec(phase, "core", "elementwise", ew, 0.0, ew / per_cycle_ew)
        w.rec(phase, "core", "psum_add", psum, 0.0, psum / per_cycle_ew)
        if macs > 0:
            w.macs.append((phase, "core", macs))

    def sram(self, w: Work, tile: int, phase: str, rd: float = 0.0, wr: float = 0.0) -> None:
        """Charge the tile's SRAM ports: ``rd`` bytes read, ``wr`` bytes written."""
        if rd <= 0 and wr <= 0:
            return
        cycles = self.units["sram"].service_cycles(rd + wr)
        w.hold(("sram", tile), cycles)
        w.busy["sram"] += cycles
        per_cycle = self.hw.sram.bytes_per_cycle_per_port
        w.rec(phase, "sram", "read", rd, rd, rd / per_cycle)
        w.rec(phase, "sram", "write", wr, wr, wr / per_cycle)

    def dram(self, w: Work, phase: str, action: str, nbytes: float) -> None:
        cycles = self.units["dram"].service_cycles(nbytes)
        w.hold(("dram",), cycles)
        w.busy["dram"] += cycles
        w.rec(phase, "dram", action, nbytes, nbytes, cycles)

    def route(self, src: int, needs: dict[int, int], value_bytes: Callable[[int], float]) -> Route | None:
        """The pruned multicast tree from ``src`` to every other tile that needs some ids (bitmasks)."""
        remote = {d: ids for d, ids in needs.items() if d != src and ids}
        if not remote:
            return None
        return self.mesh.route(src, remote, value_bytes)

    def send(self, route: Route | None, samples: float, layer: str, phase: str, deps: list[Dep], chunk, name: str = "noc") -> int | None:
        if route is None:
            return None
        w = Work()
        flit_hops = samples * route.flit_hops()
        link_cycles = self.hw.noc.link_cycles_per_hop.value
        w.rec(phase, "noc", "flit_hop", flit_hops, samples * route.byte_hops(), flit_hops * link_cycles)
        w.busy["noc"] += flit_hops * link_cycles
        return self.add(name, layer, phase, route.src, deps, w, chunk=chunk, route=route, samples=samples)

    def delivered(self, msg: int | None, dest: int, local: list[Dep]) -> list[Dep]:
        """What an op on ``dest`` waits for: the message's delivery there, else the local producer."""
        return [(msg, dest)] if msg is not None and dest in self.ops[msg].route.dests else list(local)

    def fan_out(self, msg: int | None, dests: Iterable[int], local: list[Dep], into: dict[int, list[Dep]]) -> None:
        """:meth:`delivered` for each of ``dests``, appended to ``into[dest]`` (one route lookup for all)."""
        reached = self.ops[msg].route.dests if msg is not None else ()
        for t in dests:
            if t in reached:
                into[t].append((msg, t))
            else:
                into[t].extend(local)

    def scatter(self, layer: ChipLayer, m: MatrixPlacement, home: int) -> tuple[Route | None, list[int]]:
        """The tree carrying ``home``'s δ of ``layer`` to the tiles of ``m`` holding its columns, and
        those tiles (memoised per step: BP's chain and the weight gradient of one matrix send the same δ)."""
        key = ("scatter", m.layer, m.matrix, home)
        out = self._scatters.get(key)
        if out is None:
            needs = {t: self.cols_of(m, t) & layer.home_ids[home] for t in m.tiles}
            out = self._scatters[key] = (self.route(home, needs, self.values(layer.positions)),
                                         [t for t, got in needs.items() if got])
        return out

    def values(self, per_id: int = 1) -> Callable[[int], float]:
        """Bytes of ``n`` ids of ``per_id`` digital values each."""
        value_bytes = self.value_bytes
        return lambda n: n * value_bytes * per_id

    def err_bytes(self, n: int) -> float:
        """Bytes per sample of n components of the output-error signal as the rule sends it."""
        if self.flow.signal == "sign_error":
            return math.ceil(2 * n / 8)  # sign(e) in {-1, 0, +1}: 2 bits each
        if self.flow.signal == "error_tangent":
            return 2 * n * self.value_bytes  # e and the output directional derivative d travel together
        return n * self.value_bytes

    # ------------------------------------------------------------ block sets
    def rows_of(self, m: MatrixPlacement, tile: int) -> int:
        """Rows of ``m`` the tile's blocks hold, a bitmask (memoised per step graph)."""
        key = ("rows", m.layer, m.matrix, tile)
        out = self._sets.get(key)
        if out is None:
            out = self._sets[key] = ranges_mask([(b.row_start, b.row_start + b.rows_used) for b in m.tile_blocks(tile)])
        return out

    def cols_of(self, m: MatrixPlacement, tile: int) -> int:
        """Weight columns of ``m`` the tile's blocks hold, a bitmask (memoised per step graph)."""
        key = ("cols", m.layer, m.matrix, tile)
        out = self._sets.get(key)
        if out is None:
            out = self._sets[key] = ranges_mask([(b.weight_start, b.weight_start + b.weights_used)
                                                 for b in m.tile_blocks(tile)])
        return out

    # ----------------------------------------------------------- array ops
    @staticmethod
    def pieces(m: MatrixPlacement, b: Block, groups: int) -> list[tuple[int, int]]:
        """(rows, weights) a block multiplies: itself, or per group its diagonal part."""
        if groups == 1:
            return [(b.rows_used, b.weights_used)]
        row_group, col_group = m.n_rows // groups, m.n_cols // groups
        out = []
        for g in range(groups):
            rows = min(b.row_start + b.rows_used, (g + 1) * row_group) - max(b.row_start, g * row_group)
            cols = min(b.weight_start + b.weights_used, (g + 1) * col_group) - max(b.weight_start, g * col_group)
            if rows > 0 and cols > 0:
                out.append((rows, cols))
        return out

    def array_op(self, name: str, m: MatrixPlacement, tile: int, phase: str, vectors: float, transposed: bool,
                 deps: list[Dep], chunk, first_chunk: bool, groups: int = 1) -> int:
        """All blocks of matrix ``m`` on ``tile`` process ``vectors`` vectors (forward or transposed;
        ``groups`` > 1: a grouped product, each block read once per group it holds)."""
        blocks = m.tile_blocks(tile)
        w = Work()
        if self.in_crossbars or m.matrix == "B":
            self._crossbar_reads(w, m, blocks, tile, phase, vectors, transposed, groups)
        else:
            macs = sum(vectors * r * c for b in blocks for r, c in self.pieces(m, b, groups))
            self.core(w, tile, phase, macs=macs)
            if first_chunk:  # weight-stationary over the batch: weights read once per step and phase
                self.sram(w, tile, phase, rd=sum(b.rows_used * b.weights_used for b in blocks) * self.weight_bytes)
        deps = list(deps)
        if tile in self.chain_last:
            deps.append((self.chain_last[tile], -1))
        op = self.add(name, m.layer, phase, tile, deps, w, chunk=chunk)
        self.chain_last[tile] = op
        self.chain_first.setdefault(tile, op)
        if phase == "forward":
            self.fwd_last[tile] = op
        return op

    def _crossbar_reads(self, w: Work, m: MatrixPlacement, blocks: list[Block], tile: int, phase: str,
                        vectors: float, transposed: bool, groups: int) -> None:
        shape = (transposed, vectors, tuple(tuple(self.pieces(m, b, groups)) for b in blocks))
        tile_read = self._reads.get(shape)  # tiles whose blocks have the same shapes are read alike: memoised
        if tile_read is None:
            tile_read = self._reads[shape] = self._tile_read(shape)
        arr_max, adc_max, duration, xbar_busy, adc_busy, counts, macs = tile_read
        for x, a in zip(xbar_busy, adc_busy):  # the same additions as piece by piece
            w.busy["crossbar"] += x
            w.busy["adc"] += a
        cfg = self.hw.crossbar
        w.hold(("xbar", tile), arr_max)
        w.hold(("adc", tile), adc_max)
        w.min_duration = duration
        for (comp, action), n in counts:
            if comp == "crossbar":
                w.rec(phase, comp, action, n, 0.0, n * cfg.read_cycles.value)
            elif comp == "dac":
                w.rec(phase, comp, action, n, n * cfg.dac_bits / 8)
            elif comp == "adc":
                w.rec(phase, comp, action, n, n * cfg.adc_bits / 8, n * cfg.adc_cycles.value)
            else:
                w.rec(phase, comp, action, n)
        w.macs.append((phase, "crossbar", macs))

    def _tile_read(self, shape: tuple) -> tuple:
        """What one tile's array read of ``shape`` (transposed, vectors, pieces per block) costs:
        the longest block's array, ADC and read cycles, each piece's busy cycles, the counts, the MACs."""
        transposed, vectors, block_pieces = shape
        fn = self.crossbar.transposed_read if transposed else self.crossbar.forward_read
        arr_max = adc_max = duration = 0.0
        counts: dict[tuple[str, str], float] = defaultdict(float)
        macs = 0.0
        xbar_busy, adc_busy = [], []
        for pieces in block_pieces:
            arr = adc = dur = 0.0
            for rows, weights in pieces:
                bw = fn(rows, weights, vectors)
                for key, v in bw.counts.items():
                    counts[key] += v
                arr, adc, dur = arr + bw.array_cycles, adc + bw.adc_cycles, dur + bw.cycles
                xbar_busy.append(bw.array_cycles)
                adc_busy.append(bw.adc_busy_total)
                macs += bw.macs
            arr_max, adc_max, duration = max(arr_max, arr), max(adc_max, adc), max(duration, dur)
        return arr_max, adc_max, duration, xbar_busy, adc_busy, sorted(counts.items()), macs

    def program(self, w: Work, tile: int, index: int, block: Block, phase: str) -> None:
        """Program one crossbar block (a weight update or a learned B; a weight block for its layer's :attr:`write_cycles`)."""
        bw = self.crossbar.program(block.rows_used, block.weights_used, self.write_cycles.get(block.layer) if block.matrix == "W" else None)
        w.hold(("xbar", tile, index), bw.array_cycles)
        w.busy["crossbar"] += bw.array_cycles
        for (comp, action), n in bw.counts.items():
            w.rec(phase, comp, action, n, 0.0, bw.array_cycles if action == "cell_write" else 0.0)
        self.cells_written += bw.counts[("crossbar", "cell_write")]

    # -------------------------------------------------------- reductions
    def gather_plan(self, m: MatrixPlacement, block_ids: Callable[[Block], list[tuple[int, int]]],
                    owner: np.ndarray, per_id: int = 1) -> GatherPlan:
        """Static plan to reduce the partial sums of matrix ``m`` into the owners of its outputs.

        ``block_ids(block)`` names the output ids a block produces partial sums for
        (as ranges; ``per_id`` values per sample each), ``owner`` the home of each id.
        A tile first adds up its own blocks' partial sums of ids homed elsewhere, then
        scatters them in one pruned tree."""
        n = len(owner)
        cnt: dict[int, np.ndarray] = {}
        for b in m.blocks:
            c = cnt.get(b.tile)
            if c is None:
                c = cnt[b.tile] = np.zeros(n, dtype=np.int64)
            for start, stop in block_ids(b):
                c[start:stop] += 1
        remote = np.zeros(n, dtype=np.int64)
        src_plan = {}
        received: dict[int, int] = defaultdict(int)
        homed = {h: ids_mask(np.flatnonzero(owner == h)) for h in np.unique(owner).tolist()}  # per home its ids
        for t in sorted(cnt):
            c = cnt[t]
            touched = c > 0
            foreign = touched & (owner != t)
            pre = int((c[foreign] - 1).sum()) * per_id
            ids_all = np.flatnonzero(foreign)
            remote[ids_all] += 1
            sent = ids_mask(ids_all)
            hs, counts = np.unique(owner[ids_all], return_counts=True)
            needs = {h: sent & homed[h] for h in hs.tolist()}  # per home the ids it gets from t
            for h, got in zip(hs.tolist(), counts.tolist()):
                received[h] += got
            # one scatter tree per source tile: each branch carries only its destinations' partial sums
            rt = self.route(t, needs, self.values(per_id)) if needs else None
            src_plan[t] = (pre, rt, sorted(needs), bool((touched & (owner == t)).any()))
        home_plan = {}
        for h in sorted(set(owner.tolist())):
            mine = owner == h
            tot = remote[mine] + (cnt[h][mine] if h in cnt else 0)
            adds = int((tot[tot > 0] - 1).sum()) * per_id
            home_plan[h] = (adds, received.get(h, 0) * per_id)
        return src_plan, home_plan

    def gather(self, plan: GatherPlan, tile_ops: dict[int, int], samples: float, layer: str, phase: str, chunk) -> dict[int, list[Dep]]:
        """Instantiate a gather plan for one chunk; returns home -> deps on its incoming partial sums."""
        src_plan, _ = plan
        out: dict[int, list[Dep]] = defaultdict(list)
        for t, (pre, rt, dests, owns) in src_plan.items():
            deps_t = [(tile_ops[t], -1)]
            if rt is not None:
                if pre > 0:
                    w = Work()
                    self.core(w, t, phase, psum=pre * samples)
                    deps_t = [(self.add("psum_prereduce", layer, phase, t, deps_t, w, chunk=chunk), -1)]
                msg = self.send(rt, samples, layer, phase, deps_t, chunk)
                for h in dests:
                    out[h].append((msg, h))
            if owns:
                out[t].append((tile_ops[t], -1))
        return out

    def relayer(self, op_id: int, layer: str) -> None:
        """File an op's records under another layer (a transposed read forms the layer below's error)."""
        op = self.ops[op_id]
        op.layer = layer
        op.records = [work_record(layer, r.phase, r.component, r.action, r.count, r.bytes, r.cycles) for r in op.records]
