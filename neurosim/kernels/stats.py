"""Sums over large float32 arrays accumulated in float64, in one pass and without float64 copies.

:func:`estimator_sums` serves the estimator-quality figures of
:mod:`neurosim.learning.alignment`: for ``k`` estimates ``ĝ_k`` (rows of ``hats``)
of a gradient ``g``, all of ``P`` entries,

=============  ====================================================
``gg``         ``Σ_p g_p²``
``hh[k]``      ``Σ_p ĝ_kp²``
``hg[k]``      ``Σ_p ĝ_kp g_p``
``dd[k]``      ``Σ_p (ĝ_kp − g_p)²``  (formed per entry: no cancellation)
``spread``     ``Σ_p Σ_k (ĝ_kp − ḡ_p)²`` with ``ḡ_p = (1/k) Σ_k ĝ_kp``
=============  ====================================================

every product and sum in float64 (the inputs are widened one entry at a time).
:func:`row_sums` gives the same per row of two ``(rows, P)`` arrays (``uu, vv, uv``):
the per-sample cosines of the error alignment.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["estimator_sums", "row_sums"]


@njit(cache=True, fastmath={"reassoc", "contract"})
def _sums(hats: np.ndarray, g: np.ndarray, mean: np.ndarray):
    """The sums of :func:`estimator_sums`, each a float64 reduction that LLVM may vectorise
    (re-association: a fixed order for a given build, so the same inputs give the same bits)."""
    draws, size = hats.shape
    hh = np.zeros(draws)
    hg = np.zeros(draws)
    dd = np.zeros(draws)
    gg = 0.0
    for p in range(size):
        gp = np.float64(g[p])
        gg += gp * gp
    for k in range(draws):
        shh = 0.0
        shg = 0.0
        sdd = 0.0
        for p in range(size):
            v = np.float64(hats[k, p])
            gp = np.float64(g[p])
            shh += v * v
            shg += v * gp
            sdd += (v - gp) * (v - gp)
        hh[k], hg[k], dd[k] = shh, shg, sdd
    spread = 0.0
    if draws > 1:
        for k in range(draws):
            for p in range(size):
                mean[p] += np.float64(hats[k, p])
        for p in range(size):
            mean[p] /= draws
        for k in range(draws):
            for p in range(size):
                d = np.float64(hats[k, p]) - mean[p]
                spread += d * d
    return gg, hh, hg, dd, spread


def estimator_sums(hats: np.ndarray, g: np.ndarray):
    """``(gg, hh, hg, dd, spread)`` of ``hats`` (k, P) against ``g`` (P,) (module docstring)."""
    mean = np.zeros(g.shape[0] if hats.shape[0] > 1 else 0)
    return _sums(hats, g, mean)


@njit(cache=True, fastmath={"reassoc", "contract"})
def row_sums(u: np.ndarray, v: np.ndarray):
    """Per row ``r`` of ``u``, ``v`` (rows, P): ``(Σ u², Σ v², Σ u v)`` in float64."""
    rows, size = u.shape
    uu = np.zeros(rows)
    vv = np.zeros(rows)
    uv = np.zeros(rows)
    for r in range(rows):
        suu = 0.0
        svv = 0.0
        suv = 0.0
        for p in range(size):
            a = np.float64(u[r, p])
            b = np.float64(v[r, p])
            suu += a * a
            svv += b * b
            suv += a * b
        uu[r], vv[r], uv[r] = suu, svv, suv
    return uu, vv, uv
