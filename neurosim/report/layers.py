"""The per-layer view: one step's MACs, energy, busy unit-cycles and bytes per
(algorithm, layer, phase), from the ledger (costs.csv) alone.

=================  ==============================================================
column             what it sums over the ledger rows of (algorithm, layer, phase)
=================  ==============================================================
``macs``           ``count`` of the ``network``/``mac`` rows (algorithm level)
``energy_pj``      ``energy_pj`` of every hardware row
``busy_cycles``    ``cycles`` of every hardware row: unit-cycles the layer's ops
                   kept the chip's units busy (not wall time: units work in parallel)
``bytes_<level>``  ``bytes`` of the hardware rows of that level (crossbar_io: dac +
                   adc, sram, noc_byte_hops: noc, dram)
=================  ==============================================================

Layers keep the ledger's names (fc1, conv1, pool1, ...) in order of first appearance.
"""

from __future__ import annotations

import pandas as pd

from ..records import PHASES
from ..sim import COMPONENT_LEVEL, LEVELS

__all__ = ["HARDWARE", "LAYER_COLUMNS", "layer_frame", "layer_summary"]

#: The chip's components: the ledger rows that carry energy and busy cycles (not
#: ``network`` or any other algorithm-level accounting view).
HARDWARE: tuple[str, ...] = ("crossbar", "dac", "adc", "core", "sram", "noc", "dram")

LAYER_COLUMNS = ["macs", "energy_pj", "busy_cycles", *(f"bytes_{lv}" for lv in LEVELS)]


def layer_frame(costs: pd.DataFrame) -> pd.DataFrame:
    """One row per (algorithm, layer, phase) with any cost; columns :data:`LAYER_COLUMNS`."""
    key = ["algorithm", "layer", "phase"]
    net = costs[(costs["component"] == "network") & (costs["action"] == "mac")]
    hw = costs[costs["component"].isin(HARDWARE)]
    parts = [
        net.groupby(key, sort=False)["count"].sum().rename("macs"),
        hw.groupby(key, sort=False)["energy_pj"].sum(),
        hw.groupby(key, sort=False)["cycles"].sum().rename("busy_cycles"),
    ]
    lv = hw.assign(level=hw["component"].map(COMPONENT_LEVEL)).dropna(subset=["level"])
    by_level = lv.pivot_table(index=key, columns="level", values="bytes", aggfunc="sum", sort=False)
    index = pd.MultiIndex.from_frame(costs[key].drop_duplicates())
    for level in LEVELS:
        if level in by_level.columns:
            parts.append(by_level[level].rename(f"bytes_{level}"))
    out = pd.concat([p.reindex(index) for p in parts], axis=1).reindex(columns=LAYER_COLUMNS).fillna(0.0)
    out = out.reset_index()
    out = out[out[LAYER_COLUMNS].abs().sum(axis=1) > 0]
    algs = {a: i for i, a in enumerate(dict.fromkeys(costs["algorithm"]))}
    layers = {name: i for i, name in enumerate(dict.fromkeys(costs["layer"]))}
    phases = {p: i for i, p in enumerate(PHASES)}
    out = out.sort_values(
        key, key=lambda c: c.map({"algorithm": algs, "layer": layers, "phase": phases}[c.name]), kind="stable"
    ).reset_index(drop=True)
    return out[[*key, *LAYER_COLUMNS]]


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def layer_summary(costs: pd.DataFrame) -> dict[str, dict[str, dict[str, dict]]]:
    """``{algorithm: {layer: {phase: {macs, energy_pj, busy_cycles, bytes: {level}}}}}``
    (whole counts as integers) for summary.json."""
    out: dict = {}
    for row in layer_frame(costs).itertuples(index=False):
        cell = {
            "macs": _num(row.macs),
            "energy_pj": float(row.energy_pj),
            "busy_cycles": _num(row.busy_cycles),
            "bytes": {lv: _num(getattr(row, f"bytes_{lv}")) for lv in LEVELS},
        }
        out.setdefault(row.algorithm, {}).setdefault(row.layer, {})[row.phase] = cell
    return out
