r"""What a learning rule means to the hardware: one declarative description per rule.

Every algorithm config class carries a :class:`RuleDataflow` (class attribute
``dataflow``); :func:`layer_plan` combines it with the network's shapes and the
rule's options into a per-weight-layer plan. The counter, the mapper, the
op-graph builder and the trainer ask these instead of testing rule names, so a
new rule is its config class (with its description) plus its numerics.

==============  =======  ======  ==============  =========  ===============  ========
rule            path     chain   signal          feedback   feedback in      learns
                         reads                              arrays allowed   feedback
==============  =======  ======  ==============  =========  ===============  ========
``bp``          chain    W       —               none       —                no
``fa``          chain    B       —               dense      yes              no
``dfa``         direct   —       error           dense      yes              no
``sdfa``        direct   —       error           sparse     no (SRAM)        no
``sign_dfa``    direct   —       sign_error      dense      yes              no
``drtp``        direct   —       label           column     no (SRAM)        no
``fdfa``        direct   —       error_tangent   dense      yes              yes
``fwd_grad``    direct   —       directional_    none       —                no
                                 derivative
``hybrid_dfa``  hybrid   W       error           dense or   yes (dense)      no
                                                 sparse
==============  =======  ======  ==============  =========  ===============  ========

- **chain**: ``δ_l = (δ_{l+1} M_{l+1}) ⊙ f'(a_l)`` layer by layer from the output down,
  ``M = W`` (BP: a transposed read of the forward weights) or a fixed random ``B`` of
  W's shape (FA), through any pooling / flatten / batchnorm in between.
- **direct**: every hidden weight layer's output receives ``signal · B_lᵀ`` at once:
  ``B_l`` maps the ``C`` classes to the layer's output units (``dense``: ``C`` values per
  unit; ``sparse``: ``s`` per unit; ``column``: the label selects one column, 1 per unit).
  Signals: ``error`` e = softmax − onehot (C values); ``sign_error`` sign(e) (2 bits per
  value); ``label`` the class index; ``error_tangent`` e and the output's directional
  derivative d (2·C values; FDFA learns B from d with a forward-mode tangent pass);
  ``directional_derivative`` the loss's directional derivative ``e·d`` (one value per
  sample) along random tangents ``u_l`` injected at every hidden output: layer ``l`` gets
  ``u_l (e·d)`` (the activity-perturbed forward gradient), no feedback matrix.
  The chip model (counter, mapper, op graph) does not cover it (``mapped: False``): the
  preflight refuses it, it trains through :func:`neurosim.learning.train` only.
- **hybrid** (Han et al. 2020, modular DFA): the weight layers named in ``direct_to``
  end a module each and receive the direct projection of e; every other trainable
  weight layer gets its error by the BP chain (transposed W) from the layer above, so
  a module is trained by BP inside and by DFA across. The output layer ends the top
  module (its error is e). ``direct_to: []`` is BP; every hidden weight layer is DFA.
  ``error_groups`` g > 1 runs the chain through conv layers as a grouped transposed
  convolution (errors stay within g channel groups); ``feedback_dilation`` d > 1
  projects onto conv outputs only at positions (i, j) with i ≡ j ≡ 0 (mod d).
- **transfer** (any rule): the layers in ``transfer.layers`` are loaded and frozen; they
  run forward only. A frozen layer needs an error only when the chain must pass through
  it to reach a trainable layer below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["RuleDataflow", "LayerPlan", "layer_plan"]

Path = Literal["chain", "direct", "hybrid"]
Signal = Literal["error", "sign_error", "label", "error_tangent", "directional_derivative"]
Feedback = Literal["none", "dense", "sparse", "column"]
ErrorSource = Literal["output", "chain", "direct", "none"]


@dataclass(frozen=True)
class RuleDataflow:
    """How a rule forms the hidden layers' errors (see the module table)."""

    path: Path
    #: What the chain multiplies by (chain and hybrid): the forward ``W`` or a fixed random ``B``.
    chain_matrix: Literal["W", "B"] = "W"
    #: What a direct projection reads (direct and hybrid).
    signal: Signal = "error"
    #: Shape of the direct feedback ``B_l`` (``none`` for BP).
    feedback: Feedback = "none"
    #: The chip may hold this rule's feedback matrices in crossbars (``chip.feedback_storage: crossbar``).
    feedback_in_arrays_allowed: bool = False
    #: A forward-mode tangent pass learns the feedback (phase ``feedback_learning``).
    learns_feedback: bool = False
    #: The counter, mapper and op graph model this rule on the chip (else the preflight refuses it).
    mapped: bool = True


@dataclass(frozen=True)
class LayerPlan:
    """What one weight layer does in one training step of a rule."""

    name: str
    #: Its weights are trained (not frozen by transfer).
    trainable: bool
    #: Where its error δ comes from: the loss (output layer), the chain from the layer
    #: above, a direct projection, or nowhere (no error needed).
    error: ErrorSource
    #: Direct projection: signal values combined per output unit (C, s or 1); 0 otherwise.
    fanin: int = 0
    #: Direct projection onto a conv output: every ``dilation``-th position per axis.
    dilation: int = 1
    #: Chain through this conv layer's weights (to the layer below): transposed conv in this many groups.
    error_groups: int = 1


def layer_plan(algo, shapes) -> list[LayerPlan]:
    """Per weight layer of ``shapes`` (a list of ``LayerShape``), in order, the plan of ``algo``."""
    flow: RuleDataflow = type(algo).dataflow
    weights = [s for s in shapes if s.has_weights]
    n_classes = weights[-1].cols
    transfer = getattr(algo, "transfer", None)
    frozen = set(transfer.layers) if transfer is not None else set()
    direct_to = set(getattr(algo, "direct_to", None) or [])
    dilation = getattr(algo, "feedback_dilation", 1)
    groups = getattr(algo, "error_groups", 1)
    fanin_s = getattr(algo, "fanin", None)

    def direct_fanin() -> int:
        if flow.feedback == "column":
            return 1
        if flow.feedback == "sparse" or (flow.path == "hybrid" and fanin_s):
            return int(fanin_s)
        return n_classes

    def by_chain(i: int) -> bool:
        """Layer i's error (if needed) comes down the chain from layer i + 1."""
        return flow.path == "chain" or (flow.path == "hybrid" and weights[i].name not in direct_to)

    top = len(weights) - 1
    needs = [False] * len(weights)
    for i in range(top):  # bottom-up: needed for its own gradient, or to carry the chain further down
        needs[i] = weights[i].name not in frozen or (i > 0 and needs[i - 1] and by_chain(i - 1))
    plans: list[LayerPlan] = []
    for i, layer in enumerate(weights):
        if i == top:
            source: ErrorSource = "output"
        elif not needs[i]:
            source = "none"
        else:
            source = "chain" if by_chain(i) else "direct"
        plans.append(
            LayerPlan(
                name=layer.name,
                trainable=layer.name not in frozen,
                error=source,
                fanin=direct_fanin() if source == "direct" else 0,
                dilation=dilation if (source == "direct" and layer.kind == "conv2d") else 1,
                error_groups=groups if (flow.path == "hybrid" and layer.kind == "conv2d") else 1,
            )
        )
    return plans
