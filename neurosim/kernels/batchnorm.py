r"""Batch normalisation, forward and backward side by side (Ioffe & Szegedy 2015).

The input is viewed as ``x[n, c, m]`` (``(N, C)`` after a dense layer: ``m`` has one
value; ``(N, C, H, W)`` after a conv layer: ``m`` runs over the ``H·W`` positions), so
per channel ``c`` the statistics run over ``M = N·HW`` values.

==========  =========================================================================
train       ``μ = mean(x)``, ``σ² = mean((x - μ)²)`` (biased), ``x̂ = (x - μ)/√(σ² + ε)``,
            ``y = γ x̂ + β``; running averages (PyTorch's convention, momentum ``ρ``):
            ``μ_r ← (1 - ρ) μ_r + ρ μ``, ``σ²_r ← (1 - ρ) σ²_r + ρ σ² · M/(M - 1)``
eval        ``y = γ (x - μ_r)/√(σ²_r + ε) + β``
backward    (train) ``dx = γ/√(σ² + ε) · (g - mean(g) - x̂ · mean(g x̂))``, the gradient
            of the summed loss; ``dγ = (1/N) Σ g x̂``, ``dβ = (1/N) Σ g`` (batch mean, as
            for the weights); (eval) ``dx = γ/√(σ²_r + ε) · g``
tangent     the train-mode Jacobian is symmetric, so the forward-mode tangent of ``t``
            is :func:`batchnorm_backward`'s ``dx`` of ``t``
==========  =========================================================================
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["batchnorm_train", "batchnorm_eval", "batchnorm_backward", "batchnorm_eval_backward"]


@njit(cache=True)
def batchnorm_train(x3: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float,
                    running_mean: np.ndarray, running_var: np.ndarray, momentum: float):
    """Train-mode forward on ``x3`` (N, C, M); updates the running statistics in place.

    Returns ``(y, xhat, inv_std)``.
    """
    batch, channels, m = x3.shape
    count = batch * m
    y = np.empty_like(x3)
    xhat = np.empty_like(x3)
    inv_std = np.empty(channels, dtype=x3.dtype)
    for c in range(channels):
        total = 0.0
        for n in range(batch):
            for k in range(m):
                total += x3[n, c, k]
        mean = total / count
        sq = 0.0
        for n in range(batch):
            for k in range(m):
                d = x3[n, c, k] - mean
                sq += d * d
        var = sq / count
        inv = 1.0 / np.sqrt(var + eps)
        inv_std[c] = inv
        for n in range(batch):
            for k in range(m):
                v = (x3[n, c, k] - mean) * inv
                xhat[n, c, k] = v
                y[n, c, k] = gamma[c] * v + beta[c]
        unbiased = var * count / (count - 1) if count > 1 else var
        running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mean
        running_var[c] = (1.0 - momentum) * running_var[c] + momentum * unbiased
    return y, xhat, inv_std


@njit(cache=True)
def batchnorm_eval(x3: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float,
                   running_mean: np.ndarray, running_var: np.ndarray) -> np.ndarray:
    """Eval-mode forward with the running statistics."""
    batch, channels, m = x3.shape
    y = np.empty_like(x3)
    for c in range(channels):
        scale = gamma[c] / np.sqrt(running_var[c] + eps)
        for n in range(batch):
            for k in range(m):
                y[n, c, k] = (x3[n, c, k] - running_mean[c]) * scale + beta[c]
    return y


@njit(cache=True)
def batchnorm_backward(g3: np.ndarray, xhat: np.ndarray, gamma: np.ndarray, inv_std: np.ndarray):
    """Train-mode backward: ``(dx, dgamma, dbeta)`` (see the module table)."""
    batch, channels, m = g3.shape
    count = batch * m
    dx = np.empty_like(g3)
    dgamma = np.empty(channels, dtype=g3.dtype)
    dbeta = np.empty(channels, dtype=g3.dtype)
    for c in range(channels):
        sum_g = 0.0
        sum_gx = 0.0
        for n in range(batch):
            for k in range(m):
                sum_g += g3[n, c, k]
                sum_gx += g3[n, c, k] * xhat[n, c, k]
        mean_g = sum_g / count
        mean_gx = sum_gx / count
        scale = gamma[c] * inv_std[c]
        for n in range(batch):
            for k in range(m):
                dx[n, c, k] = scale * (g3[n, c, k] - mean_g - xhat[n, c, k] * mean_gx)
        dgamma[c] = sum_gx / batch
        dbeta[c] = sum_g / batch
    return dx, dgamma, dbeta


@njit(cache=True)
def batchnorm_eval_backward(g3: np.ndarray, gamma: np.ndarray, running_var: np.ndarray, eps: float) -> np.ndarray:
    """Eval-mode input gradient ``γ/√(σ²_r + ε) · g`` (the statistics are constants)."""
    batch, channels, m = g3.shape
    dx = np.empty_like(g3)
    for c in range(channels):
        scale = gamma[c] / np.sqrt(running_var[c] + eps)
        for n in range(batch):
            for k in range(m):
                dx[n, c, k] = scale * g3[n, c, k]
    return dx
