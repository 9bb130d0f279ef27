"""Conv nets on the chip: mapping, the op graph's counts against the network counts
and against hand-derived figures, the event count, and the DES against the analytic bound."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from neurosim import counts
from neurosim.config import hw as hwcfg
from neurosim.config.network import NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig
from neurosim.hw import ACTIONS
from neurosim.sim import build_step_graph, cost_step, longest_path, simulate

from .conftest import HW_DIGITAL, HW_RRAM
from .test_counts_conv import SHAPES

_algo = TypeAdapter(AlgorithmConfig).validate_python
TRANSFER = {"layers": ["conv1", "conv2"], "bp_epochs": 1}
RULES = {
    "bp": {},
    "fa": {},
    "dfa": {},
    "sign_dfa": {},
    "sdfa": {"fanin": 3},
    "drtp": {},
    "fdfa": {},
    "hybrid": {"name": "hybrid_dfa", "direct_to": ["conv2"], "error_groups": 4, "feedback_dilation": 2},
    "hybrid_sparse": {"name": "hybrid_dfa", "direct_to": ["conv1", "fc1"], "fanin": 2},
    "transfer_sdfa": {"name": "sdfa", "fanin": 1, "transfer": TRANSFER},
    "transfer_conv2_bp": {"name": "bp", "transfer": {"layers": ["conv2"], "bp_epochs": 1}},
}


def algo(case: str):
    return _algo({"name": case, **RULES[case]})


@pytest.fixture(scope="module")
def chips():
    rram = hwcfg.load(HW_RRAM)
    fb = rram.model_copy(update={"chip": rram.chip.model_copy(update={"feedback_storage": "crossbar"})})
    return {"rram": rram, "rram_fb_crossbar": fb, "digital": hwcfg.load(HW_DIGITAL)}


def _sum(records, **match) -> float:
    return sum(r.count for r in records if all(getattr(r, k) == v for k, v in match.items()))


@pytest.mark.parametrize("chip", ["rram", "rram_fb_crossbar", "digital"])
@pytest.mark.parametrize("case", sorted(RULES))
def test_graph_macs_add_up_to_the_network_counts(chip, case, chips):
    hw, a = chips[chip], algo(case)
    g = build_step_graph(hw, SHAPES, 32, a)
    got = g.macs()
    want = {(r.layer, r.phase): r.count for r in counts.step_counts(SHAPES, 32, a) if r.action == "mac"}
    for key, n in want.items():
        m = got.get(key, {"crossbar": 0.0, "core": 0.0})
        assert m["crossbar"] + m["core"] == pytest.approx(n, abs=1e-6), (key, m, n)
    for key, m in got.items():  # and nothing the network does not count
        assert key in want or m["crossbar"] + m["core"] == 0, key
    for r in g.records():
        assert (r.component, r.action) in ACTIONS and r.action in hw.energy[r.component]
    assert len(g.ops) < 3000  # chunks of samples and positions, never an op per output position


def test_frozen_layers_neither_learn_nor_carry_errors_on_the_chip(chips):
    g = build_step_graph(chips["rram"], SHAPES, 32, algo("transfer_sdfa"))
    recs = g.records()
    for layer in ("conv1", "conv2"):
        assert _sum(recs, layer=layer, phase="weight_grad") == 0
        assert _sum(recs, layer=layer, phase="weight_update") == 0
        assert _sum(recs, layer=layer, phase="error") == 0
    assert _sum(recs, layer="fc1", phase="weight_update", component="crossbar", action="cell_write") == 512 * 128 * 4


def test_conv1_by_hand_on_rram_tile(chips):
    # rram_tile: 8-bit inputs on 1-bit DACs (8 slices), 4 cells per weight, 1-byte inputs, 2-byte values.
    # conv1 (25 rows x 16 weights = 64 columns) is one block on tile 0 (the DRAM port's tile);
    # conv2 sits on tile 1, one hop away.
    g = build_step_graph(chips["rram"], SHAPES, 32, algo("bp"))
    recs = g.records()
    vectors = 32 * 576  # one MVM per output position and sample
    fwd = dict(layer="conv1", phase="forward")
    assert _sum(recs, component="crossbar", action="read", **fwd) == vectors * 8
    assert _sum(recs, component="dac", action="convert", **fwd) == vectors * 8 * 25
    assert _sum(recs, component="adc", action="convert", **fwd) == vectors * 8 * 64
    # input reuse: the 28x28 image is written once per sample, a 5x5 window read per position
    inbuf = [r for op in g.ops if op.name == "inbuf" and op.layer == "conv1" and op.phase == "forward" for r in op.records]
    assert _sum(inbuf, action="write") == 32 * 784
    assert _sum(inbuf, action="read") == 32 * 576 * 25
    # home: relu + derivative on 16x24x24 values, 3 compares per pooled value (16x12x12)
    act = [r for op in g.ops if op.name == "fwd_act" and op.layer == "conv1" for r in op.records]
    assert _sum(act, component="core", action="elementwise") == 32 * (2 * 9216 + 3 * 2304)
    # the pooled maps (16 x 144 one-byte inputs per sample) move one hop to conv2's tile
    assert sum(r.bytes for r in recs if r.component == "noc" and r.layer == "conv1" and r.phase == "forward") == 32 * 2304
    # BP's error of conv1 is a transposed read of conv2's 4 row blocks (128,128,128,16 rows x 32 weights),
    # once per conv2 output position (64) and sample, 8 slices x 4 cell significances
    assert _sum(recs, layer="conv1", phase="error", component="crossbar", action="transposed_read") == 4 * 32 * 64 * 8 * 4
    assert _sum(recs, layer="conv1", phase="error", component="adc", action="convert") == 400 * 32 * 64 * 8 * 4


def test_grouped_error_reads_only_the_diagonal(chips):
    # hybrid with error_groups 4: conv2's 400 x 32 matrix read transposed in 4 groups of 100 rows x 8 weights
    g = build_step_graph(chips["rram"], SHAPES, 32, algo("hybrid"))
    recs = g.records()
    assert _sum(recs, layer="conv1", phase="error", component="adc", action="convert") == 4 * 100 * 32 * 64 * 8 * 4
    assert g.macs()[("conv1", "error")]["crossbar"] == 32 * 64 * 400 * 32 / 4


@pytest.mark.parametrize("chip", ["rram", "digital"])
def test_the_reference_conv_net_maps_and_costs(chip, chips):
    c = cost_step(chips[chip], SHAPES, 32, algo("bp"), steps_per_epoch=250)
    assert c.placement.tiles_used == 4  # one tile per weight layer on the 8x8 mesh
    assert c.cycles_per_step >= c.analytic_cycles_per_step > 0
    assert set(c.phase_cycles) == {"forward", "error", "weight_grad", "weight_update"}
    assert c.ops_per_step < 1000


def test_records_do_not_depend_on_the_chunking(chips):
    def key(recs):
        return {(r.layer, r.phase, r.component, r.action): (r.count, r.bytes) for r in recs}

    for case in ("bp", "dfa", "hybrid"):
        base = key(build_step_graph(chips["rram"], SHAPES, 8, algo(case), chunks=1).records())
        other = key(build_step_graph(chips["rram"], SHAPES, 8, algo(case), chunks=8).records())
        assert other.keys() == base.keys()
        for k, v in base.items():
            assert other[k] == pytest.approx(v), (case, k)


SMALL = infer_shapes(
    NetworkConfig(layers=[
        {"kind": "conv2d", "channels": 4, "kernel": 3},
        {"kind": "maxpool"},
        {"kind": "conv2d", "channels": 8, "kernel": 3},
        {"kind": "flatten"},
        {"kind": "dense", "units": 10},
    ]),
    (1, 12, 12),
)


@pytest.mark.parametrize("name,kw", [("bp", {}), ("dfa", {}), ("sdfa", {"fanin": 2}), ("drtp", {}), ("fdfa", {}),
                                     ("hybrid_dfa", {"direct_to": ["conv1"]})])
def test_des_matches_the_contention_free_longest_path_on_a_conv_net(name, kw, chips):
    # small enough that no two ops ever want the same unit at once
    g = build_step_graph(chips["rram"], SMALL, 4, _algo({"name": name, **kw}), chunks=4)
    des, bound = simulate(g).makespan, longest_path(g).makespan
    assert des >= bound - 1e-9
    assert des == pytest.approx(bound, rel=0.01)


def test_batchnorm_waits_for_the_whole_batch(chips):
    shapes = infer_shapes(
        NetworkConfig(layers=[{"kind": "conv2d", "channels": 4, "kernel": 3}, {"kind": "batchnorm"}, {"kind": "dense", "units": 10}]),
        (1, 8, 8),
    )
    g = build_step_graph(chips["rram"], shapes, 4, _algo({"name": "bp"}), chunks=4)
    bn = [op for op in g.ops if op.name == "bn"]
    reductions = {op.id for op in g.ops if op.name == "fwd_act" and op.layer == "conv1"}
    assert len(bn) == 4 and all(reductions <= {d for d, _ in op.deps} for op in bn)
    recs = g.records()
    # 4 batchnorm ops per value plus the activation and derivative after it: 6 x 4 x 144
    assert _sum(recs, layer="bn1", phase="forward", component="core", action="elementwise") == 6 * 4 * 144


def test_dfa_projection_onto_feature_maps_by_hand(chips):
    # rram_tile keeps DFA's B in SRAM: conv1's home (tile 0) projects e onto its 16 x 24 x 24 = 9,216
    # units on its core, 10 MACs per unit and sample, reading B's 9,216 x 10 two-byte entries once per step
    g = build_step_graph(chips["rram"], SHAPES, 32, algo("dfa"))
    proj = [op for op in g.ops if op.name == "fb_proj" and op.layer == "conv1"]
    assert sum(m for op in proj for _, _, m in op.macs) == 32 * 9216 * 10
    first = [r for r in proj[0].records if r.component == "sram" and r.action == "read"]
    later = [r for r in proj[1].records if r.component == "sram" and r.action == "read"]
    chunk = 4  # 32 samples in 8 chunks
    # B once, then per sample: f'(a) of every unit and the 10 two-byte components of e it receives
    assert sum(r.count for r in first) == 9216 * 10 * 2 + chunk * 9216 * 2 + chunk * 10 * 2
    assert sum(r.count for r in later) == chunk * 9216 * 2 + chunk * 10 * 2


def test_conv1_on_the_digital_chip_by_hand(chips):
    # sram_digital: conv1's 25 x 16 weights are read from SRAM once per step and phase (1-byte weights),
    # the 32 x 576 windows multiply them on tile 0's core
    g = build_step_graph(chips["digital"], SHAPES, 32, algo("bp"))
    mvm = [op for op in g.ops if op.name == "mvm" and op.layer == "conv1"]
    assert sum(m for op in mvm for _, where, m in op.macs if where == "core") == 32 * 576 * 25 * 16
    reads = [sum(r.count for r in op.records if r.component == "sram" and r.action == "read") for op in mvm]
    assert reads[0] == 25 * 16 and all(r == 0 for r in reads[1:])
