"""Sweep plots, drawn only from ``results.csv`` (matplotlib Agg, fixed names).

- ``sweep_<parameter>.png`` for each swept parameter: one panel per headline
  metric against that parameter, one line per algorithm. Where other parameters
  vary too, the line is the mean over them and the band their min..max.
- ``sweep_energy_latency.png``: energy per step against latency per epoch, every
  successful (point, algorithm), one colour per algorithm, each point labelled
  with its swept values (in the order the title names them).

Every panel has both axis labels; ticks use SI prefixes (:mod:`neurosim.report.fmt`);
a log axis says so in its label; accuracy is in %.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .columns import FIXED_COLUMNS, ID_COLUMN, METRIC_COLUMNS  # noqa: E402
from ..report.files import atomic_write_bytes  # noqa: E402
from ..report.fmt import tick_formatter  # noqa: E402
from ..report.forked import draw_jobs  # noqa: E402
from .store import RESULTS  # noqa: E402

__all__ = ["PLOT_METRICS", "SCATTER", "parameters", "plot_name", "draw_all"]

#: Headline metric column -> (axis label, scale factor).
PLOT_METRICS: dict[str, tuple[str, float]] = {
    "test_accuracy": ("test accuracy (%)", 100.0),
    "macs_per_step": ("MACs / step", 1.0),
    "cycles_per_step": ("cycles / step", 1.0),
    "error_phase_cycles": ("error-phase cycles / step", 1.0),
    "latency_s_per_epoch": ("chip latency / epoch", 1.0),
    "energy_pj_per_step": ("energy / step", 1e-12),
    "bytes_per_step_crossbar_io": ("crossbar I/O bytes / step", 1.0),
    "bytes_per_step_sram": ("SRAM bytes / step", 1.0),
    "bytes_per_step_noc_byte_hops": ("NoC byte-hops / step", 1.0),
    "bytes_per_step_dram": ("DRAM bytes / step", 1.0),
    "rram_writes_per_cell_per_epoch_max": ("RRAM writes / cell / epoch (max)", 1.0),
    "stall_cycles": ("stall cycles / step", 1.0),
}

SCATTER = "sweep_energy_latency.png"

#: Tick unit of a metric whose label leaves it to the ticks (SI prefix + unit).
_UNITS = {"latency_s_per_epoch": "s", "energy_pj_per_step": "J"}

_NON_PARAM = {ID_COLUMN, *FIXED_COLUMNS, *METRIC_COLUMNS}


def parameters(df: pd.DataFrame) -> list[str]:
    """The swept parameter columns of a results table (everything that is not an
    id, a status or a metric), in column order."""
    return [c for c in df.columns if c not in _NON_PARAM]


def plot_name(param: str) -> str:
    return "sweep_" + (re.sub(r"[^A-Za-z0-9]+", "_", param).strip("_") or "param") + ".png"


def _natural(v) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(v)))


def _save(fig, path: Path, tight: bool = True) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight" if tight else None, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _param_figure(ok: pd.DataFrame, param: str, algorithms: list[str], path: Path) -> None:
    vals = ok[param]
    numeric = pd.api.types.is_numeric_dtype(vals) and not pd.api.types.is_bool_dtype(vals)
    xs = sorted(vals.dropna().unique(), key=(float if numeric else _natural))
    pos = {x: (float(x) if numeric else i) for i, x in enumerate(xs)}
    ncols = 4
    nrows = -(-len(PLOT_METRICS) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.1 * nrows), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (metric, (label, scale)) in zip(axes.flat, PLOT_METRICS.items()):
        drawn = False
        for i, alg in enumerate(algorithms):
            g = ok[(ok["algorithm"] == alg) & ok[metric].notna()]
            if g.empty:
                continue
            s = g.groupby(param)[metric].agg(["mean", "min", "max"]) * scale
            s = s.loc[[x for x in xs if x in s.index]]
            x = np.array([pos[v] for v in s.index], dtype=float)
            ax.plot(x, s["mean"].to_numpy(), marker="o", ms=3, color=cmap(i % 10), label=alg)
            if (s["max"] > s["min"]).any():
                ax.fill_between(x, s["min"].to_numpy(), s["max"].to_numpy(), color=cmap(i % 10), alpha=0.15, lw=0)
            drawn = True
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        xlabel, ylabel = param, label
        if not drawn:
            ax.text(0.5, 0.5, "no successful points", ha="center", va="center", transform=ax.transAxes, fontsize=8, color="#888")
            ax.set_xlabel(xlabel, fontsize=8)
            continue
        ys = ok[metric].dropna() * scale
        if (ys > 0).all() and ys.max() / ys.min() > 50:
            ax.set_yscale("log")
            ylabel += " (log scale)"
        ax.yaxis.set_major_formatter(tick_formatter(_UNITS.get(metric, "")))
        if numeric and xs and min(xs) > 0 and max(xs) / min(xs) >= 4:
            ax.set_xscale("log", base=2)
            ax.minorticks_off()
            xlabel += " (log₂ scale)"
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        if not numeric or len(xs) <= 12:
            ax.set_xticks(list(pos.values()), [str(x) for x in xs])
    for ax in list(axes.flat)[len(PLOT_METRICS):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat:
        h, lab = ax.get_legend_handles_labels()
        if len(h) > len(handles):
            handles, labels = h, lab
    if handles:
        fig.legend(handles, labels, loc="upper center", ncol=len(handles), fontsize=9, bbox_to_anchor=(0.5, 0.965), frameon=False)
    fig.suptitle(f"headline metrics against {param} (line: mean over the other parameters; band: min..max)", fontsize=10, y=0.995)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.06, top=0.88, hspace=0.55, wspace=0.34)
    _save(fig, path, tight=False)


def _point_label(row: pd.Series, params: list[str]) -> str:
    return "/".join(str(row[p]) for p in params)


def _scatter(ok: pd.DataFrame, algorithms: list[str], params: list[str], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 6))
    cmap = plt.get_cmap("tab10")
    for i, alg in enumerate(algorithms):
        g = ok[(ok["algorithm"] == alg) & ok["latency_s_per_epoch"].notna() & ok["energy_pj_per_step"].notna()]
        if len(g):
            xs, ys = g["latency_s_per_epoch"].to_numpy(float), g["energy_pj_per_step"].to_numpy(float) * 1e-12
            ax.scatter(xs, ys, s=16, color=cmap(i % 10), label=alg, alpha=0.85)
            for (_, row), x, y in zip(g.iterrows(), xs, ys):
                ax.annotate(_point_label(row, params), (x, y), xytext=(3, 2), textcoords="offset points", fontsize=6,
                            color=cmap(i % 10))
    xlabel, ylabel = "chip latency per epoch", "energy per step"
    if ax.collections:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        xs = ok["latency_s_per_epoch"].dropna()
        ys = ok["energy_pj_per_step"].dropna()
        if (xs > 0).all() and xs.max() / xs.min() > 20:
            ax.set_xscale("log")
            xlabel += " (log scale)"
        if (ys > 0).all() and ys.max() / ys.min() > 20:
            ax.set_yscale("log")
            ylabel += " (log scale)"
    else:
        ax.text(0.5, 0.5, "no successful points", ha="center", va="center", transform=ax.transAxes, color="#888")
    ax.xaxis.set_major_formatter(tick_formatter("s"))
    ax.yaxis.set_major_formatter(tick_formatter("J"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    names = " / ".join(params) if params else "point"
    ax.set_title(f"every point: energy against latency (label: {names})", fontsize=10)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.1, right=0.85, bottom=0.1, top=0.93)
    _save(fig, path, tight=False)


def draw_all(sweep_dir: Path, workers: int | None = None) -> list[str]:
    """Draw the plots of ``sweep_dir/results.csv``; return their file names.
    Stale ``sweep_*.png`` files of parameters no longer swept are removed."""
    sweep_dir = Path(sweep_dir)
    df = pd.read_csv(sweep_dir / RESULTS, keep_default_na=True)
    ok = df[df["status"] == "ok"]
    algorithms = list(dict.fromkeys(df["algorithm"].astype(str)))
    names: list[str] = []
    jobs = []
    for param in parameters(df):
        name = plot_name(param)
        while name in names:
            name = name[:-4] + "_.png"
        jobs.append((_param_figure, (ok, param, algorithms, sweep_dir / name)))
        names.append(name)
    jobs.append((_scatter, (ok, algorithms, parameters(df), sweep_dir / SCATTER)))
    names.append(SCATTER)
    draw_jobs(jobs, workers)  # half in a forked child where there are two cores (same bytes)
    for old in sweep_dir.glob("sweep_*.png"):
        if old.name not in names:
            old.unlink()
    return names
