"""The ledger: tidy cost records of one training step, with energy as a post-pass.

Counting code (``neurosim.counts``) and the simulator (``neurosim.sim``) emit
:class:`~neurosim.records.Record` rows without energy. :func:`build` turns them
into one DataFrame and :func:`apply_energy` multiplies each hardware row's count
by the per-action figure of the hwconfig's energy table (Accelergy-style), so
every picojoule can be traced to one line of a config. :func:`energy_by_component_of`
prices records the same way without a frame (the preflight's check, before pandas
is loaded).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Iterable

from .accounting import VIEW_COMPONENTS
from .config.hw import HwConfig
from .errors import ConfigError
from .records import PHASES, Record

if TYPE_CHECKING:  # pandas loads when a frame is built
    import pandas as pd

__all__ = ["COLUMNS", "build", "apply_energy", "energy_by_component_of", "macs_by_phase", "energy_by_component", "totals"]

#: costs.csv columns, in order.
COLUMNS = ["algorithm", "layer", "phase", "component", "action", "count", "bytes", "cycles", "energy_pj"]

#: Components whose rows are algorithm-level figures, not hardware actions (no energy):
#: neurosim's own counts and the accounting views (:mod:`neurosim.accounting`).
ALGORITHMIC = frozenset({"network"}) | VIEW_COMPONENTS


def build(algorithm: str, records: Iterable[Record]) -> pd.DataFrame:
    """Records of one algorithm -> a ledger frame (energy still zero), rows merged by key."""
    import pandas as pd

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
    import pandas as pd

    out = df.copy()
    figures = [_pj_per_count(comp, action, hw, hw_path) for comp, action in zip(out["component"], out["action"])]
    out["energy_pj"] = out["count"].to_numpy(dtype=float) * pd.Series(figures, index=out.index, dtype=float).to_numpy()
    return out


def _pj_per_count(component: str, action: str, hw: HwConfig, hw_path: str) -> float:
    """The energy table's figure for one count of ``component.action`` (0 for algorithm-level rows)."""
    if component in ALGORITHMIC:
        return 0.0
    entry = hw.energy.get(component, {}).get(action)
    if entry is None:
        raise ConfigError(hw_path, f"energy.{component}.{action}", "missing energy figure for an action the chip performs")
    return entry.energy_pj * hw.energy_factor(component, action)


def _row_order(r: Record) -> tuple:
    """A record's place among the ledger's rows (:func:`build` sorts by layer, phase, component, action)."""
    return r.layer, PHASES.index(r.phase), r.component, r.action


def energy_by_component_of(records: Iterable[Record], hw: HwConfig, hw_path: str = "hwconfig") -> dict[str, float]:
    """Energy per hardware component of ``records`` in pJ, priced as :func:`apply_energy` prices
    the ledger's rows (summed in another order); a missing figure raises the same error, for the
    same action (the first missing one in the ledger's row order)."""
    records = sorted(records, key=_row_order)
    out: dict[str, float] = {}
    for r in records:
        if r.component not in ALGORITHMIC:
            out[r.component] = out.get(r.component, 0.0) + r.count * _pj_per_count(r.component, r.action, hw, hw_path)
    return dict(sorted(out.items()))


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
