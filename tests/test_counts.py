"""Analytic counts against figures worked out by hand for 784-800-800-10, batch 32."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from neurosim import counts
from neurosim.config.network import NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig

LAYERS = infer_shapes(NetworkConfig(layers=[784, 800, 800, 10]), (784,))
B = 32
_algo = TypeAdapter(AlgorithmConfig).validate_python

# Worked out by hand (not with the code under test):
#   forward      32 * (784*800 + 800*800 + 800*10)      = 40_806_400
#   bp error     32 * (800*800 + 800*10)                = 20_736_000
#   dfa error    32 * (800*10 + 800*10)                 =    512_000
#   sdfa (s=1)   32 * (800 + 800)                       =     51_200
#   sdfa (s=3)   32 * 3 * (800 + 800)                   =    153_600
#   drtp         32 * (800 + 800)                       =     51_200
#   fdfa feedback learning: tangent through W_2, W_3 (t_0 = 0 skips W_1) plus
#   the two B_l updates: 32*(800*800 + 800*10) + 32*(800*10 + 800*10) = 21_248_000
FORWARD = 40_806_400
EXPECTED_ERROR = {
    ("bp", None): 20_736_000,
    ("fa", None): 20_736_000,
    ("dfa", None): 512_000,
    ("sign_dfa", None): 512_000,
    ("fdfa", None): 512_000,
    ("sdfa", 1): 51_200,
    ("sdfa", 3): 153_600,
    ("drtp", None): 51_200,
}


def _cfg(name, fanin):
    return _algo({"name": name, "fanin": fanin} if fanin else {"name": name})


@pytest.mark.parametrize("name,fanin", sorted(EXPECTED_ERROR, key=str))
def test_macs_per_phase_match_closed_form(name, fanin):
    m = counts.macs_by_phase(counts.step_counts(LAYERS, B, _cfg(name, fanin)))
    assert m["forward"] == FORWARD
    assert m["weight_grad"] == FORWARD
    assert m["error"] == EXPECTED_ERROR[(name, fanin)]
    assert m.get("feedback_learning", 0) == (21_248_000 if name == "fdfa" else 0)


def test_sparse_dfa_headline_ratios():
    bp = counts.macs_by_phase(counts.step_counts(LAYERS, B, _cfg("bp", None)))
    sd = counts.macs_by_phase(counts.step_counts(LAYERS, B, _cfg("sdfa", 1)))
    # Total MACs: BP 3*forward-ish vs sparse DFA ~2*forward: about 1.5x fewer here.
    assert sum(bp.values()) == 102_348_800
    assert sum(sd.values()) == 81_664_000


def test_neuron_level_delivery():
    def deliver(name, fanin):
        recs = counts.step_counts(LAYERS, B, _cfg(name, fanin))
        return {a: sum(r.count for r in recs if r.action == a) for a in ("deliver_error", "deliver_feedback")}

    assert deliver("bp", None) == {"deliver_error": 20_736_000, "deliver_feedback": 648_000}
    assert deliver("dfa", None) == {"deliver_error": 512_000, "deliver_feedback": 16_000}
    assert deliver("sdfa", 1) == {"deliver_error": 51_200, "deliver_feedback": 1_600}
    # orders of magnitude: BP delivers 400x the values sparse DFA does
    assert (20_736_000 + 648_000) / (51_200 + 1_600) == pytest.approx(405.0)


def test_weight_update_counts_parameters():
    recs = counts.step_counts(LAYERS, B, _cfg("bp", None))
    upd = sum(r.count for r in recs if r.action == "update")
    assert upd == 784 * 800 + 800 + 800 * 800 + 800 + 800 * 10 + 10


def test_epoch_counts_include_the_partial_batch():
    # 8000 images, batch 30: 266 full steps and one of 20
    recs = counts.epoch_counts(LAYERS, 8000, 30, _cfg("dfa", None))
    fwd = sum(r.count for r in recs if r.phase == "forward" and r.action == "mac")
    assert fwd == 8000 * 1_275_200
    upd = sum(r.count for r in recs if r.action == "update")
    assert upd == 267 * (1_275_200 + 800 + 800 + 10)
