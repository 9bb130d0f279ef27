"""The cell's conductance curves in NumPy: NeuroSim's nonlinearity label, the curve and its
inverse (twins of :mod:`neurosim.kernels.device`), and the LTP/LTD symmetry point."""

from __future__ import annotations

import numpy as np

__all__ = ["GAP_PER_LABEL", "shape_from_label", "curve_np", "curve_inverse_np", "symmetry_point"]

#: The curve's largest gap to the straight line per unit of NeuroSim's nonlinearity label.
GAP_PER_LABEL = 0.0989949


def _gap(a: np.ndarray) -> np.ndarray:
    """Largest ``g(p) - p`` of the curve with shape ``a > 0`` (at ``p* = -a ln(a (1 - e^{-1/a}))``)."""
    norm = 1.0 - np.exp(-1.0 / a)
    p = np.clip(-a * np.log(a * norm), 0.0, 1.0)
    return (1.0 - np.exp(-p / a)) / norm - p


def shape_from_label(label: np.ndarray | float) -> np.ndarray:
    """Curve shape ``A > 0`` whose largest gap to the line is ``GAP_PER_LABEL · |label|`` (0 for label 0)."""
    target = GAP_PER_LABEL * np.abs(np.asarray(label, dtype=np.float64))
    if np.any(target >= 0.999):
        raise ValueError("nonlinearity label above 10 has no curve")
    lo = np.full(target.shape, np.log(1e-4))
    hi = np.full(target.shape, np.log(1e6))
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        big = _gap(np.exp(mid)) > target
        lo = np.where(big, mid, lo)
        hi = np.where(big, hi, mid)
    return np.where(target < 1e-9, 0.0, np.exp(0.5 * (lo + hi)))


def curve_np(p: np.ndarray, a: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`neurosim.kernels.device.curve` (elementwise; ``a == 0`` linear)."""
    p = np.asarray(p, dtype=np.float64)
    a = np.broadcast_to(np.asarray(a, dtype=np.float64), p.shape)
    safe = np.where(a == 0.0, 1.0, a)
    return np.where(a == 0.0, p, (1.0 - np.exp(-p / safe)) / (1.0 - np.exp(-1.0 / safe)))


def curve_inverse_np(g: np.ndarray, a: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`neurosim.kernels.device.curve_inverse` (elementwise; ``a == 0`` linear)."""
    g = np.asarray(g, dtype=np.float64)
    a = np.broadcast_to(np.asarray(a, dtype=np.float64), g.shape)
    safe = np.where(a == 0.0, 1.0, a)
    return np.where(a == 0.0, g, -safe * np.log(1.0 - g * (1.0 - np.exp(-1.0 / safe))))


def _step_line(a: float, levels: int) -> tuple[float, float]:
    """``(c0, c1)`` of one pulse's conductance step ``|Δg| = c0 + c1 g`` on the curve of shape ``a``.

    ``dg/dp = e^{-p/a} / (a (1 - e^{-1/a})) = (1 - g (1 - e^{-1/a})) / (a (1 - e^{-1/a}))``
    and one pulse is ``Δp = 1/levels``; linear (``a = 0``): ``1/levels``.
    """
    if a == 0.0:
        return 1.0 / levels, 0.0
    norm = 1.0 - np.exp(-1.0 / a)
    return 1.0 / (a * norm * levels), -1.0 / (a * levels)


def symmetry_point(a_ltp: float, a_ltd: float, levels_ltp: int, levels_ltd: int) -> float | None:
    """Normalised conductance where one LTP pulse and one LTD pulse move ``g`` by the same amount.

    LTP steps shrink and LTD steps grow with ``g`` (:func:`_step_line`), so the cell
    drifts to this point under updates of random sign (Kim et al., "Zero-shifting
    technique for deep neural network training on resistive cross-point arrays",
    arXiv:1907.10228, 2019). None where the steps never cross inside (0, 1) (e.g. linear
    curves: equal steps everywhere, or one direction always larger).
    """
    up0, up1 = _step_line(a_ltp, levels_ltp)
    down0, down1 = _step_line(a_ltd, levels_ltd)
    if up1 == down1:
        return None
    point = float((down0 - up0) / (up1 - down1))
    return point if 0.0 < point < 1.0 else None
