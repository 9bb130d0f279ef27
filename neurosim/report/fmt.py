"""How numbers read in tables, sentences and plot axes.

============  ========================================  ==================
kind          rule                                       examples
============  ========================================  ==================
count         whole and below 10^5: digits with commas;   30,184 · 102.3 M
              else up to 4 significant digits, SI prefix
quantity      up to 4 significant digits, SI prefix, unit  191.1 µJ · 7.43 ms
ratio         3 significant digits and ×                  405× · 1.35×
percent       2 decimals and %                            94.55 %
============  ========================================  ==================
"""

from __future__ import annotations

import math

__all__ = ["si", "count", "ratio", "percent", "energy", "seconds", "tick_formatter"]

_PREFIXES = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")]


def _sig(v: float, digits: int) -> str:
    """``v`` with up to ``digits`` significant digits, no exponent below 10^digits."""
    return f"{v:.{digits}g}"


def si(v: float, unit: str = "", digits: int = 4) -> str:
    """``1.023e8`` -> ``102.3 M``; ``0.00743, "s"`` -> ``7.43 ms``."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if v == 0:
        return f"0 {unit}".strip()
    i = next((k for k, (scale, _) in enumerate(_PREFIXES) if abs(v) >= scale), len(_PREFIXES) - 1)
    text = _sig(v / _PREFIXES[i][0], digits)
    if abs(float(text)) >= 1000 and i > 0:  # 999.96 k rounds up to 1 M
        i -= 1
        text = _sig(v / _PREFIXES[i][0], digits)
    return f"{text} {_PREFIXES[i][1]}{unit}".strip()


def count(v: float) -> str:
    """A count: an integer with commas below 100,000 (rounded), SI above."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if abs(v) < 1e5:
        return f"{round(v):,}"
    return si(v)


def ratio(r: float | None) -> str:
    if r is None or not math.isfinite(r) or r <= 0:
        return "–"
    return f"{float(_sig(r, 3)):g}×" if r < 1e4 else f"{r:,.0f}×"


def percent(fraction: float | None) -> str:
    if fraction is None or (isinstance(fraction, float) and not math.isfinite(fraction)):
        return "–"
    return f"{100 * fraction:.2f} %"


def energy(pj: float) -> str:
    """Picojoules as joules with an SI prefix: ``1.911e8`` -> ``191.1 µJ``."""
    return si(pj * 1e-12, "J")


def seconds(s: float) -> str:
    return si(s, "s", 3)


def tick_formatter(unit: str = ""):
    """A matplotlib formatter: SI-prefixed ticks, integers where the tick is whole."""
    from matplotlib.ticker import FuncFormatter

    def fmt(v, _pos):
        if v == 0:
            return "0"
        if abs(v) < 1e3 and float(v).is_integer():
            return f"{int(v)}{(' ' + unit) if unit else ''}"
        return si(v, unit, 3)

    return FuncFormatter(fmt)
