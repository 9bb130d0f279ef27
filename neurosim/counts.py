r"""Exact, analytic operation counts of one training step, per layer and phase.

These are properties of the *algorithm*, independent of any chip: the ledger
files them under component ``network``. The hardware model (``neurosim.sim``)
says where each of these MACs executes (crossbar or core) and what moving the
operands costs; its per-component MAC rows sum to these figures.

Notation: layer widths :math:`n_0 \dots n_L` (``n_0`` inputs, ``n_L = C``
classes), weight layer :math:`l` (named ``fc{l}``) maps :math:`n_{l-1} \to n_l`,
batch :math:`B`, sparse-DFA fan-in :math:`s`.

=============  ===================================================================
phase          MACs of weight layer l for one step
=============  ===================================================================
forward        :math:`B n_{l-1} n_l`
error          output layer: 0 (:math:`e = \mathrm{softmax} - y`, elementwise);
               hidden layer l < L:
               bp, fa: :math:`B n_l n_{l+1}` (transposed chain);
               dfa, sign_dfa, fdfa: :math:`B n_l C`;
               sdfa: :math:`B n_l s`;
               drtp: :math:`B n_l` (the one-hot target selects one column of B)
weight_grad    :math:`B n_{l-1} n_l` (outer products summed over the batch)
weight_update  0 MACs; :math:`n_{l-1} n_l + n_l` parameter updates
feedback_      fdfa only: the tangent pass :math:`B n_{l-1} n_l` for l ≥ 2 (the
learning       tangent starts as random :math:`u_1` at layer 1's output, so W_1
               is not used; layer L yields the output derivative d), plus for
               hidden l the moving-average update of :math:`B_l`, :math:`B n_l C`
=============  ===================================================================

Neuron-level data movement (DESIGN.md; the figure the seed papers state): the
values that must be delivered to the neurons of a hidden layer so that each can
form its error, for one step.

=============  ==========================  =======================================
rule           error signal values          feedback weight values
=============  ==========================  =======================================
bp, fa         :math:`B n_l n_{l+1}`        :math:`n_l n_{l+1}` (a row of Wᵀ or Bᵀ)
dfa, sign_dfa, :math:`B n_l C`              :math:`n_l C` (a row of B)
fdfa
sdfa           :math:`B n_l s`              :math:`n_l s`
drtp           :math:`B n_l` (the label)    :math:`B n_l` (one entry of B each)
=============  ==========================  =======================================

Error signals are delivered per sample; a neuron's feedback row is delivered
once per step and reused across the batch.
"""

from __future__ import annotations

from .config.workload import AlgorithmConfig
from .records import Record

__all__ = ["VALUE_BYTES", "layer_names", "step_counts", "epoch_counts", "macs_by_phase"]

#: Bytes of one value at the neuron level (float32, as trained).
VALUE_BYTES = 4


def layer_names(layers: list[int]) -> list[str]:
    return [f"fc{l}" for l in range(1, len(layers))]


def _error_fanin(algo: AlgorithmConfig, layers: list[int], l: int) -> int:
    """How many values of the error signal one neuron of hidden layer l combines."""
    name = algo.name
    if name in ("bp", "fa"):
        return layers[l + 1]
    if name in ("dfa", "sign_dfa", "fdfa"):
        return layers[-1]
    if name == "sdfa":
        return algo.fanin
    if name == "drtp":
        return 1
    raise ValueError(f"unknown algorithm {name!r}")


def step_counts(layers: list[int], batch: int, algo: AlgorithmConfig) -> list[Record]:
    """Network-level records for one training step of ``algo``.

    Actions: ``mac``; ``update`` (one parameter written by the optimizer);
    ``deliver_error`` and ``deliver_feedback`` (neuron-level values delivered,
    with ``bytes = count * VALUE_BYTES``).
    """
    L = len(layers) - 1
    C = layers[-1]
    out: list[Record] = []

    def add(layer: str, phase: str, action: str, count: int, value_bytes: int = 0) -> None:
        out.append(Record(layer, phase, "network", action, float(count), float(count * value_bytes)))

    for l in range(1, L + 1):
        name = f"fc{l}"
        n_in, n_out = layers[l - 1], layers[l]
        add(name, "forward", "mac", batch * n_in * n_out)
        hidden = l < L
        if hidden:
            k = _error_fanin(algo, layers, l)
            add(name, "error", "mac", batch * n_out * k)
            add(name, "error", "deliver_error", batch * n_out * k, VALUE_BYTES)
            fb = batch * n_out if algo.name == "drtp" else n_out * k
            add(name, "error", "deliver_feedback", fb, VALUE_BYTES)
        else:
            add(name, "error", "mac", 0)
        add(name, "weight_grad", "mac", batch * n_in * n_out)
        add(name, "weight_update", "update", n_in * n_out + n_out)
        if algo.name == "fdfa":  # tangent through W_l (t_0 = 0, so not W_1), then B_l's update
            tangent = batch * n_in * n_out if l > 1 else 0
            add(name, "feedback_learning", "mac", tangent + (batch * n_out * C if hidden else 0))
    return out


def epoch_counts(layers: list[int], n_train: int, batch: int, algo: AlgorithmConfig) -> list[Record]:
    """Network-level counts of one epoch: the full steps plus the partial last one."""
    full, rem = divmod(n_train, batch)
    recs = [
        Record(r.layer, r.phase, r.component, r.action, r.count * full, r.bytes * full)
        for r in step_counts(layers, batch, algo)
    ]
    if rem:
        recs += step_counts(layers, rem, algo)
    return recs


def macs_by_phase(records: list[Record]) -> dict[str, float]:
    """Sum of ``mac`` counts per phase."""
    totals: dict[str, float] = {}
    for r in records:
        if r.action == "mac":
            totals[r.phase] = totals.get(r.phase, 0.0) + r.count
    return totals
