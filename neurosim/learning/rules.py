"""Learning rules: how each produces the hidden-layer error signals ``δ_l``.

Every rule uses the output error ``δ_L = e = softmax(z) - onehot(y)`` for the
last layer and differs only in the hidden layers ``l = 1..L-1`` (``f'`` is the
activation derivative at the stored pre-activation ``a_l``):

============  ==========================================================================
``bp``        ``δ_l = (δ_{l+1} W_{l+1}) ⊙ f'(a_l)`` (the true gradient)
``fa``        ``δ_l = (δ_{l+1} B_{l+1}) ⊙ f'(a_l)``, ``B_{l+1}`` fixed random, shape of ``W_{l+1}``
``dfa``       ``δ_l = (e B_lᵀ) ⊙ f'(a_l)``, ``B_l`` fixed random ``(n_l, C)``
``sdfa``      as dfa, but row ``i`` of ``B_l`` has only ``s`` nonzeros (stored as ``idx, val``)
``sign_dfa``  as dfa with ``sign(e)`` in place of ``e``
``drtp``      as dfa with the one-hot target ``y*`` in place of ``e``
``fdfa``      as dfa with a learned ``B_l`` (see :class:`FDFA`)
============  ==========================================================================

Feedback scale. Fixed random feedback is drawn ``U(-β, β)`` with
``β = feedback_scale / √fan``, where ``fan`` is the fan-in of the feedback
pathway: how many terms each hidden neuron's error sums. That is ``C`` for dense
``B_l``, ``s`` for sparse ``B_l`` and ``n_{l+1}`` for FA's ``B_{l+1}``. With it
``E[δ_i²]`` (before ``f'``, in expectation over the balanced sparse pattern) is
``feedback_scale² · ‖e‖² / (3C)`` for dense and sparse DFA alike, whatever ``s``.
On MNIST 784-800-800-10 (tanh, batch 32, plain SGD) ``feedback_scale = 3`` suits
sparse DFA at learning rate 0.1, and ``1`` dense DFA at 0.3.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from neurosim.config.workload import (
    AlgorithmConfig,
    BPConfig,
    DFAConfig,
    DRTPConfig,
    FAConfig,
    FDFAConfig,
    SDFAConfig,
    SignDFAConfig,
)
from neurosim.kernels import (
    IDENTITY,
    activation_backward,
    backward_input,
    dense_jvp,
    dense_project,
    one_hot,
    sparse_project,
    weight_grad,
)

from .network import MLP, ForwardCache

__all__ = ["Rule", "BP", "FA", "DFA", "SparseDFA", "SignDFA", "DRTP", "FDFA", "make_rule", "sparse_connectivity"]


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], scale: float, fan: float) -> np.ndarray:
    """``U(-β, β)`` float32 samples with ``β = scale / √fan``."""
    bound = scale / np.sqrt(fan)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


class Rule(ABC):
    """A learning rule: the error phase (and, for FDFA, the feedback-learning phase)."""

    name: str

    def errors(self, net: MLP, cache: ForwardCache, e: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """``[δ_1, ..., δ_L]`` for one batch; ``δ_L = e`` for every rule. Pure: no state changes."""
        return self.hidden_errors(net, cache, e, y) + [e]

    @abstractmethod
    def hidden_errors(self, net: MLP, cache: ForwardCache, e: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """``[δ_1, ..., δ_{L-1}]`` from the forward cache, output error ``e`` and labels ``y``."""

    def learn_feedback(self, net: MLP, cache: ForwardCache) -> None:
        """Update learned feedback after a forward pass (only FDFA learns it)."""


# --------------------------------------------------------------------------- chain rules


class BP(Rule):
    """Backpropagation: the transposed forward weights carry the error down."""

    name = "bp"

    def _matrix(self, net: MLP, layer: int) -> np.ndarray:
        """Matrix carrying ``δ_layer`` to layer ``layer - 1`` (1-based)."""
        return net.weights[layer - 1]

    def hidden_errors(self, net: MLP, cache: ForwardCache, e: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        deltas = [e]
        for layer in range(net.n_layers - 1, 0, -1):
            g = backward_input(deltas[0], self._matrix(net, layer + 1))
            deltas.insert(0, activation_backward(g, cache.a[layer - 1], cache.h[layer], net.act, net.slope))
        return deltas[:-1]


class FA(BP):
    """Feedback alignment: fixed random ``B_{l+1}`` (shape of ``W_{l+1}``) replaces ``W_{l+1}``."""

    name = "fa"

    def __init__(self, net: MLP, scale: float, rng: np.random.Generator):
        # feedback[l - 2] stands in for W_l, l = 2..L; fan = n_l, the rows summed per neuron.
        self.feedback = [_uniform(rng, w.shape, scale, w.shape[0]) for w in net.weights[1:]]

    def _matrix(self, net: MLP, layer: int) -> np.ndarray:
        return self.feedback[layer - 2]


# --------------------------------------------------------------------------- direct rules


class DFA(Rule):
    """Direct feedback alignment: ``δ_l = (s B_lᵀ) ⊙ f'(a_l)`` with the signal ``s = e``."""

    name = "dfa"

    def __init__(self, net: MLP, scale: float, rng: np.random.Generator):
        classes = net.sizes[-1]
        self.feedback = [_uniform(rng, (n, classes), scale, classes) for n in net.sizes[1:-1]]

    def signal(self, e: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The vector the feedback projects (``e`` for DFA)."""
        return e

    def project(self, index: int, s: np.ndarray) -> np.ndarray:
        """Hidden layer ``index + 1``'s error before ``f'``."""
        return dense_project(s, self.feedback[index])

    def hidden_errors(self, net: MLP, cache: ForwardCache, e: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        s = self.signal(e, y)
        return [
            activation_backward(self.project(i, s), cache.a[i], cache.h[i + 1], net.act, net.slope)
            for i in range(net.n_layers - 1)
        ]


class SignDFA(DFA):
    """DFA driven by ``sign(e)`` (Frenkel et al. 2021, "sDFA")."""

    name = "sign_dfa"

    def signal(self, e: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.sign(e)


class DRTP(DFA):
    """Direct random target projection (Frenkel et al. 2021): the signal is the one-hot target."""

    name = "drtp"

    def signal(self, e: np.ndarray, y: np.ndarray) -> np.ndarray:
        return one_hot(y, e.shape[1])


def sparse_connectivity(n: int, classes: int, fanin: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced sparse pattern: ``idx`` (n, fanin) of distinct error indices per row.

    The flat sequence ``j mod C`` (``j = 0..n·s-1``) is dealt to the neurons ``s``
    at a time, so a row holds ``s`` consecutive, hence distinct, classes and every
    class is used ``⌊n·s/C⌋`` or ``⌈n·s/C⌉`` times. Class labels and neuron order
    are then randomly permuted.
    """
    flat = np.arange(n * fanin, dtype=np.int64) % classes
    idx = rng.permutation(classes)[flat.reshape(n, fanin)]
    return np.ascontiguousarray(idx[rng.permutation(n)])


class SparseDFA(DFA):
    """Sparse DFA (Crafton et al. 2019): each hidden neuron listens to ``s`` of the ``C`` errors."""

    name = "sdfa"

    def __init__(self, net: MLP, scale: float, fanin: int, rng: np.random.Generator):
        classes = net.sizes[-1]
        self.idx: list[np.ndarray] = []
        self.val: list[np.ndarray] = []
        for n in net.sizes[1:-1]:
            self.idx.append(sparse_connectivity(n, classes, fanin, rng))
            self.val.append(_uniform(rng, (n, fanin), scale, fanin))

    def project(self, index: int, s: np.ndarray) -> np.ndarray:
        return sparse_project(s, self.idx[index], self.val[index])


class FDFA(DFA):
    """Forward direct feedback alignment (Bacho & Chu 2024), DFA with a learned ``B_l``.

    Feedback learning (after each forward pass): a forward-mode pass carries a
    random tangent through the network, injecting ``u_l ~ N(0, I)`` at every hidden
    layer output, ``t_l = (t_{l-1} W_lᵀ) ⊙ f'(a_l) + u_l`` (``t_0 = 0``); the logits'
    directional derivative is ``d = t_{L-1} W_Lᵀ``. Since ``E[d u_lᵀ] = ∂z/∂h_l``,
    ``B_l`` tracks the output Jacobian by the moving average
    ``B_l ← (1 - r) B_l + r · (1/B) Σ_b u_{l,b} d_bᵀ`` (rate ``r = feedback_rate``),
    starting from ``B_l = 0`` as in the authors' code (Florian-BACHO/FDFA). The
    error phase is DFA with the current ``B_l``; ``feedback_scale`` is not used.
    """

    name = "fdfa"

    def __init__(self, net: MLP, rate: float, rng: np.random.Generator):
        classes = net.sizes[-1]
        self.rate = rate
        self.rng = rng
        self.feedback = [np.zeros((n, classes), dtype=np.float32) for n in net.sizes[1:-1]]

    def learn_feedback(self, net: MLP, cache: ForwardCache) -> None:
        batch = cache.h[0].shape[0]
        tangents = []
        t = None
        for layer in range(1, net.n_layers):
            u = self.rng.standard_normal((batch, net.sizes[layer]), dtype=np.float32)
            tangents.append(u)
            i = layer - 1
            t = u if t is None else dense_jvp(t, net.weights[i], cache.a[i], cache.h[layer], net.act, net.slope) + u
        d = dense_jvp(t, net.weights[-1], cache.a[-1], cache.h[-1], IDENTITY, 0.0)
        keep = np.float32(1.0 - self.rate)
        for b, u in zip(self.feedback, tangents):
            estimate, _ = weight_grad(u, d)
            b *= keep
            b += np.float32(self.rate) * estimate


def make_rule(algo: AlgorithmConfig, net: MLP, seed: int | np.random.SeedSequence) -> Rule:
    """Build the rule named by ``algo`` for ``net``.

    ``seed`` is split into two streams: one draws the fixed feedback, the other
    the rule's per-step samples (FDFA's tangents).
    """
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    feedback_ss, sample_ss = root.spawn(2)
    rng = np.random.default_rng(feedback_ss)
    if isinstance(algo, BPConfig):
        return BP()
    if isinstance(algo, FAConfig):
        return FA(net, algo.feedback_scale, rng)
    if isinstance(algo, SDFAConfig):
        return SparseDFA(net, algo.feedback_scale, algo.fanin, rng)
    if isinstance(algo, SignDFAConfig):
        return SignDFA(net, algo.feedback_scale, rng)
    if isinstance(algo, DRTPConfig):
        return DRTP(net, algo.feedback_scale, rng)
    if isinstance(algo, FDFAConfig):
        return FDFA(net, algo.feedback_rate, np.random.default_rng(sample_ss))
    if isinstance(algo, DFAConfig):
        return DFA(net, algo.feedback_scale, rng)
    raise TypeError(f"unknown algorithm config {algo!r}")
