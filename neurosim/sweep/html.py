"""``sweep.html``: one self-contained page from ``results.csv``, ``sweep.json``
and the plots in the sweep folder (only images that exist are referenced)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from ..report.files import atomic_write_text
from ..report.html import format_cell
from .columns import ID_COLUMN
from .plots import SCATTER, parameters, plot_name
from .store import HTML, MANIFEST, RESULTS

__all__ = ["TABLE_COLUMNS", "MAX_TABLE_ROWS", "render", "write_page"]

#: Metric columns shown in the page's table (results.csv has them all).
TABLE_COLUMNS: dict[str, tuple[str, float]] = {
    "test_accuracy": ("test acc %", 100.0),
    "macs_per_step": ("MACs / step", 1.0),
    "cycles_per_step": ("cycles / step", 1.0),
    "error_phase_cycles": ("error-phase cycles", 1.0),
    "latency_s_per_epoch": ("latency s / epoch", 1.0),
    "energy_pj_per_step": ("energy µJ / step", 1e-6),
    "bytes_per_step_noc_byte_hops": ("NoC byte-hops / step", 1.0),
    "bytes_per_step_dram": ("DRAM B / step", 1.0),
    "rram_writes_per_cell_per_epoch_max": ("RRAM writes / cell / epoch (max)", 1.0),
    "stall_cycles": ("stall cycles", 1.0),
}
MAX_TABLE_ROWS = 2000

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.8em;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .45em;text-align:right}
th{background:#f4f4f4;position:sticky;top:0}td.t,th.t{text-align:left}tr.failed td{background:#fff3f3}
figure{margin:.8em 0}figcaption{font-size:.8em;color:#555}img{max-width:100%}.note{color:#555;font-size:.9em}
.scroll{max-height:36em;overflow:auto}
"""


def _table(df: pd.DataFrame, text_cols: set[str], row_class=None) -> str:
    out = ["<table><tr>" + "".join(f"<th class='{'t' if c in text_cols else ''}'>{html.escape(str(c))}</th>" for c in df.columns) + "</tr>"]
    for i, (_, row) in enumerate(df.iterrows()):
        cls = f" class='{row_class(row)}'" if row_class else ""
        cells = "".join(f"<td class='{'t' if c in text_cols else ''}'>{format_cell(v)}</td>" for c, v in zip(df.columns, row.tolist()))
        out.append(f"<tr{cls}>{cells}</tr>")
    return "\n".join(out) + "</table>"


def render(sweep_dir: Path) -> str:
    sweep_dir = Path(sweep_dir)
    df = pd.read_csv(sweep_dir / RESULTS, dtype={"error": str}, keep_default_na=True)
    df["error"] = df["error"].fillna("")
    m = json.loads((sweep_dir / MANIFEST).read_text())
    params = parameters(df)
    n_points = df[ID_COLUMN].nunique()
    failed_pts = df.loc[df["status"] != "ok", ID_COLUMN].nunique()
    title = f"sweep: {m['workload_name']} on {m['hw_name']}"

    shown = df[[ID_COLUMN, *params, "algorithm", "status", *TABLE_COLUMNS]].copy()
    for c, (label, scale) in TABLE_COLUMNS.items():
        shown[c] = shown[c] * scale
    shown = shown.rename(columns={c: label for c, (label, _) in TABLE_COLUMNS.items()})
    truncated = len(shown) > MAX_TABLE_ROWS
    shown = shown.head(MAX_TABLE_ROWS)
    text_cols = {ID_COLUMN, *params, "algorithm", "status"}

    fails = df[df["status"] != "ok"][[ID_COLUMN, *params, "algorithm", "error"]]
    axes = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in (m.get("grid") or {}).items())
    figures = []
    for p in params:
        name = plot_name(p)
        if (sweep_dir / name).is_file():
            cap = f"headline metrics against {p}, one line per algorithm (mean over the other parameters, band min..max)"
            figures.append((name, cap))
    if (sweep_dir / SCATTER).is_file():
        figures.append((SCATTER, "energy per step against latency per epoch, every successful point, labelled with its swept values"))

    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>neurosim {html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p class='note'>" + html.escape(
            f"{n_points} of {m['n_points']} points finished, {failed_pts} failed; algorithms {', '.join(m['algorithms'])}; "
            f"{m['epochs']} epochs; hwconfig {m['hwconfig_path']}, workload {m['workload_path']}; neurosim {m['neurosim_version']}"
        ) + "</p>",
        "<p class='note'>" + html.escape(f"grid: {axes}" if axes else "no grid") + html.escape(
            f"; {len(m.get('points') or [])} coupled point settings crossed with it" if m.get("points") else "") + "</p>",
        f"<p class='note'>All columns and every metric: <a href='{RESULTS}'>{RESULTS}</a>.</p>",
        "<h2>Plots</h2>",
        *(f"<figure><img src='{n}' alt='{html.escape(c)}'><figcaption>{html.escape(c)}</figcaption></figure>" for n, c in figures),
        "<h2>Results</h2>",
        ("<p class='note'>" + f"First {MAX_TABLE_ROWS} rows shown." + "</p>") if truncated else "",
        "<div class='scroll'>" + _table(shown, text_cols, row_class=lambda r: "failed" if r["status"] != "ok" else "") + "</div>",
    ]
    if len(fails):
        parts += ["<h2>Failed points</h2>", "<div class='scroll'>" + _table(fails, set(fails.columns)) + "</div>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_page(sweep_dir: Path, plot_names: list[str] | None = None) -> str:
    """Write ``sweep.html`` (``plot_names`` is accepted for symmetry; the page
    references the plot files that exist)."""
    atomic_write_text(Path(sweep_dir) / HTML, render(sweep_dir))
    return HTML
