r"""Error-signal alignment as Launay et al. (2020) measure it (lightonai's ``tinydfa``
``AlignmentMeasurement``, used by lightonai/principled-dfa-training).

On a fixed held-out batch (the first :data:`HELD_OUT_SIZE` test samples) the network
runs forward once; BP's and the rule's backward passes give, per trainable hidden weight
layer ``l``, the error at the layer's output ``δ_l = ∂L/∂a_l`` (the gradient a backward
hook on the layer sees: after ``f'`` and the batchnorm, before ``ΔW``). Per sample ``n``

    cos_n = ⟨δ_l,n^rule, δ_l,n^BP⟩ / (‖δ_l,n^rule‖ ‖δ_l,n^BP‖)     (1 when both are zero, 0 when one is)

and the recorded angle is ``arccos(mean_n cos_n)`` in degrees (tinydfa averages the
per-sample cosines). 90° is no alignment, 0° is BP. The measure is taken at step 0 (before
any update) and then every ``training.alignment_every`` steps; by default every
:data:`FIRST_EPOCH_EVERY` steps in the first epoch (where the alignment happens) and
:data:`MEASURES_PER_EPOCH` times per later epoch. Rules whose every error comes by BP's
chain record nothing. The weight-update angle of :func:`~.trainer.alignment_deg` is a
second, per-epoch measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.kernels import softmax_cross_entropy

from .network import Network
from .rules import Rule, bp_rule

__all__ = ["AlignmentRecord", "HELD_OUT_SIZE", "FIRST_EPOCH_EVERY", "MEASURES_PER_EPOCH", "error_alignment_deg",
           "measures_at", "per_sample_cosine"]

#: Test samples (the first ones) of the fixed held-out batch.
HELD_OUT_SIZE = 256
#: Default interval (steps) in the first epoch.
FIRST_EPOCH_EVERY = 10
#: Default measures per later epoch.
MEASURES_PER_EPOCH = 4


@dataclass(frozen=True)
class AlignmentRecord:
    """Angle between the rule's and BP's error at ``layer``'s output after ``step`` steps (in ``epoch``)."""

    step: int
    epoch: int
    layer: str
    angle_deg: float


def per_sample_cosine(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Cosine of each row pair of ``u``, ``v`` (batch, ...) in float64; 1 when both rows are zero, 0 when one is."""
    a = u.reshape(u.shape[0], -1).astype(np.float64)
    b = v.reshape(v.shape[0], -1).astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = np.einsum("ij,ij->i", a, b) / np.where(na * nb > 0, na * nb, 1.0)
    return np.where((na == 0) & (nb == 0), 1.0, cos)


def error_alignment_deg(net: Network, rule: Rule, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Per trainable hidden weight layer: ``arccos(mean_n cos(δ_n^rule, δ_n^BP))`` in degrees on ``(x, y)``.

    Batchnorm runs in training mode (as in training) without moving its running statistics.
    """
    if rule.flow.path == "chain" and rule.flow.chain_matrix == "W":
        return {}
    cache = net.forward(x, train=True, update=False)
    _, e = softmax_cross_entropy(cache.logits, y)
    true = bp_rule(net).backward(net, cache, e.copy(), y)
    est = rule.backward(net, cache, e.copy(), y)
    out = {}
    for i, (j, plan) in enumerate(zip(net.weight_positions[:-1], rule.plan[:-1])):
        if plan.trainable and est.deltas[i] is not None:
            cos = float(np.clip(per_sample_cosine(est.deltas[i], true.deltas[i]).mean(), -1.0, 1.0))
            out[net.layers[j].name] = float(np.degrees(np.arccos(cos)))
    return out


def measures_at(step: int, per_epoch: int, every: int | None) -> bool:
    """The alignment is measured after ``step`` steps (0: before training); see the module docstring."""
    if every is not None:
        return step % every == 0
    if step <= per_epoch:
        return step % FIRST_EPOCH_EVERY == 0 or step == per_epoch
    return step % max(1, per_epoch // MEASURES_PER_EPOCH) == 0
