"""``report.html``: one page per run, built only from the run directory's files.

The page is a Jinja2 template (``templates/report.html.j2``, autoescaped). Its
first screen answers "how much cheaper, and why": the headline rows
(:mod:`neurosim.report.headline`) with the baseline's ratio under each figure,
then the generated sentences of :mod:`neurosim.report.why`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from .compare import COMPARISON
from .files import COSTS, SUMMARY, TRAINING, atomic_write_text
from .fmt import count, energy, percent, ratio
from .cells import CELLS_HEADER, cells_cells, cells_rows
from .headline import KEY_ROWS, headline_rows
from .layers import layer_frame
from .figures import PLOTS
from .why import why

__all__ = ["REPORT", "render", "write_report", "format_cell", "headline_html"]

REPORT = "report.html"

#: Headline rows of the first table (the rest follow under "All headline figures").
_FIRST = (*KEY_ROWS, "error_macs", "latency", "accuracy")


def format_cell(v) -> str:
    """A table cell: NaN as a dash, whole numbers as integers (SI above 10^5), ratios-sized floats with 3 digits."""
    if isinstance(v, bool) or v is None:
        return html.escape(str(v))
    if isinstance(v, (int, float)):
        v = float(v)
        if v != v:
            return "–"
        if v.is_integer() or abs(v) >= 1e5:
            return count(v)
        return f"{v:.4g}"
    return html.escape(str(v))


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("neurosim.report", "templates"), autoescape=select_autoescape(["j2", "html"]),
                       trim_blocks=True, lstrip_blocks=True)


def _table(df: pd.DataFrame, index: bool = True, ratio_cols: tuple[str, ...] = ()) -> str:
    head = ([html.escape(str(df.index.name or ""))] if index else []) + [html.escape(str(c)) for c in df.columns]
    out = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for idx, row in df.iterrows():
        cells = [f"<td>{html.escape(str(idx))}</td>"] if index else []
        for c, v in zip(df.columns, row.tolist()):
            cells.append(f"<td>{ratio(v) if c in ratio_cols and isinstance(v, float) else format_cell(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


def _rules(algorithms: list[dict]) -> str:
    out = []
    for a in algorithms:
        opts = ", ".join(f"{k} {v}" for k, v in a.items() if k != "name" and v is not None)
        out.append(f"{a['name']} ({opts})" if opts else a["name"])
    return ", ".join(out)


def _layer_label(v) -> str:
    if not isinstance(v, dict):
        return str(v)
    kind = v.get("kind", "?")
    size = v.get("units") or v.get("channels") or v.get("out_channels")
    kernel = v.get("kernel")
    text = v.get("name") or kind
    if kernel:
        text += f" {kernel}×{kernel}" if isinstance(kernel, int) else f" {kernel}"
    return f"{text}-{size}" if size else text


def _network(n: dict) -> str:
    layers = n["layers"]
    if all(isinstance(v, int) for v in layers):
        return "-".join(map(str, layers))
    return " → ".join(_layer_label(v) for v in layers)


def _setup(s: dict) -> str:
    wl, hw = s["workload"], s["hwconfig"]
    n = wl["network"]
    return (
        f"network {_network(n)} {n.get('activation', '')}, batch {s['batch_size']}, "
        f"{wl['training']['optimizer']['name']} lr {wl['training']['optimizer']['learning_rate']}, rules {_rules(wl['algorithms'])}; "
        f"{s['epochs']} epochs of {s['steps_per_epoch']} steps on {s['n_train']:,} images (test {s['n_test']:,}); "
        f"chip {hw['name']}: {hw['noc']['mesh']} mesh, weights in {hw['chip']['weight_storage']}, "
        f"clock {hw['chip']['clock_mhz']['value']} MHz; neurosim {s['neurosim_version']}"
    )


def _docs_links() -> str:
    docs = Path(__file__).resolve().parents[2] / "docs"
    parts = []
    for name in ("hardware.md", "counts.md"):
        p = docs / name
        parts.append(f"<a href='{p.as_uri()}'>docs/{name}</a>" if p.is_file() else f"docs/{name}")
    return " and ".join(parts)


def _layer_table(costs: pd.DataFrame) -> str:
    lf = layer_frame(costs)
    shown = pd.DataFrame({
        "rule": lf["algorithm"], "layer": lf["layer"], "phase": lf["phase"], "MACs": lf["macs"].map(count),
        "energy": lf["energy_pj"].map(energy), "busy unit-cycles": lf["busy_cycles"].map(count),
        "crossbar I/O B": lf["bytes_crossbar_io"].map(count), "SRAM B": lf["bytes_sram"].map(count),
        "NoC byte-hops": lf["bytes_noc_byte_hops"].map(count), "DRAM B": lf["bytes_dram"].map(count),
    })
    return _table(shown, index=False)


def _why(costs: pd.DataFrame, s: dict) -> tuple[dict[str, list[str]], dict[str, bool]]:
    base = s.get("baseline")
    if not base:
        return {}, {}
    out = {a: why(costs, s, base, a) for a in s["algorithms"] if a != base}
    verdict = {a: s["algorithms"][a]["totals"]["per_step"]["energy_pj"] <= s["algorithms"][base]["totals"]["per_step"]["energy_pj"]
               for a in out}
    return out, verdict


def _context(s: dict, costs: pd.DataFrame) -> dict:
    rows = headline_rows(s)
    why_, verdict = _why(costs, s)
    base = s.get("baseline")
    rules = list(s["algorithms"])
    title = f"{s['workload']['name']} on {s['hwconfig']['name']}"
    if base and len(rules) > 1:
        title += ": " + ", ".join(r for r in rules if r != base) + f" against {base}"
    return {
        "title": title,
        "setup": _setup(s),
        "baseline": base,
        "rules": rules,
        "trained": {a: v.get("trained", True) for a, v in s["algorithms"].items()},
        "key_rows": [r for k in _FIRST for r in rows if r.key == k],
        "other_rows": [r for r in rows if r.key not in _FIRST],
        "why": why_,
        "cells_header": CELLS_HEADER,
        "cells_rows": [cells_cells(r) for r in cells_rows(s)],
        "verdict": verdict,
        "docs_links": _docs_links(),
    }


def headline_html(summary: dict, costs: pd.DataFrame) -> str:
    """The first screen of report.html alone (the notebook repr of a result)."""
    page = _env().get_template("report.html.j2").render(
        **_context(summary, costs), fig=lambda name: "", comparison="", layer_table="", accuracy_table="",
        energy_table="", spills="", trace=False)
    css = page[page.index("<style>") + len("<style>"):page.index("</style>")]
    # scope every rule to the result's div, so the notebook's own style is untouched
    css = re.sub(r"([^{}]+)\{", lambda m: ",".join(
        ".neurosim-result" if sel.strip() == "body" else f".neurosim-result {sel.strip()}" for sel in m.group(1).split(",")) + "{", css)
    start, end = page.index("<h1>"), page.index("<h2>")
    return f"<style>{css}</style><div class='neurosim-result'>{page[start:end]}</div>"


def _fig(run_dir: Path, figures: Collection[str] | None):
    def fig(name: str) -> Markup:
        shown = name in figures if figures is not None else (run_dir / name).is_file()
        if not shown:
            return Markup("")
        cap = html.escape(PLOTS.get(name, name))
        return Markup(f'<figure><img src="{name}" alt="{cap}"><figcaption>{cap}</figcaption></figure>')

    return fig


def render(run_dir: Path, figures: Collection[str] | None = None) -> str:
    """The page of a run folder; it shows the ``figures`` named (default: those in the folder)."""
    run_dir = Path(run_dir)
    s = json.loads((run_dir / SUMMARY).read_text())
    costs = pd.read_csv(run_dir / COSTS)
    comp = pd.read_csv(run_dir / COMPARISON)
    training = pd.read_csv(run_dir / TRAINING)
    hw = s["hwconfig"]
    last = training.sort_values("epoch").groupby("algorithm", sort=False).tail(1).set_index("algorithm")
    last = last[[c for c in last.columns if c != "epoch"]]
    for c in ("train_accuracy", "test_accuracy"):
        if c in last:
            last[c] = last[c].map(percent)
    energy_rows = pd.DataFrame([
        {"component": c, "action": a, "pJ": e["energy_pj"], "per": e["per"], "source": e["source"]}
        for c, acts in hw["energy"].items() for a, e in acts.items()
    ])
    spills = [f"{a}: {m}" for a, v in s["algorithms"].items() for m in v["spills"]]
    ratio_cols = tuple(c for c in comp.columns if "/" in c)
    return _env().get_template("report.html.j2").render(
        **_context(s, costs),
        fig=_fig(run_dir, figures),
        comparison=_table(comp, index=False, ratio_cols=ratio_cols),
        layer_table=_layer_table(costs),
        accuracy_table=_table(last),
        energy_table=_table(energy_rows, index=False),
        spills="; ".join(spills) if spills else "No layer spills to DRAM.",
        trace=(run_dir / "trace.json").is_file(),
    )


def write_report(run_dir: Path, figures: Collection[str] | None = None) -> str:
    atomic_write_text(Path(run_dir) / REPORT, render(run_dir, figures))
    return REPORT
