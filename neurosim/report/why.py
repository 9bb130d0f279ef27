"""Generated sentences that say where a rule's saving over the baseline comes from.

Every number is read from the run's ledger (costs.csv) and summary.json; the
wording only chooses "less"/"more" and orders the figures by size:

1. the whole step: energy, cycles and latency per epoch, baseline ÷ rule;
2. energy: the phase holding the largest share of the energy difference, its two
   components that differ most, and the (layer, phase) cell that differs most;
3. the error phase's data movement per level (crossbar I/O, SRAM, NoC byte-hops,
   DRAM), the neuron-level error values and the error MACs behind it;
4. time: the error phase's critical path and the longest phase of each;
5. what the rule spends more on (any phase × component above 1 % of the
   baseline's step energy), so a saving is never stated without its price.
"""

from __future__ import annotations

import pandas as pd

from ..records import PHASES
from ..sim import COMPONENT_LEVEL, LEVELS
from .fmt import count, energy, ratio, seconds
from .layers import HARDWARE

__all__ = ["why", "compare_word"]

_LEVEL_NAMES = {"crossbar_io": "crossbar I/O bytes", "sram": "SRAM bytes", "noc_byte_hops": "NoC byte-hops", "dram": "DRAM bytes"}


def compare_word(base: float, value: float, less: str = "less", more: str = "more") -> str:
    """``"1.35× less"`` when ``value`` is below ``base``, ``"1.2× more"`` above,
    ``"the same"`` equal, ``"all ... gone"``-style ``"no"`` when ``value`` is zero."""
    if base == value:
        return "the same"
    if value == 0:
        return "no"
    if base == 0:
        return "new"
    r = base / value
    return f"{ratio(r)} {less}" if r > 1 else f"{ratio(1 / r)} {more}"


def _change(bv: float, xv: float) -> str:
    """``"is 2.8× lower (35.5 µJ → 12.7 µJ)"``; ``"falls to zero (35.5 µJ → 0)"``; ``"appears (0 → 0.75 µJ)"``."""
    if xv == 0:
        return f"falls to zero ({energy(bv)} → 0)"
    if bv == 0:
        return f"appears (0 → {energy(xv)})"
    return f"is {compare_word(bv, xv, 'lower', 'higher')} ({energy(bv)} → {energy(xv)})"


def _moved(bv: float, xv: float, label: str) -> str:
    """``"432× fewer NoC byte-hops (3.07 M → 7,104)"``; ``"no crossbar I/O bytes (22.0 M → 0)"``."""
    if xv == 0:
        return f"no {label} ({count(bv)} → 0)"
    if bv == 0:
        return f"{label} it did not move before (0 → {count(xv)})"
    return f"{compare_word(bv, xv, 'fewer', 'more')} {label} ({count(bv)} → {count(xv)})"


def _energy_cells(costs: pd.DataFrame, alg: str, by: list[str]) -> pd.Series:
    hw = costs[(costs["algorithm"] == alg) & costs["component"].isin(HARDWARE)]
    return hw.groupby(by)["energy_pj"].sum()


def _step(s: dict, base: str, alg: str) -> str:
    b, x = s["algorithms"][base]["totals"]["per_step"], s["algorithms"][alg]["totals"]["per_step"]
    be, xe = s["algorithms"][base]["totals"]["per_epoch"], s["algorithms"][alg]["totals"]["per_epoch"]
    return (
        f"Per training step {alg} uses {compare_word(b['energy_pj'], x['energy_pj'])} energy than {base} "
        f"({energy(x['energy_pj'])} vs {energy(b['energy_pj'])}) and takes {compare_word(b['cycles'], x['cycles'], 'fewer')} cycles "
        f"({count(x['cycles'])} vs {count(b['cycles'])}); an epoch on the chip takes {seconds(xe['latency_s'])} "
        f"vs {seconds(be['latency_s'])}."
    )


def _energy(costs: pd.DataFrame, base: str, alg: str) -> str | None:
    b = _energy_cells(costs, base, ["phase", "component"])
    x = _energy_cells(costs, alg, ["phase", "component"])
    diff = b.sub(x, fill_value=0.0)
    total = float(diff.sum())
    if total == 0:
        return None
    sign = 1.0 if total > 0 else -1.0
    by_phase = (sign * diff).groupby(level="phase").sum().sort_values(ascending=False)
    phase = str(by_phase.index[0])
    comps = (sign * diff.xs(phase, level="phase")).sort_values(ascending=False).head(2)
    parts = []
    for comp in comps.index:
        bv, xv = float(b.get((phase, comp), 0.0)), float(x.get((phase, comp), 0.0))
        parts.append(f"{comp} energy {_change(bv, xv)}")
    against = (-sign * diff.xs(phase, level="phase")).sort_values(ascending=False)
    if len(against) and against.iloc[0] > 0:  # the component that moves the other way
        comp = against.index[0]
        bv, xv = float(b.get((phase, comp), 0.0)), float(x.get((phase, comp), 0.0))
        parts.append(f"while {comp} energy {_change(bv, xv)}")
    what = "saved" if sign > 0 else "added"
    text = (
        f"{100 * by_phase.iloc[0] / abs(total):.0f} % of the energy {what} ({energy(by_phase.iloc[0])} of {energy(abs(total))}) "
        f"is in the {phase} phase: {', '.join(parts)}."
    )
    bl = _energy_cells(costs, base, ["layer", "phase"])
    xl = _energy_cells(costs, alg, ["layer", "phase"])
    cell = (sign * bl.sub(xl, fill_value=0.0)).sort_values(ascending=False)
    if len(cell) > 1:
        layer, lphase = cell.index[0]
        text += f" By layer, {layer}'s {lphase} phase differs most ({energy(bl.get((layer, lphase), 0.0))} → {energy(xl.get((layer, lphase), 0.0))})."
    return text


def _error_phase(costs: pd.DataFrame, base: str, alg: str) -> str | None:
    err = costs[costs["phase"] == "error"]
    hw = err[err["component"].isin(list(COMPONENT_LEVEL))]
    lv = hw.assign(level=hw["component"].map(COMPONENT_LEVEL)).groupby(["algorithm", "level"])["bytes"].sum()
    items = []
    for level in LEVELS:
        bv, xv = float(lv.get((base, level), 0.0)), float(lv.get((alg, level), 0.0))
        if bv or xv:
            items.append((bv / xv if xv else float("inf"), level, bv, xv))
    if not items:
        return None
    items.sort(key=lambda t: -t[0])
    moves = ", ".join(_moved(bv, xv, _LEVEL_NAMES[level]) for _, level, bv, xv in items)
    net = err[err["component"] == "network"].groupby(["algorithm", "action"])["count"].sum()
    text = f"In the error phase the chip moves {moves}"
    be, xe = float(net.get((base, "deliver_error"), 0.0)), float(net.get((alg, "deliver_error"), 0.0))
    bm, xm = float(net.get((base, "mac"), 0.0)), float(net.get((alg, "mac"), 0.0))
    if be or xe:
        text += (
            f", because {alg}'s neurons receive {_moved(be, xe, 'error values')} per step "
            f"and the error phase computes {_moved(bm, xm, 'MACs')}"
        )
    return text + "."


def _time(s: dict, base: str, alg: str) -> str | None:
    pb = s["algorithms"][base]["phase_cycles_per_step"]
    px = s["algorithms"][alg]["phase_cycles_per_step"]
    if "error" not in pb or "error" not in px:
        return None
    lb = max(pb, key=pb.get)
    lx = max(px, key=px.get)
    return (
        f"The error phase's critical path is {compare_word(pb['error'], px['error'], 'shorter', 'longer')} "
        f"({count(pb['error'])} → {count(px['error'])} cycles from its first op to its last); "
        f"the longest phase is {lb} for {base} ({count(pb[lb])} cycles) and {lx} for {alg} ({count(px[lx])})."
    )


def _price(costs: pd.DataFrame, s: dict, base: str, alg: str) -> str | None:
    b = _energy_cells(costs, base, ["phase", "component"])
    x = _energy_cells(costs, alg, ["phase", "component"])
    extra = x.sub(b, fill_value=0.0)
    floor = 0.01 * s["algorithms"][base]["totals"]["per_step"]["energy_pj"]
    worse = extra[extra > floor].sort_values(ascending=False)
    if worse.empty:
        return None
    order = {p: i for i, p in enumerate(PHASES)}
    cells = sorted(worse.index[:3], key=lambda k: order.get(k[0], 9))
    parts = [f"{comp} in the {phase} phase ({energy(b.get((phase, comp), 0.0))} → {energy(x.get((phase, comp), 0.0))})" for phase, comp in cells]
    return f"{alg} spends more than {base} on " + "; ".join(parts) + "."


def why(costs: pd.DataFrame, summary: dict, base: str, alg: str) -> list[str]:
    """The sentences for ``alg`` against ``base`` (see the module docstring)."""
    out = [_step(summary, base, alg), _energy(costs, base, alg), _error_phase(costs, base, alg), _time(summary, base, alg),
           _price(costs, summary, base, alg)]
    return [t for t in out if t]
