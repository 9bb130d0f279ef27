r"""Learning rules: how each produces the error signal of every weight layer.

A rule is built from its config's :class:`~neurosim.config.dataflow.RuleDataflow` and
the per-weight-layer :func:`~neurosim.config.dataflow.layer_plan`, never from its name.
Each weight layer ``l`` gets ``δ_l = ∂/∂a_l`` (the error at its linear output) from

- ``output``: ``δ_L = e = softmax(z) - onehot(y)``;
- ``chain``: the error of the weight layer above carried down through its matrix ``M``
  (``W``: BP, a transposed read or transposed convolution; FA: a fixed random ``B`` of
  W's shape) and through the pooling / flatten / batchnorm layers in between, then
  ``⊙ f'(a_l)``;
- ``direct``: the rule's signal projected onto the layer's output units,
  ``g = signal · B_lᵀ`` with ``B_l`` of shape ``(units, C)`` (``units = C_out·H'·W'`` for
  a conv layer: every unit of every feature map has its own row), then ``⊙ f'`` and back
  through the layer's batchnorm if it has one;
- ``none``: no error (frozen and not on a chain to a trainable layer).

============  =====================================================================
``bp``        chain, ``M = W``
``fa``        chain, ``M = B`` fixed ``U(-β, β)``, ``fan = C_out`` (dense) or
              ``(C_out/groups)·⌈k/s⌉²`` (conv: the terms each input unit sums)
``dfa``       direct, signal ``e``, dense ``B_l``
``sdfa``      direct, signal ``e``, row ``i`` of ``B_l`` has ``s`` nonzeros (``idx, val``)
``sign_dfa``  direct, signal ``sign(e)``
``drtp``      direct, signal ``onehot(y)``
``fdfa``      direct, signal ``e``, ``B_l`` learned (see :class:`Rule.learn_feedback`)
``fwd_grad``  direct, no ``B_l``: ``g_l = u_l (e·d)`` with ``u_l ~ N(0, I)`` at every hidden
              output and ``d`` the logits' tangent of one forward-mode pass (see
              :meth:`Rule.forward_gradient`); unbiased for BP's ``∂L/∂h_l``
``hybrid``    per layer: direct (``direct_to``) or chain with ``M = W``; see below
============  =====================================================================

Hybrid modular DFA (Han et al. 2020, arXiv 2006.12830). The weight layers named in
``direct_to`` each end a module and receive the direct projection of ``e``; every other
trainable weight layer receives its error by the BP chain from the weight layer just
above it, inside its module. E.g. on conv1-pool-conv2-pool-fc1-fc2 with
``direct_to: [conv2]``: fc2 gets ``e``, fc1 the BP chain from fc2, conv2 the direct
projection, conv1 the BP chain from conv2 — two modules {conv1, conv2} and {fc1, fc2}.
``direct_to: []`` is BP, all hidden layers is DFA. The paper's two simplifications:

- sparse feedback as a dilated convolution (``feedback_dilation d``): the projection onto
  a conv output reaches only the units at positions ``(i, j)`` with ``i ≡ j ≡ 0 (mod d)``
  (``B_l`` has ``C_out·⌈H'/d⌉·⌈W'/d⌉`` rows), the others get zero error; with ``fanin s``
  each of those rows has ``s`` nonzeros (the sparse-DFA pattern).
- error propagation by group convolution (``error_groups g``): the chain through a conv
  layer's ``W`` (``C_out, C_in, k, k``) runs as a ``g``-group transposed convolution with
  the block-diagonal part of ``W`` (output-channel group ``q`` carries error only to input
  channel group ``q``), i.e. ``g``× fewer MACs; the forward pass uses the whole ``W``.

Feedback scale: fixed feedback is ``U(-β, β)``, ``β = feedback_scale/√fan``, ``fan`` the
terms each unit's error sums (``C`` dense, ``s`` sparse), so ``E[g_i²]`` does not depend on ``s``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from neurosim.config.dataflow import LayerPlan, layer_plan
from neurosim.config.workload import AlgorithmConfig, BPConfig, OptimizerConfig
from neurosim.kernels import dense_project, one_hot, sparse_project, weight_grad

from .layers import BatchNorm, WeightLayer
from .network import ForwardCache, Network
from .optim import make_optimizer

__all__ = ["Rule", "Backward", "make_rule", "bp_rule", "sparse_connectivity", "DirectFeedback"]


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], scale: float, fan: float) -> np.ndarray:
    """``U(-β, β)`` float32 samples with ``β = scale / √fan``."""
    bound = scale / np.sqrt(fan)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def sparse_connectivity(n: int, classes: int, fanin: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced sparse pattern: ``idx`` (n, fanin) of distinct error indices per row.

    The flat sequence ``j mod C`` (``j = 0..n·s-1``) is dealt to the units ``s`` at a
    time, so a row holds ``s`` consecutive, hence distinct, classes and every class is
    used ``⌊n·s/C⌋`` or ``⌈n·s/C⌉`` times. Class labels and unit order are then permuted.
    """
    flat = np.arange(n * fanin, dtype=np.int64) % classes
    idx = rng.permutation(classes)[flat.reshape(n, fanin)]
    return np.ascontiguousarray(idx[rng.permutation(n)])


class DirectFeedback:
    """``B_l`` of one layer: dense ``matrix`` (units, C), or sparse ``idx``/``val`` (units, s);
    on a conv output with ``dilation d`` the rows are the units of the dilated grid."""

    def __init__(self, out_shape: tuple[int, ...], dilation: int, classes: int, fanin: int | None,
                 scale: float, rng: np.random.Generator | None):
        self.out_shape = out_shape
        self.dilation = dilation
        grid = out_shape if dilation == 1 else (out_shape[0], -(-out_shape[1] // dilation), -(-out_shape[2] // dilation))
        self.grid = grid
        units = int(np.prod(grid))
        self.idx: np.ndarray | None = None
        #: Dense ``B_l`` held in crossbars and read through the cells (``numerics: device``,
        #: :meth:`.device.CrossbarDevice.program_feedback`): ``signal → signal · B_lᵀ``; None: exact.
        self.reader = None
        if rng is None:  # learned (FDFA): starts at zero
            self.matrix = np.zeros((units, classes), dtype=np.float32)
        elif fanin is None:
            self.matrix = _uniform(rng, (units, classes), scale, classes)
        else:
            self.idx = sparse_connectivity(units, classes, fanin, rng)
            self.matrix = _uniform(rng, (units, fanin), scale, fanin)

    def project(self, signal: np.ndarray) -> np.ndarray:
        """The error at the layer's output ``h`` (before ``f'``), shaped ``(batch,) + out_shape``."""
        batch = signal.shape[0]
        if self.reader is not None:
            g = self.reader(signal)
        elif self.idx is None:
            g = dense_project(signal, self.matrix)
        else:
            g = sparse_project(signal, self.idx, self.matrix)
        if self.dilation == 1:
            return g.reshape((batch,) + self.out_shape)
        full = np.zeros((batch,) + self.out_shape, dtype=g.dtype)
        full[:, :, :: self.dilation, :: self.dilation] = g.reshape((batch,) + self.grid)
        return full


class Backward:
    """One backward pass: ``deltas[i]`` (δ of weight layer i, or None) and ``grads[j]`` per layer."""

    def __init__(self, n_layers: int, n_weights: int):
        self.deltas: list[np.ndarray | None] = [None] * n_weights
        self.grads: list[list[np.ndarray] | None] = [None] * n_layers


class Rule:
    """The error phase (and FDFA's feedback-learning phase) of one algorithm on one network."""

    def __init__(self, algo: AlgorithmConfig, net: Network, feedback_rng: np.random.Generator,
                 sample_rng: np.random.Generator):
        self.name = algo.name
        self.flow = type(algo).dataflow
        self.plan: list[LayerPlan] = layer_plan(algo, net.shapes)
        transfer = getattr(algo, "transfer", None)
        self.frozen = set(transfer.layers) if transfer is not None else set()
        self.sample_rng = sample_rng
        self.rate = float(getattr(algo, "feedback_rate", 0.0))
        scale = float(getattr(algo, "feedback_scale", 1.0))
        classes = net.n_classes
        weights = net.weight_layers
        #: FA: B_i stands in for W_i in the chain (i ≥ 1).
        self.chain_feedback: dict[int, np.ndarray] = {}
        if self.flow.chain_matrix == "B":
            for i, layer in enumerate(weights[1:], start=1):
                self.chain_feedback[i] = _uniform(feedback_rng, layer.weight.shape, scale, _chain_fan(layer))
        #: FA with ``B_i`` held in crossbars (``numerics: device``): ``δ → δ · B_i`` read through the cells.
        self.chain_readers: dict[int, Callable[[np.ndarray], np.ndarray]] = {}
        fanin = getattr(algo, "fanin", None) if (self.flow.feedback == "sparse" or self.flow.path == "hybrid") else None
        #: Direct feedback of each hidden weight layer whose error is "direct".
        self.direct: dict[int, DirectFeedback] = {}
        #: Forward gradient: the direct layers are perturbed, not projected onto.
        self.perturbed = self.flow.signal == "directional_derivative"
        for i, plan in enumerate(self.plan):
            if plan.error == "direct" and not self.perturbed:
                out = net.output_layer(i).shape.out_shape
                rng = None if self.flow.learns_feedback else feedback_rng
                self.direct[i] = DirectFeedback(out, plan.dilation, classes, fanin, scale, rng)
        #: FDFA with ``feedback_optimizer`` sgd / adam: the optimizer of the B_l (ema: None).
        self.feedback_optimizer = None
        kind = getattr(algo, "feedback_optimizer", "ema")
        if self.flow.learns_feedback and kind != "ema":
            self.feedback_optimizer = make_optimizer(OptimizerConfig(name=kind, learning_rate=self.rate),
                                                     [d.matrix for d in self.direct.values()])

    # ----------------------------------------------------------------- error phase

    def signal(self, e: np.ndarray, y: np.ndarray) -> np.ndarray:
        """What the direct projections read: e, sign(e) or the one-hot label."""
        if self.flow.signal == "sign_error":
            return np.sign(e)
        if self.flow.signal == "label":
            return one_hot(y, e.shape[1])
        return e

    def backward(self, net: Network, cache: ForwardCache, e: np.ndarray, y: np.ndarray,
                 rng: np.random.Generator | None = None, weight_grads: bool = True) -> Backward:
        """Every weight layer's δ and every trainable layer's gradients, top layer down. Pure,
        but for the forward gradient's tangents (drawn from ``rng``, default the rule's own).
        ``weight_grads=False`` leaves the weight layers' gradients unformed (``grads[j]`` None):
        for callers that need only the δ, or that step each layer from its δ (plain SGD)."""
        out = Backward(len(net.layers), len(self.plan))
        if self.perturbed:
            tangents = self.forward_gradient(net, cache, e, rng or self.sample_rng)
            return self._backward(net, cache, e, out, tangents, weight_grads)
        signal = self.signal(e, y) if self.direct else None
        projections = {i: fb.project(signal) for i, fb in self.direct.items()}
        return self._backward(net, cache, e, out, projections, weight_grads)

    def forward_gradient(self, net: Network, cache: ForwardCache, e: np.ndarray,
                         rng: np.random.Generator) -> dict[int, np.ndarray]:
        """Per directly-fed layer i: ``u_i (e·d)`` per sample, ``d`` the logits' tangent."""
        targets = [i for i, p in enumerate(self.plan) if p.error == "direct"]
        injected, t = self._tangent_pass(net, cache, targets, rng)
        slope = np.einsum("nc,nc->n", e, t).astype(np.float32)
        return {i: u * slope.reshape((-1,) + (1,) * (u.ndim - 1)) for i, u in injected.items()}

    def _tangent_pass(self, net: Network, cache: ForwardCache, targets, rng: np.random.Generator):
        """``u_i ~ N(0, I)`` injected at the output of each target layer i; the logits' tangent."""
        batch = cache.logits.shape[0]
        t = None
        injected: dict[int, np.ndarray] = {}
        for j, layer in enumerate(net.layers):
            if t is not None:
                t = layer.tangent(t, cache.layers[j])
            owner = net.output_of.get(j)
            if owner is not None and owner in targets:
                u = rng.standard_normal((batch,) + layer.shape.out_shape, dtype=np.float32)
                injected[owner] = u
                t = u if t is None else t + u
        return injected, t

    def _backward(self, net: Network, cache: ForwardCache, e: np.ndarray, out: Backward,
                  projections: dict[int, np.ndarray], weight_grads: bool) -> Backward:
        g: np.ndarray | None = e
        weight_index = net.weight_index
        for j in range(len(net.layers) - 1, -1, -1):
            layer, c = net.layers[j], cache.layers[j]
            owner = net.output_of.get(j)
            if owner is not None and owner in projections:
                g = projections[owner]
            if g is None:
                continue
            g = layer.pre_grad(g, c)
            if isinstance(layer, WeightLayer):
                i = weight_index[j]
                out.deltas[i] = g
                if self.plan[i].trainable and weight_grads:
                    out.grads[j] = layer.param_grads(g, c)
                below = self.plan[i - 1] if i > 0 else None
                if below is None or below.error != "chain":
                    g = None
                elif i in self.chain_readers:  # B_i read through its cells
                    g = self.chain_readers[i](g).reshape((g.shape[0],) + layer.shape.in_shape)
                else:
                    g = layer.chain(g, c, self.chain_feedback.get(i, layer.weight), self.plan[i].error_groups)
            elif isinstance(layer, BatchNorm):
                g, bn_grads = layer.backward(g, c)
                if layer.name not in self.frozen and bn_grads:
                    out.grads[j] = bn_grads
            else:
                g = layer.input_grad(g, c)
        return out

    # ----------------------------------------------------------------- feedback learning

    def learn_feedback(self, net: Network, cache: ForwardCache) -> None:
        """FDFA (Bacho & Chu 2024): a forward-mode pass with a random tangent learns ``B_l``.

        ``u_l ~ N(0, I)`` is injected at the output of every directly-fed layer ``l``
        (``t ← tangent(t) + u_l``, ``t`` starting at the first one); the logits'
        directional derivative is ``d``. As ``E[d u_lᵀ] = ∂z/∂h_l``, the estimate
        ``Ĵ_l = (1/N) Σ_n u_{l,n} d_nᵀ`` is unbiased and ``B_l`` (from 0, as in the authors'
        code, Florian-BACHO/FDFA) tracks it: ``ema`` ``B_l ← (1 - r) B_l + r Ĵ_l``
        (``r = feedback_rate``); ``sgd`` / ``adam`` one optimizer step on the authors'
        feedback gradient ``B_l - Ĵ_l`` at learning rate ``r`` (sgd is the same update as ema
        up to rounding; the authors run Adam at 1e-4).
        """
        if not self.flow.learns_feedback or not self.direct:
            return
        batch = cache.logits.shape[0]
        injected, t = self._tangent_pass(net, cache, list(self.direct), self.sample_rng)
        keep = np.float32(1.0 - self.rate)
        estimates = {i: weight_grad(np.ascontiguousarray(u.reshape(batch, -1)), t)[0] for i, u in injected.items()}
        if self.feedback_optimizer is not None:
            self.feedback_optimizer.step([d.matrix - estimates[i] for i, d in self.direct.items()])
            return
        for i, estimate in estimates.items():
            b = self.direct[i].matrix
            b *= keep
            b += np.float32(self.rate) * estimate


def _chain_fan(layer: WeightLayer) -> int:
    """Terms each input unit of ``layer`` sums in the chain: ``C_out`` (dense), ``C_out/g·⌈k/s⌉²`` (conv)."""
    s = layer.shape
    if s.kind == "conv2d":
        return s.channels_out // s.groups * (-(-s.kernel // s.stride)) ** 2
    return s.out_units


def make_rule(algo: AlgorithmConfig, net: Network, seed: int | np.random.SeedSequence) -> Rule:
    """The rule of ``algo`` on ``net``; ``seed`` splits into the feedback draws and the per-step samples."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    feedback_ss, sample_ss = root.spawn(2)
    return Rule(algo, net, np.random.default_rng(feedback_ss), np.random.default_rng(sample_ss))


def bp_rule(net: Network) -> Rule:
    """Plain BP on every layer of ``net`` (the alignment reference)."""
    return make_rule(BPConfig(name="bp"), net, 0)
