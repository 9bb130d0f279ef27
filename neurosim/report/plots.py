"""PNG plots of a run, drawn only from the run's data files (fixed names).

Readability rules: SI-prefixed tick labels (``102 M``, not ``1.02e+08``); a log
axis only where values span decades, and then its label says "log scale"; the
ratio plot is labelled with each bar's value; legends sit outside the axes;
accuracy in %; epochs as integers. Each figure is drawn once, at 100 dpi, with
fixed margins (no layout engine and no ``bbox_inches="tight"``: each would draw twice).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from ..mapping.draw import draw_placement_frame  # noqa: E402
from ..records import PHASES  # noqa: E402
from .compare import COMPARISON  # noqa: E402
from .figures import CHIP_PLOTS, PLOTS, TRAINING_PLOTS  # noqa: E402
from .files import ALIGNMENT, COSTS, PLACEMENT, SUMMARY, TRAINING, atomic_write_bytes  # noqa: E402
from .fmt import ratio, tick_formatter  # noqa: E402
from .forked import draw_jobs  # noqa: E402
from .layers import layer_frame  # noqa: E402

__all__ = ["PLOTS", "DPI", "png", "chip_view", "chip_figures", "training_figures", "draw_all"]

DPI = 100

_PHASE_COLOURS = dict(zip(PHASES, ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]))


def _figure(w: float, h: float, ncols: int = 1, nrows: int = 1, *, left: float = 0.9, right: float = 1.5,
            bottom: float = 0.55, top: float = 0.3, **space):
    """A figure with fixed margins in inches (legend room on the right): one draw at save time."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), squeeze=False)
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h, **space)
    return fig, axes


def png(fig) -> bytes:
    """The figure as PNG bytes (no software tag: the same bytes on every run); the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _legend_right(ax, **kw) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, **kw)


def _spans_decades(values) -> bool:
    v = np.asarray([x for x in values if x > 0], dtype=float)
    return len(v) > 1 and v.max() / v.min() > 30


def _grouped_bars(ax, table: pd.DataFrame, *, ylabel: str, unit: str = "", log: bool | None = None, labels: bool = False) -> None:
    """Bars grouped by the table's index, one colour per column; log axis when the
    values span decades (said in the label)."""
    n = max(len(table.columns), 1)
    width = 0.8 / n
    x = np.arange(len(table.index))
    vals = table.to_numpy(dtype=float)
    use_log = _spans_decades(vals.ravel()) if log is None else log
    for i, col in enumerate(table.columns):
        bars = ax.bar(x + (i - (n - 1) / 2) * width, table[col].to_numpy(dtype=float), width, label=str(col))
        if labels:
            ax.bar_label(bars, labels=[ratio(v) for v in table[col].to_numpy(dtype=float)], fontsize=7, padding=1)
    ax.set_xticks(x, [str(i) for i in table.index])
    if use_log:
        ax.set_yscale("log")
        ylabel += " (log scale)"
    ax.yaxis.set_major_formatter(tick_formatter(unit))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    _legend_right(ax)


def _epochs_axis(ax) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _accuracy(training: pd.DataFrame):
    fig, ((ax,),) = _figure(7.5, 4)
    for name, g in training.groupby("algorithm", sort=False):
        line = ax.plot(g["epoch"], 100 * g["test_accuracy"], marker="o", ms=3, label=f"{name} test")[0]
        ax.plot(g["epoch"], 100 * g["train_accuracy"], ls="--", color=line.get_color(), alpha=0.6, label=f"{name} train")
    _epochs_axis(ax)
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    _legend_right(ax)
    return fig


def _alignment(training: pd.DataFrame):
    cols = [c for c in training.columns if c.startswith("alignment_deg_")]
    fig, ((ax,),) = _figure(7.5, 4)
    for name, g in training.groupby("algorithm", sort=False):
        for c in cols:
            if g[c].notna().any() and name != "bp":
                ax.plot(g["epoch"], g[c], marker=".", label=f"{name} {c.removeprefix('alignment_deg_')}")
    ax.axhline(90, color="grey", lw=0.8, ls=":")
    _epochs_axis(ax)
    ax.set_ylabel("angle to BP's gradient (degrees)")
    ax.grid(alpha=0.3)
    _legend_right(ax)
    return fig


def _error_alignment(alignment: pd.DataFrame):
    fig, ((ax,),) = _figure(7.5, 4)
    for (name, layer), g in alignment.groupby(["algorithm", "layer"], sort=False):
        ax.plot(g["step"], g["angle_deg"], marker=".", ms=3, label=f"{name} {layer}")
    ax.axhline(90, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("training step")
    ax.set_ylabel("angle to BP's error signal (degrees)")
    ax.grid(alpha=0.3)
    _legend_right(ax)
    return fig


def _phase_table(costs: pd.DataFrame, component: str, action: str, value: str) -> pd.DataFrame:
    sel = costs[(costs["component"] == component) & (costs["action"] == action)]
    t = sel.pivot_table(index="phase", columns="algorithm", values=value, aggfunc="sum", sort=False).fillna(0.0)
    order = [p for p in PHASES if p in t.index]
    algs = list(dict.fromkeys(costs["algorithm"]))
    return t.reindex(index=order, columns=[a for a in algs if a in t.columns])


def _macs(costs: pd.DataFrame):
    fig, ((ax,),) = _figure(7.5, 4)
    t = _phase_table(costs, "network", "mac", "count")
    t = t.loc[[p for p in t.index if t.loc[p].sum() > 0]]
    _grouped_bars(ax, t, ylabel="MACs per step")
    return fig


def _data_movement(costs: pd.DataFrame, view: dict):
    fig, ((a1, a2),) = _figure(12, 4, ncols=2, wspace=0.55)
    net = costs[(costs["component"] == "network") & costs["action"].str.startswith("deliver_")]
    t = net.pivot_table(index="action", columns="algorithm", values="bytes", aggfunc="sum", sort=False).fillna(0.0)
    t = t.reindex(columns=[a for a in view["algorithms"] if a in t.columns])
    _grouped_bars(a1, t, ylabel="bytes per step", unit="B", log=True)
    a1.set_title("neuron level, error phase", fontsize=10)
    lv = pd.DataFrame({a: s["bytes"]["per_step"] for a, s in view["algorithms"].items()})
    _grouped_bars(a2, lv, ylabel="bytes per step (NoC: byte-hops)", unit="B", log=True)
    a2.set_title("chip, by level", fontsize=10)
    return fig


def _energy(view: dict):
    algs = list(view["algorithms"])
    e = pd.DataFrame({a: view["algorithms"][a]["energy_pj"]["per_step"] for a in algs}).fillna(0.0)
    fig, ((ax,),) = _figure(7, 4)
    bottom = np.zeros(len(algs))
    for comp in e.index:
        vals = e.loc[comp, algs].to_numpy(dtype=float) * 1e-12
        ax.bar(algs, vals, bottom=bottom, label=comp)
        bottom += vals
    ax.yaxis.set_major_formatter(tick_formatter("J"))
    ax.set_ylabel("energy per step")
    ax.grid(axis="y", alpha=0.3)
    _legend_right(ax, reverse=True)
    return fig


def _cycles(view: dict):
    algs = view["algorithms"]
    t = pd.DataFrame({a: s["phase_cycles_per_step"] for a, s in algs.items()}).fillna(0.0)
    t = t.reindex([p for p in PHASES if p in t.index])
    t.loc["whole step"] = [s["cycles_per_step"] for s in algs.values()]
    fig, ((ax,),) = _figure(8, 4)
    _grouped_bars(ax, t, ylabel="cycles", log=False)
    return fig


def _utilisation(view: dict):
    t = pd.DataFrame({a: s["utilisation"] for a, s in view["algorithms"].items()}).fillna(0.0)
    fig, ((ax,),) = _figure(8, 4)
    _grouped_bars(ax, 100 * t, ylabel="busy (%)", log=False)
    return fig


def _placement(placement: pd.DataFrame, view: dict):
    first = placement.groupby("algorithm").size().idxmax() if len(placement) else None
    p = placement[placement["algorithm"] == first]
    rows, cols = (int(v) for v in view["mesh"].split("x"))
    fig, ((ax,),) = _figure(6, 6, left=0.3, right=0.3, bottom=0.3, top=0.5)
    draw_placement_frame(ax, p, rows, cols, f"placement ({first}); number = blocks on the tile, outline = home tile")
    return fig


#: (metric, phase, level) rows of comparison.csv drawn in comparison.png, top to bottom.
_COMPARED = [
    ("energy pJ", "step", "-"), ("cycles", "step", "-"), ("energy pJ", "error", "-"), ("critical-path cycles", "error", "-"),
    ("MACs", "error", "-"), ("neuron-level bytes", "error", "-"), ("chip bytes", "error", "noc_byte_hops"),
    ("chip bytes", "error", "crossbar_io"), ("chip bytes", "error", "sram"), ("chip bytes", "step", "noc_byte_hops"),
    ("chip bytes", "step", "crossbar_io"), ("chip bytes", "step", "sram"), ("chip bytes", "step", "dram"),
]


def _comparison(comp: pd.DataFrame):
    ratio_cols = [c for c in comp.columns if "/" in c]
    if not ratio_cols:
        fig, ((ax,),) = _figure(9, 2, left=0.2, right=0.2)
        ax.text(0.5, 0.5, "no baseline in this run: nothing to compare against", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    idx = comp.set_index(["metric", "phase", "level"])
    keys = [k for k in _COMPARED if k in idx.index and idx.loc[k, ratio_cols].notna().any()]
    table = idx.loc[keys, ratio_cols]
    labels = [f"{p if p != 'step' else 'whole step'}: {m.removesuffix(' pJ')}" + ("" if lv == "-" else f" ({lv})") for m, p, lv in keys]
    n = len(ratio_cols)
    fig, ((ax,),) = _figure(10, 1.2 + 0.26 * len(keys) * max(1, n), left=3.0, bottom=0.6, right=1.3)
    height = 0.8 / n
    y = np.arange(len(keys))
    for i, col in enumerate(ratio_cols):
        vals = table[col].to_numpy(dtype=float)
        bars = ax.barh(y + (i - (n - 1) / 2) * height, vals, height, label=col)
        ax.bar_label(bars, labels=[ratio(v) for v in vals], fontsize=7, padding=2)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", lw=0.8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}×"))
    ax.set_xlabel(f"{ratio_cols[0].split('/')[0]} cost ÷ rule cost (log scale; right of 1×: the rule costs less)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlim(right=ax.get_xlim()[1] * 2.5)  # room for the value labels
    _legend_right(ax)
    return fig


def _layers(costs: pd.DataFrame):
    lf = layer_frame(costs)
    lf = lf.assign(bytes_moved=lf["bytes_crossbar_io"] + lf["bytes_sram"] + lf["bytes_dram"])
    panels = [("energy_pj", "energy per step", "J", 1e-12), ("busy_cycles", "busy unit-cycles per step", "", 1.0),
              ("bytes_moved", "crossbar I/O + SRAM + DRAM bytes per step", "B", 1.0),
              ("bytes_noc_byte_hops", "NoC byte-hops per step", "B", 1.0)]
    algs = list(dict.fromkeys(lf["algorithm"]))
    layers = list(dict.fromkeys(lf["layer"]))
    fig, axes = _figure(12, 7.5, ncols=2, nrows=2, left=0.8, right=0.2, top=0.7, bottom=0.5, hspace=0.45, wspace=0.18)
    width = 0.8 / max(len(algs), 1)
    x0 = np.arange(len(layers))
    for ax, (col, label, unit, scale) in zip(axes.flat, panels):
        t = lf.pivot_table(index=["layer", "algorithm"], columns="phase", values=col, aggfunc="sum").fillna(0.0) * scale
        ticks, names = [], []
        for i, alg in enumerate(algs):
            x = x0 + (i - (len(algs) - 1) / 2) * width
            bottom = np.zeros(len(layers))
            for phase in PHASES:
                if phase not in t.columns:
                    continue
                vals = np.array([t[phase].get((layer, alg), 0.0) for layer in layers])
                ax.bar(x, vals, width * 0.92, bottom=bottom, color=_PHASE_COLOURS[phase], label=phase if i == 0 else None)
                bottom += vals
            ticks += list(x)
            names += [alg] * len(layers)
        ax.set_xticks(ticks, names, fontsize=7, rotation=90 if len(ticks) > 12 else 0)
        below = ax.get_xaxis_transform()  # x in data, y in axes fraction
        for xi, layer in zip(x0, layers):
            ax.text(xi, -0.1 if len(ticks) <= 12 else -0.24, layer, transform=below, ha="center", va="top", fontsize=9)
        ax.margins(y=0.06)
        ax.yaxis.set_major_formatter(tick_formatter(unit))
        ax.set_title(label, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=len(handles), fontsize=9, frameon=False)
    return fig


#: A figure to draw: its file name, the function that draws it and that function's arguments.
Figure = tuple[str, Callable[..., object], tuple]


def chip_view(summary: dict) -> dict:
    """The part of summary.json the chip figures read: each rule's per-step chip figures and the mesh.

    The chip figures see only this, so a run can draw them as soon as its preflight has
    costed every rule (:mod:`.early`) and tell by comparing views that they still hold."""
    keep = ("bytes", "energy_pj")
    return {
        "mesh": summary["hwconfig"]["noc"]["mesh"],
        "algorithms": {
            name: {**{k: {"per_step": s[k]["per_step"]} for k in keep}, "cycles_per_step": s["totals"]["per_step"]["cycles"],
                   "phase_cycles_per_step": s["phase_cycles_per_step"], "utilisation": s["utilisation"]}
            for name, s in summary["algorithms"].items()
        },
    }


def chip_figures(costs: pd.DataFrame, placement: pd.DataFrame, comparison: pd.DataFrame, view: dict) -> list[Figure]:
    """The figures of :data:`.figures.CHIP_PLOTS` (``view``: :func:`chip_view` of the summary)."""
    return [
        ("comparison.png", _comparison, (comparison,)),
        ("data_movement.png", _data_movement, (costs, view)),
        ("macs_by_phase.png", _macs, (costs,)),
        ("layers.png", _layers, (costs,)),
        ("cycles_by_phase.png", _cycles, (view,)),
        ("energy_by_component.png", _energy, (view,)),
        ("utilisation.png", _utilisation, (view,)),
        ("placement.png", _placement, (placement, view)),
    ]


def training_figures(training: pd.DataFrame, alignment: pd.DataFrame) -> list[Figure]:
    """The figures of :data:`.figures.TRAINING_PLOTS`."""
    return [
        ("accuracy.png", _accuracy, (training,)),
        ("alignment.png", _alignment, (training,)),
        ("error_alignment.png", _error_alignment, (alignment,)),
    ]


def read_chip_figures(run_dir: Path) -> list[Figure]:
    summary = json.loads((run_dir / SUMMARY).read_text())
    return chip_figures(pd.read_csv(run_dir / COSTS), pd.read_csv(run_dir / PLACEMENT), pd.read_csv(run_dir / COMPARISON),
                        chip_view(summary))


def read_training_figures(run_dir: Path) -> list[Figure]:
    return training_figures(pd.read_csv(run_dir / TRAINING), pd.read_csv(run_dir / ALIGNMENT))


def write_figure(path: Path, function: Callable[..., object], args: tuple) -> None:
    atomic_write_bytes(path, png(function(*args)))


def draw_all(run_dir: Path, workers: int | None = None) -> list[str]:
    """Draw every plot of :data:`PLOTS` from the files in ``run_dir``; return the names.

    Two cores (or ``workers`` ≥ 2): half of the figures in a forked child at the same
    time (:func:`.forked.draw_jobs`; the same bytes as a serial draw)."""
    run_dir = Path(run_dir)
    figures = {name: (function, args) for name, function, args in [*read_chip_figures(run_dir), *read_training_figures(run_dir)]}
    draw_jobs([(write_figure, (run_dir / name, *figures[name])) for name in PLOTS], workers)
    return list(PLOTS)
