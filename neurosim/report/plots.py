"""PNG plots of a run, drawn only from the run's data files (fixed names)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..mapping.draw import draw_placement_frame  # noqa: E402
from ..records import PHASES  # noqa: E402
from .compare import COMPARISON  # noqa: E402
from .files import COSTS, PLACEMENT, SUMMARY, TRAINING, atomic_write_bytes  # noqa: E402

__all__ = ["PLOTS", "draw_all"]

#: Plot file name -> what it shows.
PLOTS = {
    "accuracy.png": "test and train accuracy per epoch",
    "alignment.png": "angle between each rule's update and BP's gradient, per layer and epoch",
    "macs_by_phase.png": "MACs per training step, by phase",
    "data_movement.png": "bytes moved per training step: neuron level by phase, chip by level (log scale)",
    "energy_by_component.png": "energy per training step, by component (stacked)",
    "cycles_by_phase.png": "cycles per training step and per-phase critical path",
    "utilisation.png": "busy fraction of each component during a step",
    "placement.png": "crossbar blocks of each layer on the tile mesh",
    "comparison.png": "how many times less each algorithm costs than BP, per phase and level (log scale)",
}


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _grouped_bars(ax, table: pd.DataFrame, *, log: bool = False, ylabel: str = "") -> None:
    """Bars grouped by the table's index, one colour per column."""
    n = max(len(table.columns), 1)
    width = 0.8 / n
    x = np.arange(len(table.index))
    for i, col in enumerate(table.columns):
        ax.bar(x + (i - (n - 1) / 2) * width, table[col].to_numpy(dtype=float), width, label=str(col))
    ax.set_xticks(x, [str(i) for i in table.index], rotation=0)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def _accuracy(training: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, g in training.groupby("algorithm", sort=False):
        line = ax.plot(g["epoch"], 100 * g["test_accuracy"], marker="o", ms=3, label=f"{name} test")[0]
        ax.plot(g["epoch"], 100 * g["train_accuracy"], ls="--", color=line.get_color(), alpha=0.6, label=f"{name} train")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    _save(fig, path)


def _alignment(training: pd.DataFrame, path: Path) -> None:
    cols = [c for c in training.columns if c.startswith("alignment_deg_")]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, g in training.groupby("algorithm", sort=False):
        for c in cols:
            if g[c].notna().any() and name != "bp":
                ax.plot(g["epoch"], g[c], marker=".", label=f"{name} {c.removeprefix('alignment_deg_')}")
    ax.axhline(90, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("angle to BP gradient (deg)")
    ax.grid(alpha=0.3)
    if ax.lines[1:]:
        ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


def _phase_table(costs: pd.DataFrame, component: str, action: str, value: str) -> pd.DataFrame:
    sel = costs[(costs["component"] == component) & (costs["action"] == action)]
    t = sel.pivot_table(index="phase", columns="algorithm", values=value, aggfunc="sum", sort=False).fillna(0.0)
    order = [p for p in PHASES if p in t.index]
    algs = list(dict.fromkeys(costs["algorithm"]))
    return t.reindex(index=order, columns=[a for a in algs if a in t.columns])


def _macs(costs: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4))
    t = _phase_table(costs, "network", "mac", "count")
    t = t.loc[[p for p in t.index if t.loc[p].sum() > 0]]
    _grouped_bars(ax, t, log=True, ylabel="MACs per step")
    _save(fig, path)


def _data_movement(costs: pd.DataFrame, summary: dict, path: Path) -> None:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    net = costs[(costs["component"] == "network") & costs["action"].str.startswith("deliver_")]
    t = net.pivot_table(index="action", columns="algorithm", values="bytes", aggfunc="sum", sort=False).fillna(0.0)
    _grouped_bars(a1, t.clip(lower=1.0), log=True, ylabel="bytes per step")
    a1.set_title("neuron level, error phase")
    lv = pd.DataFrame({a: s["bytes"]["per_step"] for a, s in summary["algorithms"].items()})
    _grouped_bars(a2, lv.clip(lower=1.0), log=True, ylabel="bytes per step")
    a2.set_title("chip, by level")
    _save(fig, path)


def _energy(summary: dict, path: Path) -> None:
    algs = list(summary["algorithms"])
    e = pd.DataFrame({a: summary["algorithms"][a]["energy_pj"]["per_step"] for a in algs}).fillna(0.0)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    bottom = np.zeros(len(algs))
    for comp in e.index:
        vals = e.loc[comp, algs].to_numpy(dtype=float) / 1e6
        ax.bar(algs, vals, bottom=bottom, label=comp)
        bottom += vals
    ax.set_ylabel("energy per step (µJ)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def _cycles(summary: dict, path: Path) -> None:
    algs = summary["algorithms"]
    t = pd.DataFrame({a: s["cycles"]["phase_critical_path"] for a, s in algs.items()}).fillna(0.0)
    t = t.reindex([p for p in PHASES if p in t.index])
    t.loc["whole step"] = [s["cycles"]["per_step"] for s in algs.values()]
    fig, ax = plt.subplots(figsize=(7, 4))
    _grouped_bars(ax, t.clip(lower=1.0), log=True, ylabel="cycles")
    _save(fig, path)


def _utilisation(summary: dict, path: Path) -> None:
    t = pd.DataFrame({a: s["utilisation"] for a, s in summary["algorithms"].items()}).fillna(0.0)
    fig, ax = plt.subplots(figsize=(7, 4))
    _grouped_bars(ax, 100 * t, ylabel="busy (%)")
    _save(fig, path)


def _placement(placement: pd.DataFrame, summary: dict, path: Path) -> None:
    first = placement["algorithm"].iloc[0] if len(placement) else None
    # the algorithm with the most blocks shows every matrix kind it places
    if len(placement):
        first = placement.groupby("algorithm").size().idxmax()
    p = placement[placement["algorithm"] == first]
    mesh = summary["hwconfig"]["noc"]["mesh"]
    rows, cols = (int(v) for v in mesh.split("x"))
    fig, ax = plt.subplots(figsize=(6, 6))
    draw_placement_frame(ax, p, rows, cols, f"placement ({first}); number = blocks on the tile, outline = home tile")
    _save(fig, path)


def _comparison(comp: pd.DataFrame, path: Path) -> None:
    ratio_cols = [c for c in comp.columns if c.startswith("bp/")]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    if ratio_cols:
        keep = comp[comp["metric"].isin(["MACs", "neuron-level bytes", "chip bytes", "cycles", "critical-path cycles"])]
        keep = keep[keep["phase"].isin(["error", "step"]) | (keep["metric"] == "MACs")]
        keep = keep.dropna(subset=ratio_cols)  # a figure an algorithm does not incur at all has no ratio
        labels = [f"{m}\n{p}" + ("" if lv == "-" else f" {lv}") for m, p, lv in zip(keep["metric"], keep["phase"], keep["level"])]
        table = keep[ratio_cols].set_axis(labels)
        _grouped_bars(ax, table, log=True, ylabel="BP cost / algorithm cost")
        ax.axhline(1.0, color="black", lw=0.8)
        ax.tick_params(axis="x", labelsize=7, rotation=60)
    else:
        ax.text(0.5, 0.5, "no BP in this run: nothing to compare against", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    _save(fig, path)


def draw_all(run_dir: Path) -> list[str]:
    """Draw every plot of :data:`PLOTS` from the files in ``run_dir``; return the names."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / SUMMARY).read_text())
    costs = pd.read_csv(run_dir / COSTS)
    training = pd.read_csv(run_dir / TRAINING)
    placement = pd.read_csv(run_dir / PLACEMENT)
    comparison = pd.read_csv(run_dir / COMPARISON)
    _accuracy(training, run_dir / "accuracy.png")
    _alignment(training, run_dir / "alignment.png")
    _macs(costs, run_dir / "macs_by_phase.png")
    _data_movement(costs, summary, run_dir / "data_movement.png")
    _energy(summary, run_dir / "energy_by_component.png")
    _cycles(summary, run_dir / "cycles_by_phase.png")
    _utilisation(summary, run_dir / "utilisation.png")
    _placement(placement, summary, run_dir / "placement.png")
    _comparison(comparison, run_dir / "comparison.png")
    return list(PLOTS)
