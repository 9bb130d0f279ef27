r"""Error-signal alignment as Launay et al. (2020) measure it (lightonai's ``tinydfa``
``AlignmentMeasurement``, used by lightonai/principled-dfa-training).

On a fixed held-out batch (the first :data:`HELD_OUT_SIZE` test samples) the network
runs forward once; BP's and the rule's backward passes give, per trainable hidden weight
layer ``l``, the error at the layer's output ``δ_l = ∂L/∂a_l`` (the gradient a backward
hook on the layer sees: after ``f'`` and the batchnorm, before ``ΔW``). Per sample ``n``

    cos_n = ⟨δ_l,n^rule, δ_l,n^BP⟩ / (‖δ_l,n^rule‖ ‖δ_l,n^BP‖)     (1 when both are zero, 0 when one is)

and the recorded angle is ``arccos(mean_n cos_n)`` in degrees (tinydfa averages the
per-sample cosines). 90° is no alignment, 0° is BP. lightonai/principled-dfa-training
(``dfatools/models.py``, ``DFAModel._end_epoch``) hooks every module: on a Linear module it
sees this ``δ_l``, on a Tanh module the gradient at ``h_l`` before ``f'`` (what its bottleneck
figure reads; ``bench/bottleneck.py`` computes that one). The output layer's δ is ``e`` for
every rule (0°), so it is not recorded. The measure is taken at step 0 (before
any update) and then every ``training.alignment_every`` steps; by default every
:data:`FIRST_EPOCH_EVERY` steps in the first epoch (where the alignment happens) and
:data:`MEASURES_PER_EPOCH` times per later epoch. Rules whose every error comes by BP's
chain record nothing. The weight-update angle of :func:`~.trainer.alignment_deg` is a
second, per-epoch measure.

Estimator quality, at the same steps on the same batch: the rule's weight gradient
``ĝ_k = ΔW_l`` for :data:`ESTIMATOR_DRAWS` draws ``k`` of its randomness (the forward
gradient's tangents; one value for a rule without any) against BP's ``g``:

    grad_cosine        = mean_k cos(ĝ_k, g)
    grad_rel_variance  = mean_k ‖ĝ_k − ḡ‖² / ‖g‖²      (ḡ the mean of the draws; 0 without randomness)
    grad_rel_mse       = mean_k ‖ĝ_k − g‖² / ‖g‖²      (bias² + variance; scale-dependent for fixed-B rules)

FDFA's ``B_l`` is the running estimate of the Jacobian, so its projected error has no
randomness of its own at a given step: its variance is the forward gradient's averaged away,
and shows in ``grad_rel_mse`` as what remains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.kernels import softmax_cross_entropy
from neurosim.kernels.stats import estimator_sums, row_sums

from .network import Network
from .rules import Rule, bp_rule

__all__ = ["AlignmentRecord", "HELD_OUT_SIZE", "FIRST_EPOCH_EVERY", "MEASURES_PER_EPOCH", "ESTIMATOR_DRAWS",
           "error_alignment_deg", "measure", "measures_at", "per_sample_cosine"]

#: Test samples (the first ones) of the fixed held-out batch.
HELD_OUT_SIZE = 256
#: Default interval (steps) in the first epoch.
FIRST_EPOCH_EVERY = 10
#: Default measures per later epoch.
MEASURES_PER_EPOCH = 4
#: Draws of a random estimator per measure.
ESTIMATOR_DRAWS = 8


@dataclass(frozen=True)
class AlignmentRecord:
    """Angle between the rule's and BP's error at ``layer``'s output after ``step`` steps (in ``epoch``)."""

    step: int
    epoch: int
    layer: str
    angle_deg: float
    grad_cosine: float
    grad_rel_variance: float
    grad_rel_mse: float


def per_sample_cosine(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Cosine of each row pair of ``u``, ``v`` (batch, ...) in float64; 1 when both rows are zero, 0 when one is."""
    a = u.reshape(u.shape[0], -1).astype(np.float64)
    b = v.reshape(v.shape[0], -1).astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = np.einsum("ij,ij->i", a, b) / np.where(na * nb > 0, na * nb, 1.0)
    return np.where((na == 0) & (nb == 0), 1.0, cos)


def error_alignment_deg(net: Network, rule: Rule, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Per trainable hidden weight layer: ``arccos(mean_n cos(δ_n^rule, δ_n^BP))`` in degrees on ``(x, y)``."""
    return {name: values[0] for name, values in measure(net, rule, x, y).items()}


def measure(net: Network, rule: Rule, x: np.ndarray, y: np.ndarray) -> dict[str, tuple[float, float, float, float]]:
    """Per trainable hidden weight layer: (angle_deg, grad_cosine, grad_rel_variance, grad_rel_mse)
    on ``(x, y)`` (module docstring). Batchnorm runs in training mode without moving its running
    statistics; the rule's draws come from their own generators, not the rule's."""
    if rule.flow.path == "chain" and rule.flow.chain_matrix == "W":
        return {}
    cache = net.forward(x, train=True, update=False)
    _, e = softmax_cross_entropy(cache.logits, y)
    true = bp_rule(net).backward(net, cache, e.copy(), y, weight_grads=False)
    draws = ESTIMATOR_DRAWS if rule.perturbed else 1
    ests = [rule.backward(net, cache, e.copy(), y, np.random.default_rng(k), weight_grads=False) for k in range(draws)]
    out = {}
    for i, (j, plan) in enumerate(zip(net.weight_positions[:-1], rule.plan[:-1])):
        if not plan.trainable or ests[0].deltas[i] is None:
            continue
        layer, c = net.layers[j], cache.layers[j]
        est, bp = (d.reshape(d.shape[0], -1) for d in (ests[0].deltas[i], true.deltas[i]))
        cos = float(np.clip(_cosines(*row_sums(est, bp)).mean(), -1.0, 1.0))
        g = layer.param_grads(true.deltas[i], c)[0].reshape(-1)
        hats = [layer.param_grads(e.deltas[i], c)[0].reshape(1, -1) for e in ests]
        hats = hats[0] if draws == 1 else np.concatenate(hats)
        gg, hh, hg, dd, spread = estimator_sums(hats, g)  # float64 sums, one pass over the float32 ΔW
        norm2 = max(gg, np.finfo(np.float64).tiny)
        out[layer.name] = (
            float(np.degrees(np.arccos(cos))),
            float(_cosines(hh, np.full_like(hh, gg), hg).mean()),
            float(spread / draws / norm2),
            float(dd.mean() / norm2),
        )
    return out


def _cosines(uu: np.ndarray, vv: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """``uv / √(uu·vv)`` from float64 sums, with :func:`per_sample_cosine`'s conventions
    (1 when both vectors are zero, 0 when one is)."""
    norms = np.sqrt(uu) * np.sqrt(vv)
    cos = uv / np.where(norms > 0, norms, 1.0)
    return np.where((uu == 0) & (vv == 0), 1.0, cos)


def measures_at(step: int, per_epoch: int, every: int | None) -> bool:
    """The alignment is measured after ``step`` steps (0: before training); see the module docstring."""
    if every is not None:
        return step % every == 0
    if step <= per_epoch:
        return step % FIRST_EPOCH_EVERY == 0 or step == per_epoch
    return step % max(1, per_epoch // MEASURES_PER_EPOCH) == 0
