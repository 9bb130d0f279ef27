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
    """Updates ``params[i]`` in place from ``grads[i]`` (same shapes, float32)."""

    def __init__(self, params: Sequence[np.ndarray], lr: float):
        self.params = list(params)
        self.lr = lr

    @abstractmethod
    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Apply one update."""


class SGD(Optimizer):
    """``p ← p - η g``."""

    def step(self, grads: Sequence[np.ndarray]) -> None:
        for p, g in zip(self.params, grads):
            sgd_step(p, g, self.lr)


class Momentum(Optimizer):
    """``v ← μ v + g``; ``p ← p - η v`` (velocity starts at 0)."""

    def __init__(self, params: Sequence[np.ndarray], lr: float, momentum: float):
        super().__init__(params, lr)
        self.momentum = momentum
        self.velocity = [np.zeros_like(p) for p in self.params]

    def step(self, grads: Sequence[np.ndarray]) -> None:
        for p, g, v in zip(self.params, grads, self.velocity):
            momentum_step(p, g, v, self.lr, self.momentum)


class Adam(Optimizer):
    """Bias-corrected Adam (Kingma & Ba 2015); moments start at 0."""

    def __init__(self, params: Sequence[np.ndarray], lr: float, beta1: float, beta2: float, eps: float):
        super().__init__(params, lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self, grads: Sequence[np.ndarray]) -> None:
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            adam_step(p, g, m, v, self.lr, self.beta1, self.beta2, self.eps, self.t)


def make_optimizer(cfg: OptimizerConfig, params: Sequence[np.ndarray]) -> Optimizer:
    """The optimizer named by ``cfg.name`` over ``params``."""
    if cfg.name == "sgd":
        return SGD(params, cfg.learning_rate)
    if cfg.name == "momentum":
        return Momentum(params, cfg.learning_rate, cfg.momentum)
    if cfg.name == "adam":
        return Adam(params, cfg.learning_rate, cfg.beta1, cfg.beta2, cfg.eps)
    raise ValueError(f"unknown optimizer {cfg.name!r}")
