"""In-place parameter updates (one optimizer step on one parameter array).

Every kernel works on flat views (``p.reshape(-1)`` of a C-contiguous array is
a view, so the caller's array is updated). ``lr`` is the learning rate ``η``.

- SGD:       ``p ← p - η g``
- momentum:  ``v ← μ v + g``;  ``p ← p - η v``  (PyTorch's form, dampening 0)
- Adam:      ``m ← β₁ m + (1-β₁) g``;  ``v ← β₂ v + (1-β₂) g²``;
  ``p ← p - η m̂ / (√v̂ + ε)`` with ``m̂ = m/(1-β₁ᵗ)``, ``v̂ = v/(1-β₂ᵗ)``, ``t ≥ 1``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["sgd_step", "momentum_step", "adam_step"]


@njit(cache=True)
def sgd_step(p: np.ndarray, g: np.ndarray, lr: float) -> None:
    """``p ← p - η g`` in place."""
    pf = p.reshape(-1)
    gf = g.reshape(-1)
    eta = np.float32(lr)
    for i in range(pf.shape[0]):
        pf[i] -= eta * gf[i]


@njit(cache=True)
def momentum_step(p: np.ndarray, g: np.ndarray, v: np.ndarray, lr: float, mu: float) -> None:
    """``v ← μ v + g``; ``p ← p - η v`` in place."""
    pf = p.reshape(-1)
    gf = g.reshape(-1)
    vf = v.reshape(-1)
    eta = np.float32(lr)
    m = np.float32(mu)
    for i in range(pf.shape[0]):
        vi = m * vf[i] + gf[i]
        vf[i] = vi
        pf[i] -= eta * vi


@njit(cache=True)
def adam_step(
    p: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    t: int,
) -> None:
    """One bias-corrected Adam step (step count ``t ≥ 1``) in place on ``p``, ``m``, ``v``."""
    pf = p.reshape(-1)
    gf = g.reshape(-1)
    mf = m.reshape(-1)
    vf = v.reshape(-1)
    b1 = np.float32(beta1)
    b2 = np.float32(beta2)
    c1 = np.float32(1.0 - beta1**t)
    c2 = np.float32(1.0 - beta2**t)
    eta = np.float32(lr)
    ep = np.float32(eps)
    one = np.float32(1.0)
    for i in range(pf.shape[0]):
        gi = gf[i]
        mi = b1 * mf[i] + (one - b1) * gi
        vi = b2 * vf[i] + (one - b2) * gi * gi
        mf[i] = mi
        vf[i] = vi
        pf[i] -= eta * (mi / c1) / (np.sqrt(vi / c2) + ep)
