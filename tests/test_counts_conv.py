"""Conv, pooling and batchnorm counts against figures worked out by hand, for every rule.

The reference conv net (issue 8): MNIST 1x28x28 -> conv5x5-16 -> maxpool2 ->
conv5x5-32 -> maxpool2 -> flatten -> dense 128 -> dense 10, batch 32.

Worked out by hand (per sample, then x 32):

=======  ===================  ======  ========  ===================  =============
layer    output               P       R x K     forward MACs/sample  units (d = 2)
=======  ===================  ======  ========  ===================  =============
conv1    16 x 24 x 24         576     25 x 16   230,400              9,216 (2,304)
pool1    16 x 12 x 12 = 2,304
conv2    32 x 8 x 8           64      400 x 32  819,200              2,048 (512)
pool2    32 x 4 x 4 = 512
fc1      128                  1       512 x 128 65,536               128
fc2      10                   1       128 x 10  1,280
=======  ===================  ======  ========  ===================  =============

forward = 32 x 1,116,416 = 35,725,312.
"""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from neurosim import counts
from neurosim.config.network import NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig

BATCH = 32
NET = NetworkConfig(
    layers=[
        {"kind": "conv2d", "channels": 16, "kernel": 5},
        {"kind": "maxpool", "kernel": 2},
        {"kind": "conv2d", "channels": 32, "kernel": 5},
        {"kind": "maxpool", "kernel": 2},
        {"kind": "flatten"},
        {"kind": "dense", "units": 128},
        {"kind": "dense", "units": 10},
    ],
    activation="relu",
)
SHAPES = infer_shapes(NET, (1, 28, 28))
_algo = TypeAdapter(AlgorithmConfig).validate_python

FWD = {"conv1": 7_372_800, "conv2": 26_214_400, "fc1": 2_097_152, "fc2": 40_960}
# chain error of a layer = forward MACs of the weight layer above it
CHAIN = {"conv1": 26_214_400, "conv2": 2_097_152, "fc1": 40_960, "fc2": 0}
# direct projections: 32 x units x fan-in
DFA = {"conv1": 2_949_120, "conv2": 655_360, "fc1": 40_960, "fc2": 0}
SDFA1 = {"conv1": 294_912, "conv2": 65_536, "fc1": 4_096, "fc2": 0}
SDFA3 = {"conv1": 884_736, "conv2": 196_608, "fc1": 12_288, "fc2": 0}
PARAMS = {"conv1": 25 * 16 + 16, "conv2": 400 * 32 + 32, "fc1": 512 * 128 + 128, "fc2": 128 * 10 + 10}


def _cfg(name, **kw):
    return _algo({"name": name, **kw})


def _per_layer(recs, phase, action="mac"):
    out = {}
    for r in recs:
        if r.phase == phase and r.action == action:
            out[r.layer] = out.get(r.layer, 0) + r.count
    return out


CASES = {
    "bp": (_cfg("bp"), CHAIN),
    "fa": (_cfg("fa"), CHAIN),
    "dfa": (_cfg("dfa"), DFA),
    "sign_dfa": (_cfg("sign_dfa"), DFA),
    "fdfa": (_cfg("fdfa"), DFA),
    "sdfa1": (_cfg("sdfa", fanin=1), SDFA1),
    "sdfa3": (_cfg("sdfa", fanin=3), SDFA3),
    "drtp": (_cfg("drtp"), SDFA1),
    # conv2 ends the lower module (direct, dilation 2: 32 x 4 x 4 = 512 units x 10 classes x 32);
    # conv1 gets its error by BP through conv2 in 4 groups (26,214,400 / 4); fc1 by BP from fc2
    "hybrid": (_cfg("hybrid_dfa", direct_to=["conv2"], error_groups=4, feedback_dilation=2),
               {"conv1": 6_553_600, "conv2": 163_840, "fc1": 40_960, "fc2": 0}),
    # pure-DFA split: every hidden layer ends a module
    "hybrid_all": (_cfg("hybrid_dfa", direct_to=["conv1", "conv2", "fc1"]), DFA),
    # no module boundary: BP
    "hybrid_none": (_cfg("hybrid_dfa", direct_to=[]), CHAIN),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_error_and_gradient_macs_per_layer(case):
    algo, error = CASES[case]
    recs = counts.step_counts(SHAPES, BATCH, algo)
    assert _per_layer(recs, "forward") == FWD
    assert _per_layer(recs, "error") == error
    assert _per_layer(recs, "weight_grad") == FWD
    assert _per_layer(recs, "weight_update", "update") == PARAMS


def test_fdfa_tangent_through_conv_layers():
    recs = counts.step_counts(SHAPES, BATCH, _cfg("fdfa"))
    # tangent through every weight layer but the first, plus 32 x units x 10 for each B update
    assert _per_layer(recs, "feedback_learning") == {
        "conv1": 2_949_120,
        "conv2": 26_214_400 + 655_360,
        "fc1": 2_097_152 + 40_960,
        "fc2": 40_960,
    }


def test_neuron_level_delivery_on_feature_maps():
    def deliver(algo):
        recs = counts.step_counts(SHAPES, BATCH, algo)
        return _per_layer(recs, "error", "deliver_error"), _per_layer(recs, "error", "deliver_feedback")

    err, fb = deliver(_cfg("bp"))
    assert err == {"conv1": 26_214_400, "conv2": 2_097_152, "fc1": 40_960}
    assert fb == {"conv1": 819_200, "conv2": 65_536, "fc1": 1_280}  # W of the layer above, once per step
    err, fb = deliver(_cfg("sdfa", fanin=1))
    assert err == {"conv1": 294_912, "conv2": 65_536, "fc1": 4_096}  # each unit listens to s = 1 error
    assert fb == {"conv1": 9_216, "conv2": 2_048, "fc1": 128}
    err, fb = deliver(_cfg("drtp"))
    assert fb == {"conv1": 294_912, "conv2": 65_536, "fc1": 4_096}  # the label picks one entry per unit and sample


@pytest.mark.parametrize("name", ["bp", "dfa"])
def test_pooling_work(name):
    recs = counts.step_counts(SHAPES, BATCH, _cfg(name))
    # max pooling 2x2: 3 compares per pooled value; pool1 16x12x12 = 2,304, pool2 32x4x4 = 512 per sample
    assert _per_layer(recs, "forward", "compare") == {"pool1": 221_184, "pool2": 49_152}
    # BP's error crosses the pools: one value routed to its argmax per pooled value; DFA's does not
    want = {"pool1": 73_728, "pool2": 16_384} if name == "bp" else {}
    assert _per_layer(recs, "error", "elementwise") == want


def test_transfer_counts_only_what_the_step_computes():
    frozen = {"layers": ["conv1", "conv2"], "bp_epochs": 1}
    recs = counts.step_counts(SHAPES, BATCH, _cfg("bp", transfer=frozen))
    assert _per_layer(recs, "forward") == FWD  # frozen layers still run forward
    assert _per_layer(recs, "error") == {"conv1": 0, "conv2": 0, "fc1": 40_960, "fc2": 0}
    assert _per_layer(recs, "weight_grad") == {"fc1": 2_097_152, "fc2": 40_960}
    assert _per_layer(recs, "weight_update", "update") == {"fc1": 65_664, "fc2": 1_290}
    assert _per_layer(recs, "error", "elementwise") == {}  # no error crosses the pools
    recs = counts.step_counts(SHAPES, BATCH, _cfg("sdfa", fanin=1, transfer=frozen))
    assert _per_layer(recs, "error") == {"conv1": 0, "conv2": 0, "fc1": 4_096, "fc2": 0}
    # freezing only conv2: its error is still needed to carry BP's chain down to conv1
    recs = counts.step_counts(SHAPES, BATCH, _cfg("bp", transfer={"layers": ["conv2"], "bp_epochs": 1}))
    assert _per_layer(recs, "error") == CHAIN
    assert "conv2" not in _per_layer(recs, "weight_grad")


def test_avgpool_and_batchnorm():
    net = NetworkConfig(layers=[
        {"kind": "conv2d", "channels": 4, "kernel": 3, "padding": 1},  # 4 x 6 x 6, P = 36, R = 9
        {"kind": "batchnorm"},
        {"kind": "avgpool", "kernel": 3},  # 4 x 2 x 2
        {"kind": "dense", "units": 3},  # 16 -> 3
    ])
    shapes = infer_shapes(net, (1, 6, 6))
    batch = 2
    for name in ("bp", "dfa", "drtp"):
        recs = counts.step_counts(shapes, batch, _cfg(name))
        assert _per_layer(recs, "forward") == {"conv1": 2 * 36 * 9 * 4, "fc1": 2 * 16 * 3}
        # batchnorm: 4 ops per value forward (2 x 144 values), 3 in the error, 2 for its gradient; 2 params per channel
        assert _per_layer(recs, "forward", "elementwise") == {"bn1": 4 * 288, "pool1": 2 * 16 * 9}
        pool_err = {"pool1": 2 * 16 * 9} if name == "bp" else {}
        assert _per_layer(recs, "error", "elementwise") == {"bn1": 3 * 288, **pool_err}
        assert _per_layer(recs, "weight_grad", "elementwise") == {"bn1": 2 * 288}
        assert _per_layer(recs, "weight_update", "update") == {"conv1": 40, "bn1": 8, "fc1": 51}
        err = {"bp": 2 * 16 * 3, "dfa": 2 * 144 * 3, "drtp": 2 * 144}[name]
        assert _per_layer(recs, "error") == {"conv1": err, "fc1": 0}
