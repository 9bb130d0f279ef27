"""The seed papers' comparison: each algorithm's costs relative to a reference (BP).

Built from costs.csv and summary.json only, so a report can be regenerated from a
run directory.
"""

from __future__ import annotations

import pandas as pd

from ..records import PHASES

__all__ = ["comparison_frame"]


def _metrics(costs: pd.DataFrame, summary: dict) -> pd.DataFrame:
    """One row per algorithm, one column per compared figure (per training step)."""
    rows = {}
    for alg, s in summary["algorithms"].items():
        c = costs[costs["algorithm"] == alg]
        net = c[c["component"] == "network"]
        row: dict[str, float] = {}
        for p in PHASES:
            v = net[(net["phase"] == p) & (net["action"] == "mac")]["count"].sum()
            if v:
                row[f"MACs {p}"] = float(v)
        row["MACs total"] = float(net[net["action"] == "mac"]["count"].sum())
        row["neuron-level bytes, error phase"] = float(net[net["action"].str.startswith("deliver_")]["bytes"].sum())
        hw = c[c["component"] != "network"]
        for p in PHASES:
            v = hw[hw["phase"] == p]["bytes"].sum()
            if v:
                row[f"chip bytes {p}"] = float(v)
        for level, v in s["bytes"]["per_step"].items():
            row[f"chip {level}"] = float(v)
        row["cycles per step"] = float(s["cycles"]["per_step"])
        for p, v in s["cycles"]["phase_critical_path"].items():
            row[f"cycles {p}"] = float(v)
        row["energy pJ per step"] = float(s["energy_pj"]["per_step_total"])
        rows[alg] = row
    return pd.DataFrame(rows).fillna(0.0)


def comparison_frame(costs: pd.DataFrame, summary: dict, reference: str = "bp") -> pd.DataFrame:
    """Figures per step with, for each other algorithm, ``reference / algorithm``
    (how many times less it costs; > 1 means cheaper than the reference)."""
    m = _metrics(costs, summary)
    if reference not in m.columns:
        return m
    out = m.copy()
    for alg in m.columns:
        if alg == reference:
            continue
        ratio = m[reference] / m[alg].where(m[alg] != 0)
        out[f"{reference}/{alg}"] = ratio
    return out
