"""The op graph, the discrete-event simulator, the analytic model and cost_step."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from pydantic import TypeAdapter

import neurosim.sim as sim
from neurosim import counts
from neurosim.config import hw as hwcfg
from neurosim.config.workload import ALGORITHMS, AlgorithmConfig
from neurosim.hw import ACTIONS, Mesh
from neurosim.mapping import place
from neurosim.records import Record
from neurosim.sim import HardwareCost, build_step_graph, cost_step, longest_path, simulate
from neurosim.sim.graph import Op, StepGraph

from .conftest import HW_DIGITAL, HW_RRAM
from .test_mapping import mlp, tiny_hw

_algo = TypeAdapter(AlgorithmConfig).validate_python
BIG = mlp([784, 800, 800, 10])
HW_COMPONENTS = {"crossbar", "dac", "adc", "core", "sram", "noc", "dram"}


def algo(name: str, **kw):
    if name == "hybrid_dfa":  # fc1 ends a module (direct projection), the layers above it chain by BP
        kw.setdefault("direct_to", ["fc1"])
    return _algo({"name": name, **kw})


def _sum(records, **match) -> float:
    return sum(r.count for r in records if all(getattr(r, k) == v for k, v in match.items()))


@pytest.fixture(scope="module")
def rram():
    return hwcfg.load(HW_RRAM)


@pytest.fixture(scope="module")
def digital():
    return hwcfg.load(HW_DIGITAL)


@pytest.fixture(scope="module")
def headline(rram):
    """784-800-800-10, batch 32 on rram_tile: one step of bp, dfa and sparse dfa."""
    out = {}
    for name in ("bp", "dfa", "sdfa"):
        t0 = time.perf_counter()
        out[name] = cost_step(rram, BIG, 32, algo(name), steps_per_epoch=1875)
        out[name + "_seconds"] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------- API

def test_public_api():
    for name in ("cost_step", "HardwareCost"):
        assert name in sim.__all__
    for name in sim.__all__:
        assert hasattr(sim, name), name


def test_sim_imports_stay_below_learning_and_reporting():
    code = (
        "import sys, neurosim.sim, neurosim.mapping, neurosim.hw\n"
        "bad = [m for m in sys.modules if m.split('.')[:2] in "
        "(['neurosim','learning'], ['neurosim','cli'], ['neurosim','report'], ['neurosim','ledger'], ['neurosim','pipeline'])]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------- counts by hand

def test_hand_counts_of_a_tiny_2x3_block_layer():
    # tiny_hw: 4x8 arrays, 2 cells/weight, 4-bit inputs on 2-bit DACs (2 slices), 4 ADCs per array.
    # fc1 7 -> 10 is 2 row blocks (4 + 3 rows) x 3 column blocks (4, 4, 2 weights = 8, 8, 4 columns).
    hw = tiny_hw()
    g = build_step_graph(hw, mlp([7, 10]), 3, algo("bp"))
    recs = g.records()
    fwd = dict(layer="fc1", phase="forward")
    assert _sum(recs, component="crossbar", action="read", **fwd) == 6 * 3 * 2  # blocks x samples x slices
    assert _sum(recs, component="dac", action="convert", **fwd) == 3 * (4 + 3) * 3 * 2  # rows driven
    assert _sum(recs, component="adc", action="convert", **fwd) == 2 * (8 + 8 + 4) * 3 * 2  # columns sensed
    assert _sum(recs, component="dram", action="read", **fwd) == 3 * (7 + 1)  # 1-byte pixels + label
    # the input multicast from the DRAM port (tile 0) to tiles 1 and 2: 2 links, 7 B = 1 flit per sample
    assert _sum(recs, component="noc", action="flit_hop", **fwd) == 2 * 3
    assert sum(r.bytes for r in recs if r.component == "noc" and r.phase == "forward") == 2 * 7 * 3
    # output error e = softmax - y: one elementwise op per class and sample
    assert _sum(recs, layer="fc1", phase="error", component="core", action="elementwise") == 3 * 10
    # accumulate-then-program: 3 x 7 x 10 gradient MACs on the core, every cell written once (3 pulses)
    assert _sum(recs, phase="weight_grad", component="core", action="digital_mac") == 3 * 7 * 10
    assert _sum(recs, component="crossbar", action="cell_write") == 7 * 10 * 2
    assert _sum(recs, component="crossbar", action="pulse") == 7 * 10 * 2 * 3


def test_transposed_reads_of_bp_by_hand():
    # 7 -> 10 -> 6: BP's error of fc1 is a transposed read of W_2 (10 rows -> 3 row blocks, 6 weights -> 2 col blocks)
    g = build_step_graph(tiny_hw(), mlp([7, 10, 6]), 2, algo("bp"))
    recs = g.records()
    # 6 blocks x 2 samples x 2 slices x 2 cell significances; counted as fc1's error phase
    assert _sum(recs, layer="fc1", phase="error", component="crossbar", action="transposed_read") == 6 * 2 * 2 * 2
    assert _sum(recs, layer="fc2", component="crossbar", action="transposed_read") == 0
    # rows sensed: (4 + 4 + 2) per column block, 2 column blocks
    assert _sum(recs, layer="fc1", phase="error", component="adc", action="convert") == 2 * 10 * 2 * 2 * 2


# ------------------------------------------------- consistency with counts

@pytest.mark.parametrize("chip", ["rram", "digital", "rram_fb_crossbar"])
@pytest.mark.parametrize("name", ALGORITHMS)
def test_graph_macs_equal_network_macs_for_every_algorithm(chip, name, rram, digital):
    hw = {"rram": rram, "digital": digital}.get(chip) or rram.model_copy(
        update={"chip": rram.chip.model_copy(update={"feedback_storage": "crossbar"})}
    )
    a = algo(name, fanin=3) if name == "sdfa" else algo(name)
    for layers, batch in ((BIG, 32), (mlp([30, 17, 9, 5]), 1)):
        g = build_step_graph(hw, layers, batch, a)
        got = g.macs()
        for r in counts.step_counts(layers, batch, a):
            if r.action != "mac":
                continue
            m = got.get((r.layer, r.phase), {"crossbar": 0.0, "core": 0.0})
            assert m["crossbar"] + m["core"] == pytest.approx(r.count, abs=1e-6), (r.layer, r.phase, m)
        recs = g.records()
        core_macs = sum(v["core"] for v in got.values())
        assert _sum(recs, component="core", action="digital_mac") == pytest.approx(core_macs)
        if hw.chip.weight_storage == "sram":
            assert not [r for r in recs if r.component in ("crossbar", "dac", "adc")]


def test_records_are_hardware_actions_with_energy_entries(rram, digital):
    for hw in (rram, digital):
        for name in ALGORITHMS:
            recs = build_step_graph(hw, mlp([30, 17, 9, 5]), 4, algo(name)).records()
            assert recs and all(isinstance(r, Record) for r in recs)
            for r in recs:
                assert r.component in HW_COMPONENTS and r.action != "mac"
                assert (r.component, r.action) in ACTIONS
                assert r.action in hw.energy[r.component], (hw.name, r.component, r.action)


def test_records_do_not_depend_on_the_chunking(rram):
    def key(recs):
        return {(r.layer, r.phase, r.component, r.action): (r.count, r.bytes) for r in recs}

    for name in ("bp", "dfa", "sdfa", "fdfa"):
        base = key(build_step_graph(rram, mlp([100, 60, 40, 10]), 8, algo(name), chunks=1).records())
        for k in (2, 8):
            other = key(build_step_graph(rram, mlp([100, 60, 40, 10]), 8, algo(name), chunks=k).records())
            assert other.keys() == base.keys()
            for kk, v in base.items():
                assert other[kk] == pytest.approx(v), (name, k, kk)


def test_batch_of_one_updates_in_place(rram):
    g = build_step_graph(rram, mlp([100, 40, 10]), 1, algo("dfa"))
    macs = g.macs()
    assert macs[("fc1", "weight_grad")] == {"crossbar": 100 * 40, "core": 0.0}
    recs = g.records()
    assert _sum(recs, phase="weight_grad", component="core", action="digital_mac") == 0
    assert _sum(recs, component="crossbar", action="cell_write") == (100 * 40 + 40 * 10) * 4


def test_sparse_dfa_sends_each_tile_only_its_components(rram):
    recs = {n: build_step_graph(rram, BIG, 32, algo(n, **kw)).records() for n, kw in (("dfa", {}), ("sdfa", {"fanin": 1}))}
    noc = {n: sum(r.bytes for r in rs if r.component == "noc" and r.phase == "error") for n, rs in recs.items()}
    assert 0 < noc["sdfa"] < noc["dfa"] / 2


# ------------------------------------------------------ DES vs analytic

@pytest.mark.parametrize("name", ["bp", "dfa", "sdfa", "drtp", "fdfa"])
def test_des_matches_the_contention_free_longest_path(name):
    hw = hwcfg.load(HW_RRAM)
    # small enough that no two ops ever want the same unit at once
    g = build_step_graph(hw, mlp([100, 40, 10]), 4, algo(name), chunks=4)
    des, bound = simulate(g).makespan, longest_path(g).makespan
    assert des >= bound - 1e-9
    assert des == pytest.approx(bound, rel=0.01)


def _two_transfers(hw, second_src: int, second_dst: int) -> StepGraph:
    mesh = Mesh(hw.noc)
    pl = place(hw, mlp([8, 4]), algo("bp"))
    ops = []
    for i, (s, d) in enumerate([(0, 7), (second_src, second_dst)]):
        rt = mesh.route(s, {d: frozenset(range(256))}, lambda n: 2.0 * n)  # 512 B = 16 flits per sample
        ops.append(Op(i, "noc", "fc1", "forward", 0, s, [], [], 0.0, 0.0, rt, 4, [], [], {}))
    return StepGraph(hw, pl, mlp([8, 4]), 4, _algo({"name": "bp"}), [4], ops, [])


def test_two_transfers_over_one_link_take_longer(rram):
    # 0 -> 7 runs along the top row; 2 -> 7 shares its last 5 links; 8 -> 15 uses row 1 only
    shared = _two_transfers(rram, 2, 7)
    apart = _two_transfers(rram, 8, 15)
    assert longest_path(shared).makespan == longest_path(apart).makespan
    d_shared, d_apart = simulate(shared), simulate(apart)
    assert d_apart.makespan == pytest.approx(longest_path(apart).makespan)
    assert d_shared.makespan > d_apart.makespan
    assert d_shared.stall_cycles > 0 and d_apart.stall_cycles == 0


def test_contention_shows_as_stall_on_the_big_network(headline):
    bp = headline["bp"]
    assert bp.cycles_per_step > bp.analytic_cycles_per_step
    assert bp.stall_cycles == pytest.approx(bp.cycles_per_step - bp.analytic_cycles_per_step)
    assert bp.queued_op_cycles > 0


# ------------------------------------------------------------- epochs

def test_epoch_extrapolation_matches_a_full_simulation(rram):
    layers, batch, steps = mlp([100, 40, 10]), 4, 12
    for name in ("bp", "dfa"):
        g = build_step_graph(rram, layers, batch, algo(name))
        full = simulate(g, steps=steps).step_end[-1]
        est = cost_step(rram, layers, batch, algo(name), steps_per_epoch=steps, window_steps=4).cycles_per_epoch
        assert est == pytest.approx(full, rel=0.01)
        # a window as long as the epoch is the full simulation
        exact = cost_step(rram, layers, batch, algo(name), steps_per_epoch=3, window_steps=4).cycles_per_epoch
        assert exact == pytest.approx(simulate(g, steps=3).step_end[-1])


def test_steps_overlap_but_never_exceed_serial(rram):
    c = cost_step(rram, mlp([100, 40, 10]), 4, algo("dfa"), steps_per_epoch=10)
    assert c.cycles_per_step_steady <= c.cycles_per_step + 1e-9
    assert c.cycles_per_epoch <= 10 * c.cycles_per_step + 1e-6


# ---------------------------------------------------------- headlines

def test_cost_step_result_fields(headline, rram):
    c: HardwareCost = headline["bp"]
    assert c.records and c.cycles_per_step > 0 and c.cycles_per_epoch > c.cycles_per_step
    assert set(c.phase_cycles) == {"forward", "error", "weight_grad", "weight_update"}
    assert set(c.bytes_by_level) == {"crossbar_io", "sram", "noc_byte_hops", "dram"}
    assert all(v > 0 for v in c.bytes_by_level.values())
    assert set(c.utilisation) == {"crossbar", "adc", "core", "sram", "noc", "dram"}
    assert all(0 <= u <= 1 for u in c.utilisation.values())
    assert c.rram_writes_per_cell_per_epoch == {"mean": pytest.approx(1875.0), "max": 1875.0}
    assert c.spills == []
    assert c.placement.tiles_used == 27
    assert sum(c.critical_path_share.values()) == pytest.approx(1.0)
    assert headline["bp_seconds"] < 15  # "a few seconds" on a loaded 2-core box


def test_dfa_error_phase_is_shorter_than_bp(headline):
    bp = headline["bp"].phase_cycles["error"]
    assert headline["dfa"].phase_cycles["error"] < bp / 2
    assert headline["sdfa"].phase_cycles["error"] < bp / 2
    assert headline["dfa"].cycles_per_step < headline["bp"].cycles_per_step


def test_sparse_dfa_moves_fewer_error_bytes_than_dfa(headline):
    def err_noc(c):
        return sum(r.bytes for r in c.records if r.component == "noc" and r.phase == "error")

    assert err_noc(headline["sdfa"]) < err_noc(headline["dfa"]) < err_noc(headline["bp"])


def test_cost_step_is_deterministic(rram):
    a = cost_step(rram, mlp([100, 40, 10]), 8, algo("sdfa"), steps_per_epoch=20)
    b = cost_step(rram, mlp([100, 40, 10]), 8, algo("sdfa"), steps_per_epoch=20)
    assert a.records == b.records
    assert (a.cycles_per_step, a.cycles_per_epoch, a.phase_cycles, a.utilisation, a.stall_cycles) == (
        b.cycles_per_step, b.cycles_per_epoch, b.phase_cycles, b.utilisation, b.stall_cycles)
    assert a.placement.frame().equals(b.placement.frame())


def test_digital_chip_costs_without_crossbars(digital):
    c = cost_step(digital, mlp([100, 40, 10]), 8, algo("dfa"), steps_per_epoch=5)
    assert {r.component for r in c.records} <= {"core", "sram", "noc", "dram"}
    assert c.rram_writes_per_cell_per_epoch == {"mean": 0.0, "max": 0.0}
    assert c.bytes_by_level["crossbar_io"] == 0


def test_a_working_set_that_does_not_fit_spills_to_dram():
    hw = tiny_hw(**{"sram.size_kib": 0.25})
    c = cost_step(hw, mlp([7, 10, 6]), 32, algo("dfa"), steps_per_epoch=2)
    assert c.spills and all("spilled to DRAM" in s for s in c.spills)
    assert {s.split(":")[0] for s in c.spills} <= {"fc1", "fc2"}
    assert _sum(c.records, component="dram", action="write") > 0
    assert _sum(c.records, component="dram", action="read", phase="weight_grad") > 0


def test_fdfa_has_a_feedback_learning_phase(rram):
    c = cost_step(rram, mlp([100, 40, 20, 10]), 4, algo("fdfa"), steps_per_epoch=2)
    assert c.phase_cycles["feedback_learning"] > 0
    assert _sum(c.records, phase="feedback_learning", component="crossbar", action="read") > 0


def test_id_set_bitmasks_equal_python_sets():
    import random

    import numpy as np

    from neurosim.sim.layers import ids_mask, mask_ids, ranges_mask

    rng = random.Random(3)
    for _ in range(200):
        ranges = [(a, a + rng.randrange(0, 90)) for a in rng.sample(range(900), rng.randrange(0, 5))]
        expected = sorted({i for a, b in ranges for i in range(a, b)})
        assert mask_ids(ranges_mask(ranges)) == expected
        ids = np.array([rng.randrange(1000) for _ in range(rng.randrange(0, 60))], dtype=np.int64)
        mask = ids_mask(ids)
        assert mask_ids(mask) == sorted(set(ids.tolist())) and mask.bit_count() == len(set(ids.tolist()))
        assert mask == sum(1 << i for i in set(ids.tolist()))
