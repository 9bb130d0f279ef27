"""The ``ssdfa`` view against the authors' rules worked out by hand (bcrafton/ssdfa, metrics2).

Per sample (B = 1) for 784-400-10 (the authors' mnist_fc.py net), C = 10:
  forward MACs       784*400 + 400*10                     = 317_600
  BP error MACs      the transposed multiply on both layers = 317_600
  DFA error MACs     FeedbackFC on fc1: 10*400*1           =   4_000
  sDFA (s=1) MACs    r = 1 - 1/10 as written: 10*400*0.9   =   3_600
                     r = s/C:                 10*400*0.1   =     400
  weight_grad MACs   = forward                             = 317_600
  backward = error + weight_grad: BP 635_200, DFA 321_600, sDFA 321_200 (code) / 318_000 (s/C)
784-800-800-10:
  forward  784*800 + 800*800 + 800*10 = 1_275_200;  BP error = 1_275_200
  DFA error 2*10*800 = 16_000;  sDFA 2*10*800*0.9 = 14_400 (code) / 2*800 = 1_600 (s/C)
  backward: BP 2_550_400, DFA 1_291_200, sDFA 1_289_600 (code) / 1_276_800 (s/C)
"""

from __future__ import annotations

import inspect
from fractions import Fraction
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from neurosim.accounting import VIEW_COMPONENTS, mlp_shapes, ssdfa
from neurosim.config.hw import load as load_hw
from neurosim.config.network import NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig
from neurosim.pipeline import step_ledger
from neurosim.sim import cost_step

from .conftest import HW_RRAM

_algo = TypeAdapter(AlgorithmConfig).validate_python
BP, DFA, SDFA = _algo({"name": "bp"}), _algo({"name": "dfa"}), _algo({"name": "sdfa", "fanin": 1})


def _sum(recs, **where):
    """Sum of counts; ``action`` names the authors' counter (``mac`` for ``mac_count``)."""
    if "action" in where:
        where["action"] += "_count"
    return sum(r.count for r in recs if all(getattr(r, k) == v for k, v in where.items()))


def _backward(widths, algo, batch=1, rate="code"):
    recs = ssdfa.step_records(mlp_shapes(widths), batch, algo, rate=rate)
    return _sum(recs, phase="error", action="mac") + _sum(recs, phase="weight_grad", action="mac")


@pytest.mark.parametrize(
    "widths,bp,dfa,sdfa_code,sdfa_fanin",
    [
        ([784, 400, 10], 635_200, 321_600, 321_200, 318_000),
        ([784, 800, 800, 10], 2_550_400, 1_291_200, 1_289_600, 1_276_800),
    ],
)
def test_backward_mac_ratio_as_the_authors_formulas_give_it(widths, bp, dfa, sdfa_code, sdfa_fanin):
    assert _backward(widths, BP) == bp
    assert _backward(widths, DFA) == dfa
    assert _backward(widths, SDFA) == pytest.approx(sdfa_code, rel=1e-12)
    assert _backward(widths, SDFA, rate="fanin") == pytest.approx(sdfa_fanin, rel=1e-12)
    # the ratios themselves, exactly: 784-400-10: 635200/321600 = 3970/2010 ≈ 1.975
    assert Fraction(_backward(widths, BP)) / Fraction(_backward(widths, DFA)) == Fraction(bp, dfa)
    # batch scales every MAC, so the ratio is the same at batch 32
    assert _backward(widths, BP, batch=32) / _backward(widths, DFA, batch=32) == pytest.approx(bp / dfa, rel=1e-12)


def test_every_row_of_one_layer_784_400_10():
    """Memory and movement of each layer, batch 32 (FullyConnected / FeedbackFC metrics)."""
    b = 32
    bp = ssdfa.step_records(mlp_shapes([784, 400, 10]), b, BP)
    assert _sum(bp, layer="fc1", phase="forward", action="read") == 784 * 400
    assert _sum(bp, layer="fc1", phase="forward", action="receive") == b * 784
    assert _sum(bp, layer="fc1", phase="forward", action="send") == b * 400
    assert _sum(bp, layer="fc1", phase="error", action="read") == 784 * 400  # W read again, first layer included
    assert _sum(bp, layer="fc1", phase="error", action="receive") == b * 400
    assert _sum(bp, layer="fc1", phase="error", action="send") == b * 784
    assert _sum(bp, layer="fc2", phase="error", action="mac") == b * 400 * 10
    assert _sum(bp, layer="fc2", phase="weight_update", action="write") == 400 * 10
    # movement per sample: 2*(784 + 400 + 400 + 10) = 3188; memory: 3 * 317_600 values
    assert _sum(bp, action="receive") + _sum(bp, action="send") == b * 3188
    assert _sum(bp, action="read") + _sum(bp, action="write") == 3 * 317_600
    dfa = ssdfa.step_records(mlp_shapes([784, 400, 10]), b, DFA)
    assert _sum(dfa, layer="fc2", phase="error") == 0  # no backward on any layer in DFA mode
    assert _sum(dfa, layer="fc1", phase="error", action="read") == 10 * 400
    assert _sum(dfa, layer="fc1", phase="error", action="receive") == b * 10
    assert _sum(dfa, layer="fc1", phase="error", action="send") == b * 400
    # movement per sample: forward 1594 + feedback 10 + 400 = 2004 (sparse DFA: the same, receive is not rate-scaled)
    assert _sum(dfa, action="receive") + _sum(dfa, action="send") == b * 2004
    sd = ssdfa.step_records(mlp_shapes([784, 400, 10]), b, SDFA)
    assert _sum(sd, action="receive") + _sum(sd, action="send") == b * 2004
    assert _sum(sd, layer="fc1", phase="error", action="read") == pytest.approx(10 * 400 * 0.9)
    assert all(r.bytes == (0 if r.action == "mac_count" else 4 * r.count) for r in sd)


def test_rules_asked_through_their_dataflow():
    fa = ssdfa.step_records(mlp_shapes([784, 400, 10]), 1, _algo({"name": "fa"}))
    assert _sum(fa, phase="error", action="mac") == 317_600  # a chain rule: as BP
    drtp = ssdfa.step_records(mlp_shapes([784, 400, 10]), 1, _algo({"name": "drtp"}))
    assert _sum(drtp, phase="error", action="mac") == 4_000  # a dense FeedbackFC fed the one-hot target
    assert _sum(ssdfa.step_records(mlp_shapes([784, 400, 10]), 1, _algo({"name": "drtp"}), rate="fanin"),
                phase="error", action="mac") == 400
    # hybrid: fc2 ends a module (direct), fc1 inside the module below it gets the chain from fc2
    hyb = _algo({"name": "hybrid_dfa", "direct_to": ["fc2"]})
    recs = ssdfa.step_records(mlp_shapes([784, 100, 50, 10]), 1, hyb)
    assert _sum(recs, layer="fc1", phase="error", action="mac") == 784 * 100  # chain module: first layer too
    assert _sum(recs, layer="fc2", phase="error", action="mac") == 100 * 50 + 10 * 50  # transposed + feedback
    assert _sum(recs, layer="fc3", phase="error", action="mac") == 0


def test_conv_networks_are_not_counted_as_the_authors_code_stops():
    net = NetworkConfig(layers=[{"kind": "conv2d", "channels": 4, "kernel": 3}, {"kind": "dense", "units": 10}])
    assert ssdfa.step_records(infer_shapes(net, (1, 8, 8)), 4, BP) == []


def test_ledger_carries_the_view_beside_todays_rows():
    hw = load_hw(HW_RRAM)
    layers = [784, 400, 10]
    # the chip and the ledger take the network's shapes since the issue-8 redesign (widths before it)
    network = mlp_shapes(layers) if list(inspect.signature(step_ledger).parameters)[1] == "shapes" else layers
    cost = cost_step(hw, network, 32, DFA, steps_per_epoch=10)
    df = step_ledger(hw, network, 32, DFA, cost)
    view = df[df["component"].isin(VIEW_COMPONENTS)]
    assert view["count"].sum() == pytest.approx(sum(r.count for r in ssdfa.step_records(mlp_shapes(layers), 32, DFA)))
    assert (view["energy_pj"] == 0).all()
    assert set(view["action"]) <= set(ssdfa.ACTIONS)


def test_validation_counts_section_is_current():
    """docs/validation.md holds what bench/validation_counts.py generates today (regenerate it if this fails)."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("validation_counts", root / "bench" / "validation_counts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "\n".join(module.section()) in (root / "docs" / "validation.md").read_text()
