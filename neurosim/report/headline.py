"""The headline: one row per figure, one column per rule, the baseline's ratio
under each figure. Built from summary.json alone; shared by report.html, the
terminal table and the notebook repr.

A ratio is ``baseline ÷ rule`` (above 1: the rule costs less). Rows, in order:
the figures the question "how much cheaper?" is about first (energy, cycles,
error-phase data movement), then time, accuracy, work and every byte level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..sim import LEVELS
from .fmt import count, energy, percent, ratio, seconds

__all__ = ["Cell", "Row", "headline_rows", "rules_of", "KEY_ROWS"]

_LEVEL_LABEL = {"crossbar_io": "crossbar I/O bytes", "sram": "SRAM bytes", "noc_byte_hops": "NoC byte-hops", "dram": "DRAM bytes"}

#: Rows the first screen must show with their ratio.
KEY_ROWS = ("energy", "cycles", "error_noc", "error_neuron")


@dataclass(frozen=True)
class Cell:
    text: str
    #: baseline ÷ this rule; None in the baseline's own column or without a baseline
    ratio: float | None
    #: what goes under the figure: ``"bp/sdfa = 1.35×"``, or for accuracy ``"−0.50 pt vs bp"``
    note: str


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    cells: dict[str, Cell]


def _phase_bytes(a: dict, phase: str, level: str) -> float:
    return float(sum(cells.get(phase, {}).get("bytes", {}).get(level, 0) for cells in a["per_layer"].values()))


def _figures() -> list[tuple[str, str, Callable[[dict], float | None], Callable[[float], str], bool]]:
    """(key, label, value from an algorithm's summary, formatter, lower is cheaper)."""
    rows = [
        ("energy", "energy / step", lambda a: a["totals"]["per_step"]["energy_pj"], energy, True),
        ("cycles", "cycles / step", lambda a: a["totals"]["per_step"]["cycles"], count, True),
        ("error_noc", "error-phase NoC byte-hops / step", lambda a: _phase_bytes(a, "error", "noc_byte_hops"), count, True),
        ("error_neuron", "error-phase neuron-level bytes / step", lambda a: float(sum(a["neuron_level_bytes_per_step"].values())), count, True),
        ("error_macs", "error-phase MACs / step", lambda a: a["macs"]["per_step"].get("error", 0), count, True),
        ("latency", "chip latency / epoch", lambda a: a["totals"]["per_epoch"]["latency_s"], seconds, True),
        ("accuracy", "test accuracy", lambda a: a["test_accuracy"], percent, False),
        ("macs", "MACs / step", lambda a: a["totals"]["per_step"]["macs"], count, True),
    ]
    for lv in LEVELS:
        rows.append((f"bytes_{lv}", f"{_LEVEL_LABEL[lv]} / step", lambda a, lv=lv: a["bytes"]["per_step"].get(lv, 0), count, True))
    rows.append(("rram_writes", "RRAM writes / cell / epoch (max)",
                 lambda a: a["rram_writes_per_cell_per_epoch"].get("max", 0.0), lambda v: f"{v:,.0f}", True))
    # numerics: device: what the cells' programming measured (docs/device.md)
    rows.append(("device_pulses", "programming pulses / step (measured)",
                 lambda a: _device(a, lambda w: w["ltp_pulses_per_step"] + w["ltd_pulses_per_step"], sum), count, True))
    rows.append(("device_pulses_cell", "pulses / cell over the run (max, measured)",
                 lambda a: _device(a, lambda w: w["pulses_per_cell_max"], max), lambda v: f"{v:,.0f}", True))
    return rows


def _device(a: dict, field: Callable[[dict], float], combine) -> float | None:
    writes = (a.get("device_writes") or {}).values()
    return float(combine(field(w) for w in writes)) if writes else None


def rules_of(summary: dict) -> list[str]:
    return list(summary["algorithms"])


def headline_rows(summary: dict) -> list[Row]:
    algs = summary["algorithms"]
    base = summary.get("baseline")
    out = []
    measured = any(a.get("device_writes") for a in algs.values())
    for key, label, value, fmt, cost in _figures():
        if key.startswith("device_") and not measured:
            continue
        cells = {}
        for name, a in algs.items():
            v = value(a)
            if v is None:
                div = a.get("diverged")
                text = "not trained" if not a.get("trained", True) else (
                    f"diverged (epoch {div['epoch']}, step {div['step']})" if div else "–")
                cells[name] = Cell(text, None, "")
                continue
            r, note = None, ""
            b = value(algs[base]) if base and name != base else None
            if base and name != base and cost:  # an untrained baseline has no measured figures (b None)
                r = None if b is None else (b / v) if v else (1.0 if b == 0 else None)
                note = f"{base}/{name} = {ratio(r) if r is not None else '–'}"
            elif b is not None and not cost:
                note = f"{100 * (v - b):+.2f} pt vs {base}".replace("-", "−")
            cells[name] = Cell(fmt(v), r, note)
        out.append(Row(key, label, cells))
    return out
