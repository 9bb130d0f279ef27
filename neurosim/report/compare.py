"""The seed papers' comparison: each algorithm's costs relative to BP, per phase and level.

Built from costs.csv and summary.json only, so it can be regenerated from a run
directory. A row is one figure of one training step (``metric``, ``phase``,
``level``); a column per algorithm holds the figure, and ``B/X`` columns hold
how many times less X costs than the baseline B (BP unless ``--baseline``; above 1: cheaper).

Besides neurosim's architectural figures, the ``ssdfa`` accounting view
(:mod:`neurosim.accounting.ssdfa`, the sparse-DFA authors' metrics code) gives
three metrics per phase and for the whole step: ``MACs (ssdfa view)``,
``moved values (ssdfa view)`` (receive + send) and ``memory values (ssdfa view)``
(read + write).
"""

from __future__ import annotations

import pandas as pd

from ..accounting import ssdfa
from ..records import PHASES
from ..sim import COMPONENT_LEVEL, LEVELS

__all__ = ["COMPARISON", "comparison_frame"]

COMPARISON = "comparison.csv"

_KEY = ["metric", "phase", "level"]

#: The ssdfa view's actions, as comparison metrics (values, not bytes).
_VIEW_METRIC = {"mac_count": "MACs (ssdfa view)", "receive_count": "moved values (ssdfa view)",
                "send_count": "moved values (ssdfa view)", "read_count": "memory values (ssdfa view)",
                "write_count": "memory values (ssdfa view)"}


def _long(costs: pd.DataFrame, summary: dict) -> pd.DataFrame:
    """Long table: metric, phase, level, algorithm, value."""
    net = costs[costs["component"] == "network"]
    hw = costs[costs["component"].isin(list(COMPONENT_LEVEL))].assign(level=lambda d: d["component"].map(COMPONENT_LEVEL))
    view = costs[costs["component"] == ssdfa.COMPONENT]
    view = view.assign(metric=view["action"].map(_VIEW_METRIC))
    view_phase = view.groupby(["algorithm", "phase", "metric"], as_index=False)["count"].sum()
    parts = [
        view_phase.rename(columns={"count": "value"}).assign(level="-"),
        view_phase.groupby(["algorithm", "metric"], as_index=False)["count"].sum()
        .rename(columns={"count": "value"}).assign(phase="step", level="-"),
        net[net["action"] == "mac"].groupby(["algorithm", "phase"], as_index=False)["count"].sum()
        .rename(columns={"count": "value"}).assign(metric="MACs", level="-"),
        net[net["action"].str.startswith("deliver_")].groupby(["algorithm", "phase"], as_index=False)["bytes"].sum()
        .rename(columns={"bytes": "value"}).assign(metric="neuron-level bytes", level="-"),
        hw.groupby(["algorithm", "phase", "level"], as_index=False)["bytes"].sum()
        .rename(columns={"bytes": "value"}).assign(metric="chip bytes"),
        costs[~costs["component"].isin(["network", ssdfa.COMPONENT])].groupby(["algorithm", "phase"], as_index=False)["energy_pj"].sum()
        .rename(columns={"energy_pj": "value"}).assign(metric="energy pJ", level="-"),
    ]
    rows = []
    for alg, s in summary["algorithms"].items():
        for p, v in s["phase_cycles_per_step"].items():
            rows.append({"algorithm": alg, "phase": p, "level": "-", "metric": "critical-path cycles", "value": v})
        rows.append({"algorithm": alg, "phase": "step", "level": "-", "metric": "cycles", "value": s["totals"]["per_step"]["cycles"]})
        rows.append({"algorithm": alg, "phase": "step", "level": "-", "metric": "energy pJ", "value": s["totals"]["per_step"]["energy_pj"]})
        for lv, v in s["bytes"]["per_step"].items():
            rows.append({"algorithm": alg, "phase": "step", "level": lv, "metric": "chip bytes", "value": v})
    parts.append(pd.DataFrame(rows))
    return pd.concat(parts, ignore_index=True)


def comparison_frame(costs: pd.DataFrame, summary: dict) -> pd.DataFrame:
    """One row per (metric, phase, level); one column per algorithm, then ``B/X``
    ratios against the run's baseline ``B`` (none without a baseline)."""
    reference = summary.get("baseline")
    long = _long(costs, summary)
    algs = list(summary["algorithms"])
    wide = long.pivot_table(index=_KEY, columns="algorithm", values="value", aggfunc="sum").fillna(0.0)
    wide = wide.reindex(columns=algs)
    order = {p: i for i, p in enumerate([*PHASES, "step"])}
    lv_order = {lv: i for i, lv in enumerate(["-", *LEVELS])}
    metric_order = {m: i for i, m in enumerate(["MACs", "neuron-level bytes", "chip bytes", "cycles", "critical-path cycles", "energy pJ",
                                                "MACs (ssdfa view)", "moved values (ssdfa view)", "memory values (ssdfa view)"])}
    wide = wide.reset_index()
    wide = wide[wide[algs].abs().sum(axis=1) > 0]
    wide = wide.sort_values(
        by=_KEY, key=lambda c: c.map({"metric": metric_order, "phase": order, "level": lv_order}[c.name]), kind="stable"
    ).reset_index(drop=True)
    if reference in algs:
        for alg in algs:
            if alg != reference:
                wide[f"{reference}/{alg}"] = wide[reference] / wide[alg].where(wide[alg] != 0)
    wide.columns.name = None
    return wide
