"""Optimizers: one in-place step over a fixed list of parameter arrays.

The update math is in :mod:`neurosim.kernels.update`; these classes hold the
per-parameter state (velocity, Adam moments, step count).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from neurosim.config.workload import OptimizerConfig
from neurosim.kernels import adam_step, momentum_step, sgd_step

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "make_optimizer"]


class Optimizer(ABC):
    """Updates ``params[i]`` in place from ``grads[i]`` (same shapes, float32).

    ``lr`` is the base rate (the trainer decays it per epoch); parameter ``i``
    steps with ``lr · scales[i]`` (``scales`` from ``optimizer.layer_lr``; all 1 by default).
    """

    def __init__(self, params: Sequence[np.ndarray], lr: float, scales: Sequence[float] | None = None):
        self.params = list(params)
        self.lr = lr
        self.scales = [1.0] * len(self.params) if scales is None else list(scales)
        if len(self.scales) != len(self.params):
            raise ValueError("one learning-rate scale per parameter")

    def rate(self, i: int) -> float:
        """Learning rate of parameter ``i`` this step (exactly ``lr`` at scale 1)."""
        scale = self.scales[i]
        return self.lr if scale == 1.0 else self.lr * scale

    @abstractmethod
    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Apply one update."""


class SGD(Optimizer):
    """``p ← p - η g``."""

    def step(self, grads: Sequence[np.ndarray]) -> None:
        for i, (p, g) in enumerate(zip(self.params, grads)):
            sgd_step(p, g, self.rate(i))


class Momentum(Optimizer):
    """``v ← μ v + g``; ``p ← p - η v`` (velocity starts at 0)."""

    def __init__(self, params: Sequence[np.ndarray], lr: float, momentum: float, scales: Sequence[float] | None = None):
        super().__init__(params, lr, scales)
        self.momentum = momentum
        self.velocity = [np.zeros_like(p) for p in self.params]

    def step(self, grads: Sequence[np.ndarray]) -> None:
        for i, (p, g, v) in enumerate(zip(self.params, grads, self.velocity)):
            momentum_step(p, g, v, self.rate(i), self.momentum)


class Adam(Optimizer):
    """Bias-corrected Adam (Kingma & Ba 2015); moments start at 0."""

    def __init__(self, params: Sequence[np.ndarray], lr: float, beta1: float, beta2: float, eps: float,
                 scales: Sequence[float] | None = None):
        super().__init__(params, lr, scales)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self, grads: Sequence[np.ndarray]) -> None:
        self.t += 1
        for i, (p, g, m, v) in enumerate(zip(self.params, grads, self.m, self.v)):
            adam_step(p, g, m, v, self.rate(i), self.beta1, self.beta2, self.eps, self.t)


def make_optimizer(cfg: OptimizerConfig, params: Sequence[np.ndarray], layers: Sequence[str] | None = None) -> Optimizer:
    """The optimizer named by ``cfg.name`` over ``params``; ``layers[i]`` names the layer of
    ``params[i]``, whose rate is ``cfg.layer_lr[layer]`` when listed (else ``cfg.learning_rate``)."""
    scales = None
    if layers is not None and cfg.layer_lr:
        scales = [cfg.layer_lr[name] / cfg.learning_rate if name in cfg.layer_lr else 1.0 for name in layers]
    if cfg.name == "sgd":
        return SGD(params, cfg.learning_rate, scales)
    if cfg.name == "momentum":
        return Momentum(params, cfg.learning_rate, cfg.momentum, scales)
    if cfg.name == "adam":
        return Adam(params, cfg.learning_rate, cfg.beta1, cfg.beta2, cfg.eps, scales)
    raise ValueError(f"unknown optimizer {cfg.name!r}")
