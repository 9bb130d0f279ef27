"""The ledger: tidy cost records of one training step, with energy as a post-pass.

Counting code (``neurosim.counts``) and the simulator (``neurosim.sim``) emit
:class:`~neurosim.records.Record` rows without energy. :func:`build` turns them
into one DataFrame and :func:`apply_energy` multiplies each hardware row's count
by the per-action figure of the hwconfig's energy table (Accelergy-style), so
every picojoule can be traced to one line of a config.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Iterable

import pandas as pd

from .accounting import VIEW_COMPONENTS
from .config.hw import HwConfig
from .errors import ConfigError
from .records import PHASES, Record

__all__ = ["COLUMNS", "build", "apply_energy", "macs_by_phase", "energy_by_component", "totals"]

#: costs.csv columns, in order.
COLUMNS = ["algorithm", "layer", "phase", "component", "action", "count", "bytes", "cycles", "energy_pj"]

#: Components whose rows are algorithm-level figures, not hardware actions (no energy):
#: neurosim's own counts and the accounting views (:mod:`neurosim.accounting`).
ALGORITHMIC = frozenset({"network"}) | VIEW_COMPONENTS


def build(algorithm: str, records: Iterable[Record]) -> pd.DataFrame:
    """Records of one algorithm -> a ledger frame (energy still zero), rows merged by key."""
    rows = [dict(asdict(r), algorithm=algorithm) for r in records]
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "energy_pj"])
    key = ["algorithm", "layer", "phase", "component", "action"]
    df = df.groupby(key, sort=False, as_index=False)[["count", "bytes", "cycles"]].sum()
    df["energy_pj"] = 0.0
    df["phase"] = pd.Categorical(df["phase"], categories=list(PHASES), ordered=True)
    df = df.sort_values(["layer", "phase", "component", "action"], kind="stable").reset_index(drop=True)
    df["phase"] = df["phase"].astype(str)
    return df[COLUMNS]


def apply_energy(df: pd.DataFrame, hw: HwConfig, hw_path: str = "hwconfig") -> pd.DataFrame:
    """Return ``df`` with ``energy_pj = count x energy[component][action].energy_pj``
    (times ``hw.energy_factor``: the ADC resolution law for ``adc.convert``).

    A hardware action with no entry in the table is a config error naming the
    missing ``energy.<component>.<action>`` field.
    """
    out = df.copy()
    figures = []
    for comp, action in zip(out["component"], out["action"]):
        if comp in ALGORITHMIC:
            figures.append(0.0)
            continue
        entry = hw.energy.get(comp, {}).get(action)
        if entry is None:
            raise ConfigError(hw_path, f"energy.{comp}.{action}", "missing energy figure for an action the chip performs")
        figures.append(entry.energy_pj * hw.energy_factor(comp, action))
    out["energy_pj"] = out["count"].to_numpy(dtype=float) * pd.Series(figures, index=out.index, dtype=float).to_numpy()
    return out


def macs_by_phase(df: pd.DataFrame) -> dict[str, float]:
    """Algorithm-level MACs of one step per phase (rows ``network``/``mac``)."""
    m = df[(df["component"] == "network") & (df["action"] == "mac")]
    return {p: float(v) for p, v in m.groupby("phase", sort=False)["count"].sum().items()}


def energy_by_component(df: pd.DataFrame) -> dict[str, float]:
    hw_rows = df[~df["component"].isin(ALGORITHMIC)]
    return {c: float(v) for c, v in hw_rows.groupby("component", sort=True)["energy_pj"].sum().items()}


def totals(df: pd.DataFrame, by: list[str], value: str, where: dict[str, object] | None = None) -> dict:
    """Sum ``value`` grouped by ``by`` after filtering ``where`` (column == value)."""
    sel = df
    for col, val in (where or {}).items():
        sel = sel[sel[col] == val]
    g = sel.groupby(by, sort=True)[value].sum()
    return {k if not isinstance(k, tuple) else "/".join(k): float(v) for k, v in g.items()}
