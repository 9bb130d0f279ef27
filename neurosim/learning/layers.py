r"""The layer kinds of a network, each with its forward, backward and tangent side by side.

Every layer maps a batch ``x`` of per-sample shape ``shape.in_shape`` to ``h`` of
``shape.out_shape``; a layer whose ``shape.activated`` is set applies the network's
activation ``f`` last, ``h = f(a)`` (``a`` is kept for ``f'``). For one batch:

==============  ============================  ===============================  ==================
kind            forward ``a``                 input gradient of ``g = ∂/∂a``   parameter gradient
==============  ============================  ===============================  ==================
dense           ``x Wᵀ + b``                  ``g M`` (M = W, or FA's B)        ``gᵀ x / N``
conv2d          ``conv(x, W) + b``            transposed conv of ``g`` by M     :mod:`..kernels.conv`
                                              (``groups``: block-diagonal part
                                              of M, grouped)
maxpool         window max                    ``g`` to each window's argmax    —
avgpool         window mean                   ``g/k²`` over each window        —
flatten         reshape                       reshape                          —
batchnorm       ``γ x̂ + β`` (batch stats in   :mod:`..kernels.batchnorm`       ``dγ, dβ``
                training, running in eval;
                a frozen one always eval)
==============  ============================  ===============================  ==================

The tangent (forward mode, for FDFA) of a layer is ``∂a/∂x · t`` (then ``⊙ f'(a)``):
the layer's linear map without its bias for dense and conv, the argmax gather for
max pooling, the mean for average pooling, the symmetric batchnorm Jacobian.

Parameters are named ``<layer>.weight``, ``<layer>.bias`` (dense, conv2d) and
``<layer>.scale``, ``<layer>.shift``, ``<layer>.running_mean``, ``<layer>.running_var``
(batchnorm; the running statistics are state, not trained). A weight layer's two
functions that a device model hooks into are :meth:`WeightLayer.forward_linear` (the
forward MVM) and the optimizer step on :attr:`Layer.params`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.config.network import LayerShape
from neurosim.kernels import (
    IDENTITY,
    activation_backward,
    activate,
    bias_activation,
    avgpool_backward,
    avgpool_forward,
    backward_input,
    batchnorm_backward,
    batchnorm_eval,
    batchnorm_eval_backward,
    batchnorm_train,
    conv2d_forward,
    conv2d_input_grad,
    conv2d_weight_grad,
    dense_forward,
    dense_jvp,
    dense_sgd_update,
    maxpool_backward,
    maxpool_forward,
    maxpool_gather,
    sgd_step,
    weight_grad,
)

__all__ = ["LayerCache", "Layer", "WeightLayer", "Dense", "Conv2d", "Pool", "Flatten", "BatchNorm", "make_layer", "grouped_block"]


@dataclass(frozen=True)
class LayerCache:
    """One layer's forward values: input ``x``, pre-activation ``a``, output ``h`` and kernel extras."""

    x: np.ndarray
    a: np.ndarray
    h: np.ndarray
    extra: tuple = ()


def _flat(v: np.ndarray) -> np.ndarray:
    return v.reshape(v.shape[0], -1)


class Layer:
    """Base: activation handling; subclasses give the linear part."""

    #: Trainable arrays (updated in place by the optimizer) and their checkpoint names.
    params: list[np.ndarray]
    param_names: list[str]

    def __init__(self, shape: LayerShape, act: int, slope: float):
        self.shape = shape
        self.name = shape.name
        self.act = act if shape.activated else IDENTITY
        self.slope = slope
        self.params = []
        self.param_names = []

    def state(self) -> dict[str, np.ndarray]:
        """Every named array of the layer (parameters and running statistics)."""
        return dict(zip(self.param_names, self.params))

    def _activate(self, x: np.ndarray, a: np.ndarray, extra: tuple = ()) -> tuple[np.ndarray, LayerCache]:
        h = activate(_flat(a), self.act, self.slope).reshape(a.shape)
        return h, LayerCache(x, a, h, extra)

    def forward(self, x: np.ndarray, train: bool, update: bool) -> tuple[np.ndarray, LayerCache]:
        """``(h, cache)``; ``train`` selects batch statistics, ``update`` lets them move running averages."""
        raise NotImplementedError

    def pre_grad(self, g: np.ndarray, cache: LayerCache) -> np.ndarray:
        """``g ⊙ f'(a)`` in place on ``g`` (returned): from ∂/∂h to ∂/∂a."""
        if self.act != IDENTITY:
            activation_backward(_flat(g), _flat(cache.a), _flat(cache.h), self.act, self.slope)
        return g

    def input_grad(self, g: np.ndarray, cache: LayerCache) -> np.ndarray:
        """∂/∂x from ``g = ∂/∂a``."""
        raise NotImplementedError

    def tangent(self, t: np.ndarray, cache: LayerCache) -> np.ndarray:
        """Forward-mode tangent of ``h`` for an input tangent ``t``."""
        raise NotImplementedError

    def _tangent_act(self, lin: np.ndarray, cache: LayerCache) -> np.ndarray:
        return self.pre_grad(lin, cache)


class WeightLayer(Layer):
    """A dense or conv layer: ``weight``, ``bias``, drawn ``U(-1/√fan_in, 1/√fan_in)`` (PyTorch's default)."""

    def __init__(self, shape: LayerShape, act: int, slope: float, rng: np.random.Generator):
        super().__init__(shape, act, slope)
        bound = 1.0 / np.sqrt(shape.rows)
        self.weight = rng.uniform(-bound, bound, shape.weight_shape).astype(np.float32)
        self.bias = rng.uniform(-bound, bound, shape.cols).astype(np.float32)
        self.params = [self.weight, self.bias]
        self.param_names = [f"{self.name}.weight", f"{self.name}.bias"]
        #: ``x → x Wᵀ`` read through RRAM cells (``numerics: device``, :meth:`.device.CrossbarDevice.attach`); None: exact.
        self.reader = None
        #: ``δ → δ W`` read through the same cells (BP's transposed read); None: exact.
        self.transposed_reader = None

    def chain(self, g: np.ndarray, cache: LayerCache, matrix: np.ndarray, groups: int = 1) -> np.ndarray:
        """∂/∂x from ``g = ∂/∂a`` through ``matrix`` (W for BP, B for FA) in ``groups`` blocks."""
        raise NotImplementedError

    def input_grad(self, g: np.ndarray, cache: LayerCache) -> np.ndarray:
        return self.chain(g, cache, self.weight)

    def param_grads(self, g: np.ndarray, cache: LayerCache) -> list[np.ndarray]:
        """Batch-mean ``[ΔW, Δb]`` from ``g = ∂/∂a`` (per-sample)."""
        raise NotImplementedError

    def sgd_update(self, g: np.ndarray, cache: LayerCache, lr: float) -> None:
        """One plain-SGD step ``p ← p - η Δp`` on ``[W, b]`` from ``g = ∂/∂a``, in place."""
        for p, grad in zip(self.params, self.param_grads(g, cache)):
            sgd_step(p, grad, lr)


class Dense(WeightLayer):
    def forward(self, x, train, update):
        x2 = np.ascontiguousarray(_flat(x))
        if self.reader is None:
            a, h = dense_forward(x2, self.weight, self.bias, self.act, self.slope)
        else:  # the MVM read through the cells; bias and activation are digital
            a, h = bias_activation(self.reader(x2), self.bias, self.act, self.slope)
        return h, LayerCache(x2, a, h)

    def chain(self, g, cache, matrix, groups=1):
        if self.transposed_reader is not None and matrix is self.weight:  # BP's read of W through the cells
            return self.transposed_reader(np.ascontiguousarray(g)).reshape((g.shape[0],) + self.shape.in_shape)
        return backward_input(g, matrix).reshape((g.shape[0],) + self.shape.in_shape)

    def param_grads(self, g, cache):
        return list(weight_grad(g, cache.x))

    def sgd_update(self, g, cache, lr):
        dense_sgd_update(g, cache.x, self.weight, self.bias, lr)  # one sgemm into W: no ΔW array

    def tangent(self, t, cache):
        return dense_jvp(np.ascontiguousarray(_flat(t)), self.weight, cache.a, cache.h, self.act, self.slope)


def grouped_block(matrix: np.ndarray, groups: int) -> np.ndarray:
    """The block-diagonal part of a ``(C_out, C_in, k, k)`` kernel as a ``groups``-grouped kernel.

    Output channel ``o`` of group ``q = o // (C_out/g)`` keeps only input channels
    ``q·C_in/g .. (q+1)·C_in/g - 1``: ``(C_out, C_in/g, k, k)``.
    """
    c_out, c_in = matrix.shape[:2]
    o_group, c_group = c_out // groups, c_in // groups
    out = np.empty((c_out, c_group) + matrix.shape[2:], dtype=matrix.dtype)
    for q in range(groups):
        out[q * o_group : (q + 1) * o_group] = matrix[q * o_group : (q + 1) * o_group, q * c_group : (q + 1) * c_group]
    return out


class Conv2d(WeightLayer):
    def forward(self, x, train, update):
        s = self.shape
        x4 = np.ascontiguousarray(x.reshape((x.shape[0],) + s.in_shape))
        a, cols = conv2d_forward(x4, self.weight, self.bias, s.stride, s.padding, s.groups)
        return self._activate(x4, a, (cols,))

    def chain(self, g, cache, matrix, groups=1):
        s = self.shape
        if groups > 1:
            matrix, groups = grouped_block(matrix, groups), groups
        else:
            groups = s.groups
        return conv2d_input_grad(g, matrix, s.in_shape[1], s.in_shape[2], s.stride, s.padding, groups)

    def param_grads(self, g, cache):
        return list(conv2d_weight_grad(g, cache.extra[0], self.shape.kernel, self.shape.groups))

    def tangent(self, t, cache):
        s = self.shape
        zero = np.zeros_like(self.bias)
        lin, _ = conv2d_forward(np.ascontiguousarray(t), self.weight, zero, s.stride, s.padding, s.groups)
        return self._tangent_act(lin, cache)


class Pool(Layer):
    def forward(self, x, train, update):
        s = self.shape
        if s.kind == "maxpool":
            a, arg = maxpool_forward(x, s.kernel, s.stride)
            return self._activate(x, a, (arg,))
        return self._activate(x, avgpool_forward(x, s.kernel, s.stride))

    def input_grad(self, g, cache):
        s = self.shape
        _, height, width = s.in_shape
        if s.kind == "maxpool":
            return maxpool_backward(g, cache.extra[0], height, width)
        return avgpool_backward(g, s.kernel, s.stride, height, width)

    def tangent(self, t, cache):
        s = self.shape
        lin = maxpool_gather(t, cache.extra[0]) if s.kind == "maxpool" else avgpool_forward(t, s.kernel, s.stride)
        return self._tangent_act(lin, cache)


class Flatten(Layer):
    def forward(self, x, train, update):
        return self._activate(x, np.ascontiguousarray(_flat(x)))

    def input_grad(self, g, cache):
        return g.reshape((g.shape[0],) + self.shape.in_shape)

    def tangent(self, t, cache):
        return self._tangent_act(np.ascontiguousarray(_flat(t)), cache)


class BatchNorm(Layer):
    """Per channel (conv input) or per feature (flat input); ``frozen`` ones run in eval mode."""

    def __init__(self, shape: LayerShape, act: int, slope: float, momentum: float, eps: float):
        super().__init__(shape, act, slope)
        channels = shape.in_shape[0]
        self.momentum, self.eps = momentum, eps
        self.frozen = False
        self.scale = np.ones(channels, dtype=np.float32)
        self.shift = np.zeros(channels, dtype=np.float32)
        self.running_mean = np.zeros(channels, dtype=np.float32)
        self.running_var = np.ones(channels, dtype=np.float32)
        self.params = [self.scale, self.shift]
        self.param_names = [f"{self.name}.scale", f"{self.name}.shift"]

    def state(self):
        return {**super().state(), f"{self.name}.running_mean": self.running_mean, f"{self.name}.running_var": self.running_var}

    def _x3(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x).reshape(x.shape[0], self.shape.in_shape[0], -1)

    def forward(self, x, train, update):
        x3 = self._x3(x)
        if train and not self.frozen:
            rm, rv = (self.running_mean, self.running_var) if update else (self.running_mean.copy(), self.running_var.copy())
            y, xhat, inv_std = batchnorm_train(x3, self.scale, self.shift, self.eps, rm, rv, self.momentum)
            return self._activate(x, y.reshape(x.shape), (xhat, inv_std))
        y = batchnorm_eval(x3, self.scale, self.shift, self.eps, self.running_mean, self.running_var)
        return self._activate(x, y.reshape(x.shape))

    def backward(self, g: np.ndarray, cache: LayerCache) -> tuple[np.ndarray, list[np.ndarray]]:
        """``(∂/∂x, [Δγ, Δβ])`` from ``g = ∂/∂a``."""
        g3 = self._x3(g)
        if not cache.extra:
            return batchnorm_eval_backward(g3, self.scale, self.running_var, self.eps).reshape(g.shape), []
        dx, dgamma, dbeta = batchnorm_backward(g3, cache.extra[0], self.scale, cache.extra[1])
        return dx.reshape(g.shape), [dgamma, dbeta]

    def input_grad(self, g, cache):
        return self.backward(g, cache)[0]

    def tangent(self, t, cache):
        return self._tangent_act(self.input_grad(np.ascontiguousarray(t), cache), cache)


def make_layer(shape: LayerShape, spec, act: int, slope: float, rng: np.random.Generator) -> Layer:
    """The layer of ``shape`` (``spec`` is its config entry, for batchnorm's momentum and eps)."""
    if shape.kind == "dense":
        return Dense(shape, act, slope, rng)
    if shape.kind == "conv2d":
        return Conv2d(shape, act, slope, rng)
    if shape.kind in ("maxpool", "avgpool"):
        return Pool(shape, act, slope)
    if shape.kind == "flatten":
        return Flatten(shape, act, slope)
    if shape.kind == "batchnorm":
        return BatchNorm(shape, act, slope, spec.momentum, spec.eps)
    raise ValueError(f"unknown layer kind {shape.kind!r}")
