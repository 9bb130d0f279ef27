r"""Exact, analytic operation counts of one training step, per layer and phase.

These are properties of the *algorithm*, independent of any chip: the ledger
files them under component ``network``. The hardware model (``neurosim.sim``)
says where each of these MACs executes (crossbar or core) and what moving the
operands costs; its per-component MAC rows sum to these figures. The closed
forms, with a worked conv example, are in ``docs/counts.md``; the rule is asked
through its :class:`~neurosim.config.dataflow.LayerPlan` (via
:mod:`neurosim.stages`), never by name.

Notation per weight layer (``dense`` or ``conv2d``): batch ``B``, the unrolled
matrix ``R × K`` (``R = k·k·C_in/groups`` or ``n_in``, ``K = C_out`` or ``n_out``)
applied at ``P`` positions per sample (``H'·W'``, 1 for dense); ``'`` marks the
next weight layer; ``C`` classes; ``U_d`` the units a direct projection reaches
(``K·⌈H'/d⌉·⌈W'/d⌉``); ``f`` the plan's fan-in (C, s or 1); ``g'`` the next
layer's ``error_groups``.

=================  ===============================================================
phase              MACs of a weight layer for one step
=================  ===============================================================
forward            ``B P R K``
error              output layer: 0 (``e = softmax − y``); error source ``chain``:
                   ``B P' R' K' / g'`` (transposed product of the layer above);
                   ``direct``: ``B U_d f``; ``none``: 0
weight_grad        ``B P R K`` if trainable (not frozen by transfer)
weight_update      0 MACs; ``R K + K`` parameter updates (action ``update``) if trainable
feedback_learning  fdfa: tangent ``B P R K`` for every layer but the first, plus
                   ``B U C`` (moving-average update of B) for layers with a direct error
=================  ===============================================================

Neuron-level data movement (``deliver_error``, ``deliver_feedback``; bytes =
count × 4): the error values and feedback weights delivered to a layer's
output units so that each can form its error. Chain: ``B P' R' K'/g'`` values
and ``P' R' K'/g'`` weights (a row of Wᵀ or Bᵀ per unit and window it falls in,
reused over the batch);
direct: ``B U_d f`` values and ``U_d f`` weights (DRTP, where the label picks
one entry per unit and sample: ``B U_d``).

Non-weight layers (per sample ``N`` output values, pooled maps ``C·H_o·W_o``,
window ``k×k``), action names of the ``network`` component:

==============  ===================  ===========================  =================
layer           forward              error (only if crossed)      weight_grad /
                                                                  weight_update
==============  ===================  ===========================  =================
maxpool         ``compare``          ``elementwise`` ``B C H_o     —
                ``B C H_o W_o (k²−1)``  W_o`` (δ to the argmax)
avgpool         ``elementwise``      ``elementwise``               —
                ``B C H_o W_o k²``   ``B C H_o W_o k²``
batchnorm       ``elementwise``      ``elementwise`` ``3 B N``     ``elementwise``
                ``4 B N``            (Σδ, Σδ·x̂, combine)           ``2 B N``; ``update``
                (mean, variance,                                   ``2 C`` (γ, β) if
                normalise, scale)                                  trainable
flatten         —                    —                             —
==============  ===================  ===========================  =================

A pooling layer is *crossed* by the error when the weight layer below it gets
its error by the chain; a batchnorm (which the activation follows) whenever the
weight layer below it gets an error at all (a direct projection lands after it).
"""

from __future__ import annotations

from .config.network import LayerShape
from .records import Record
from .stages import WeightStage, lead_layers, stages
from .vocabulary import NETWORK

__all__ = ["VALUE_BYTES", "layer_names", "step_counts", "epoch_counts", "macs_by_phase", "chain_macs"]

#: Bytes of one value at the neuron level (float32, as trained).
VALUE_BYTES = 4


def layer_names(shapes: list[LayerShape]) -> list[str]:
    """Names of the weight layers, in order."""
    return [s.name for s in shapes if s.has_weights]


def chain_macs(upper: WeightStage, batch: int) -> int:
    """MACs of the transposed product of ``upper``'s weights that forms the error below it."""
    s = upper.shape
    return batch * s.positions * s.rows * s.cols // upper.plan.error_groups


def _pool_counts(layer: LayerShape, batch: int, crossed: bool, add) -> None:
    outputs = batch * layer.out_units
    window = layer.kernel * layer.kernel
    if layer.kind == "maxpool":
        add(layer.name, "forward", "compare", outputs * (window - 1))
        if crossed:
            add(layer.name, "error", "elementwise", outputs)
    else:
        add(layer.name, "forward", "elementwise", outputs * window)
        if crossed:
            add(layer.name, "error", "elementwise", outputs * window)


def _batchnorm_counts(layer: LayerShape, batch: int, crossed: bool, trainable: bool, add) -> None:
    values = batch * layer.out_units
    add(layer.name, "forward", "elementwise", 4 * values)
    if crossed:
        add(layer.name, "error", "elementwise", 3 * values)
        if trainable:
            add(layer.name, "weight_grad", "elementwise", 2 * values)
    if trainable:
        add(layer.name, "weight_update", "update", layer.n_params)


def step_counts(shapes: list[LayerShape], batch: int, algo) -> list[Record]:
    """Network-level records for one training step of ``algo`` on the network ``shapes``.

    Actions: ``mac``; ``update`` (one parameter written by the optimizer);
    ``deliver_error`` and ``deliver_feedback`` (neuron-level values delivered,
    with ``bytes = count * VALUE_BYTES``); ``compare`` and ``elementwise`` of
    pooling and batchnorm (see the module table).
    """
    flow = type(algo).dataflow
    out: list[Record] = []
    frozen = set(algo.transfer.layers) if getattr(algo, "transfer", None) is not None else set()

    def add(layer: str, phase: str, action: str, count: int, value_bytes: int = 0) -> None:
        out.append(Record(layer, phase, NETWORK, action, float(count), float(count * value_bytes)))

    for layer in lead_layers(shapes):
        if layer.kind in ("maxpool", "avgpool"):
            _pool_counts(layer, batch, False, add)
        elif layer.kind == "batchnorm":
            _batchnorm_counts(layer, batch, False, False, add)
    chain = stages(shapes, algo)
    for st in chain:
        s, plan = st.shape, st.plan
        macs = batch * s.positions * s.rows * s.cols
        add(s.name, "forward", "mac", macs)
        if plan.error == "chain":
            upper = chain[st.index + 1]
            values = chain_macs(upper, batch)
            add(s.name, "error", "mac", values)
            add(s.name, "error", "deliver_error", values, VALUE_BYTES)
            add(s.name, "error", "deliver_feedback", chain_macs(upper, 1), VALUE_BYTES)
        elif plan.error == "direct":
            units = st.projected_units
            add(s.name, "error", "mac", batch * units * plan.fanin)
            add(s.name, "error", "deliver_error", batch * units * plan.fanin, VALUE_BYTES)
            per_step = batch * units if flow.feedback == "column" else units * plan.fanin
            add(s.name, "error", "deliver_feedback", per_step, VALUE_BYTES)
        else:
            add(s.name, "error", "mac", 0)
        if plan.trainable:
            add(s.name, "weight_grad", "mac", macs)
            add(s.name, "weight_update", "update", s.n_params)
        if flow.learns_feedback:
            tangent = macs if st.index > 0 else 0  # t_0 = 0: no tangent through the first layer
            b_update = batch * s.out_units * st.n_classes if plan.error == "direct" else 0
            add(s.name, "feedback_learning", "mac", tangent + b_update)
        for layer in st.after:
            if layer.kind in ("maxpool", "avgpool"):
                _pool_counts(layer, batch, plan.error == "chain", add)
            elif layer.kind == "batchnorm":
                _batchnorm_counts(layer, batch, plan.error in ("chain", "direct"), layer.name not in frozen, add)
    return out


def epoch_counts(shapes: list[LayerShape], n_train: int, batch: int, algo) -> list[Record]:
    """Network-level counts of one epoch: the full steps plus the partial last one."""
    full, rem = divmod(n_train, batch)
    recs = [
        Record(r.layer, r.phase, r.component, r.action, r.count * full, r.bytes * full)
        for r in step_counts(shapes, batch, algo)
    ]
    if rem:
        recs += step_counts(shapes, rem, algo)
    return recs


def macs_by_phase(records: list[Record]) -> dict[str, float]:
    """Sum of ``mac`` counts per phase."""
    totals: dict[str, float] = {}
    for r in records:
        if r.action == "mac":
            totals[r.phase] = totals.get(r.phase, 0.0) + r.count
    return totals
