r"""The ``ssdfa`` accounting view: one training step counted as the sparse-DFA authors count it.

Crafton et al. 2019 (sparse DFA) state their MAC and data-movement figures from
the ``metrics`` methods of bcrafton/ssdfa, branch ``metrics2`` (``lib/FullyConnected.py``,
``lib/FeedbackFC.py``, ``lib/Memory.py`` (DRAM), ``lib/Compute.py`` (CMOS),
``lib/Movement.py`` (vonNeumann), summed over layers by ``lib/Model.py``). This
module restates those rules (it does not run their code) for a network's
``LayerShape`` list, with ``examples = batch`` (one step). Every figure counts
values (no bias terms); ``bytes`` are values × 4 (float32, as their TensorFlow
code stores them). Rows go to component :data:`COMPONENT` with actions named
after the authors' counters (``read_count``, ``write_count``, ``mac_count``,
``receive_count``, ``send_count``), so the architectural rows (component
``network`` and the chip's) and the query ``action == "mac"`` are untouched.

Per dense weight layer ``n_in → n_out`` (``FullyConnected.metrics``), batch ``B``:

=============  ======================  =====================================================
phase          counter                 count
=============  ======================  =====================================================
forward        read                    ``n_in n_out`` (W from DRAM)
forward        mac                     ``B n_in n_out``
forward        receive / send          ``B n_in`` / ``B n_out``
error          read                    ``n_in n_out`` (W again)         \
error          mac                     ``B n_out n_in`` (transposed)     | only where the
error          receive / send          ``B n_out`` / ``B n_in``         /  chain runs (*)
weight_grad    mac                     ``B n_in n_out``
weight_update  write                   ``n_in n_out``
=============  ======================  =====================================================

(*) The authors' non-DFA mode (``dfa=False``) does the transposed multiply on
*every* layer, the first included (its result, the input's error, is unused).
Here: on every layer when the rule's dataflow path is ``chain`` (bp, fa); for a
``hybrid`` rule on layer ``i`` when the layer below it (for ``i = 0``: layer 0
itself) gets its error by the chain. Direct rules do it nowhere.

Per hidden layer whose error is a direct projection (``FeedbackFC.metrics``,
only in DFA mode), with ``C`` classes and rate ``r``:

=============  ======================  =====================================================
error          read                    ``C n_out r`` (B from DRAM)
error          mac                     ``B C n_out r``
error          receive / send          ``B C`` / ``B n_out`` (not scaled by r)
=============  ======================  =====================================================

``r = 1 − sparse / C`` as written in ``FeedbackFC.metrics`` (``rate="code"``),
where ``sparse`` is the number of nonzeros per neuron (``FeedbackMatrix`` builds
``sparse`` nonzeros in each row of Bᵀ): 0 for dense feedback, ``s`` for sparse
DFA. That rate looks inverted for ``s ≥ 1`` (s = 1, C = 10 counts 90 % of the
dense MACs, not 10 %); ``rate="fanin"`` gives ``r = s / C`` instead (1 for dense;
DRTP's one-hot column: ``1 / C``). In ``rate="code"`` DRTP's column selection is
a dense ``FeedbackFC`` fed the one-hot target (``sparse = 0``, ``r = 1``).

Layers without weights (pooling, flatten, batchnorm) count nothing, as the
authors' ``MaxPool``, ``Dropout`` and ``ConvToFullyConnected`` (``Layer.metrics``
returns ``{}``). Conv layers: ``Convolution.metrics`` calls ``CMOS.conv``, whose
first statement is ``assert(False)``, so their code counts no network with a
conv layer; :func:`step_records` returns no rows for one either. Frozen
(transfer) layers: their metrics ignore ``train``; here a frozen layer keeps its
forward rows and drops ``weight_grad`` and ``weight_update``.
"""

from __future__ import annotations

from typing import Literal

from ..config.dataflow import LayerPlan, RuleDataflow, layer_plan
from ..config.network import LayerShape
from ..records import Record

__all__ = ["COMPONENT", "VALUE_BYTES", "ACTIONS", "Rate", "step_records", "feedback_rate"]

#: Component under which the view's rows appear in costs.csv.
COMPONENT = "ssdfa"
#: Bytes per counted value (float32).
VALUE_BYTES = 4
#: Actions of the view, named as the authors' counters (``Memory.read_count`` …): memory
#: reads/writes (values), MACs, movement received/sent (values). Distinct from neurosim's own
#: ``mac`` action, so ``action == "mac"`` still selects only the architectural MACs.
ACTIONS: tuple[str, ...] = ("read_count", "write_count", "mac_count", "receive_count", "send_count")

Rate = Literal["code", "fanin"]


def feedback_rate(flow: RuleDataflow, plan: LayerPlan, n_classes: int, rate: Rate = "code") -> float:
    """The fraction ``r`` of ``B`` a direct projection reads and multiplies (see the module table)."""
    if rate == "fanin":
        return plan.fanin / n_classes
    sparse = plan.fanin if (flow.feedback != "column" and plan.fanin < n_classes) else 0
    return 1.0 - sparse / n_classes


def _chain_through(flow: RuleDataflow, plans: list[LayerPlan], i: int) -> bool:
    """Layer ``i`` does the transposed multiply (the authors' ``backward``)."""
    if flow.path == "chain":
        return True
    return plans[i - 1 if i > 0 else 0].error == "chain"


def step_records(shapes: list[LayerShape], batch: int, algo, rate: Rate = "code") -> list[Record]:
    """The view's records for one training step of ``algo`` on ``shapes`` (see the module doc)."""
    if any(s.kind == "conv2d" for s in shapes):
        return []
    flow: RuleDataflow = type(algo).dataflow
    weights = [s for s in shapes if s.has_weights]
    plans = layer_plan(algo, shapes)
    n_classes = weights[-1].cols
    out: list[Record] = []

    def add(layer: str, phase: str, counter: str, count: float) -> None:
        moved = counter != "mac"
        out.append(Record(layer, phase, COMPONENT, f"{counter}_count", float(count), float(count * VALUE_BYTES) if moved else 0.0))

    for i, (layer, plan) in enumerate(zip(weights, plans)):
        n_in, n_out, name = layer.rows, layer.cols, layer.name
        size = n_in * n_out
        add(name, "forward", "read", size)
        add(name, "forward", "mac", batch * size)
        add(name, "forward", "receive", batch * n_in)
        add(name, "forward", "send", batch * n_out)
        if _chain_through(flow, plans, i):
            add(name, "error", "read", size)
            add(name, "error", "mac", batch * size)
            add(name, "error", "receive", batch * n_out)
            add(name, "error", "send", batch * n_in)
        if plan.error == "direct":
            r = feedback_rate(flow, plan, n_classes, rate)
            add(name, "error", "read", n_classes * n_out * r)
            add(name, "error", "mac", batch * n_classes * n_out * r)
            add(name, "error", "receive", batch * n_classes)
            add(name, "error", "send", batch * n_out)
        if plan.trainable:
            add(name, "weight_grad", "mac", batch * size)
            add(name, "weight_update", "write", size)
    return out
