"""``report.html``: one page per run, built only from the run directory's files."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from .compare import COMPARISON
from .files import SUMMARY, TRAINING, atomic_write_text
from .plots import PLOTS

__all__ = ["REPORT", "render", "write_report", "format_cell"]

REPORT = "report.html"

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:.5em}
figcaption{font-size:.8em;color:#555;max-width:520px}img{max-width:520px}.note{color:#555;font-size:.9em}
"""


def format_cell(v) -> str:
    """A table cell: NaN as a dash, large or small floats in e-notation, text escaped."""
    if isinstance(v, float):
        if v != v:  # NaN
            return "–"
        if v == 0:
            return "0"
        if abs(v) >= 1e5 or abs(v) < 1e-2:
            return f"{v:.3e}"
        return f"{v:,.3f}".rstrip("0").rstrip(".")
    return html.escape(str(v))


def _rules(algorithms: list[dict]) -> str:
    """``bp, sdfa (fanin 1, learning_rate 0.1)``: each rule with its settings."""
    out = []
    for a in algorithms:
        opts = ", ".join(f"{k} {v}" for k, v in a.items() if k != "name" and v is not None)
        out.append(f"{a['name']} ({opts})" if opts else a["name"])
    return ", ".join(out)


def _table(df: pd.DataFrame, index: bool = True) -> str:
    head = ([html.escape(str(df.index.name or ""))] if index else []) + [html.escape(str(c)) for c in df.columns]
    out = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for idx, row in df.iterrows():
        cells = ([f"<td>{html.escape(str(idx))}</td>"] if index else []) + [f"<td>{format_cell(v)}</td>" for v in row.tolist()]
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


def _fig(name: str) -> str:
    return f'<figure><img src="{name}" alt="{html.escape(PLOTS[name])}"><figcaption>{html.escape(PLOTS[name])}</figcaption></figure>'


def _device_rows(v: dict) -> dict[str, float]:
    """Measured programming (numerics: device): pulses per step and per cell over the run."""
    writes = v.get("device_writes") or {}
    if not writes:
        return {}
    return {
        "programming pulses / step (measured)": sum(w["ltp_pulses_per_step"] + w["ltd_pulses_per_step"] for w in writes.values()),
        "pulses / cell over the run (max)": max(w["pulses_per_cell_max"] for w in writes.values()),
    }


def render(run_dir: Path) -> str:
    run_dir = Path(run_dir)
    s = json.loads((run_dir / SUMMARY).read_text())
    comp = pd.read_csv(run_dir / COMPARISON)
    training = pd.read_csv(run_dir / TRAINING)
    wl, hw = s["workload"], s["hwconfig"]
    algs = s["algorithms"]

    headline = pd.DataFrame(
        {
            a: {
                "test accuracy %": 100 * v["test_accuracy"],
                "MACs / step": sum(v["macs"]["per_step"].values()),
                "neuron-level error bytes / step": sum(v["neuron_level_bytes_per_step"].values()),
                "NoC byte-hops / step": v["bytes"]["per_step"].get("noc_byte_hops", 0.0),
                "cycles / step": v["cycles"]["per_step"],
                "error-phase cycles": v["cycles"]["phase_critical_path"].get("error", 0.0),
                "energy µJ / step": v["energy_pj"]["per_step_total"] / 1e6,
                "latency s / epoch": v["latency_s"]["per_epoch"],
                "RRAM writes / cell / epoch (max)": v["rram_writes_per_cell_per_epoch"].get("max", 0.0),
                **_device_rows(v),
            }
            for a, v in algs.items()
        }
    )
    headline.index.name = "per algorithm"
    last = training.sort_values("epoch").groupby("algorithm", sort=False).tail(1).set_index("algorithm")
    energy_rows = [
        {"component": c, "action": a, "pJ": e["energy_pj"], "per": e["per"], "source": e["source"]}
        for c, acts in hw["energy"].items()
        for a, e in acts.items()
    ]
    spills = [f"{a}: {m}" for a, v in algs.items() for m in v["spills"]]
    n = wl["network"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>neurosim: {html.escape(wl['name'])} on {html.escape(hw['name'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(wl['name'])} on {html.escape(hw['name'])}</h1>",
        "<p class='note'>"
        + html.escape(
            f"network {'-'.join(map(str, n['layers']))} {n['activation']}, batch {wl['training']['batch_size']}, "
            f"{wl['training']['optimizer']['name']} lr {wl['training']['optimizer']['learning_rate']}, "
            f"rules {_rules(wl['algorithms'])}; "
            f"{s['epochs']} epochs of {s['steps_per_epoch']} steps on {s['n_train']} images (test {s['n_test']}); "
            f"chip: {hw['noc']['mesh']} mesh, weights in {hw['chip']['weight_storage']}, "
            f"clock {hw['chip']['clock_mhz']['value']} MHz; neurosim {s['neurosim_version']}"
        )
        + "</p>",
        "<h2>Headline</h2>",
        _table(headline),
        "<h2>Comparison with BP (the seed papers' figures)</h2>",
        "<p class='note'>Per training step. Columns bp/X: how many times less X costs than BP (above 1: cheaper). "
        "Neuron-level bytes are the values each neuron must receive to form its error; chip bytes are what the "
        "mapped chip moves at each level (NoC in byte-hops).</p>",
        _table(comp, index=False),
        _fig("comparison.png"),
        _fig("data_movement.png"),
        _fig("macs_by_phase.png"),
        "<h2>Accuracy and alignment</h2>",
        _table(last[[c for c in last.columns if c != "epoch"]]),
        _fig("accuracy.png"),
        _fig("alignment.png"),
        "<h2>Time and energy on the chip</h2>",
        _fig("cycles_by_phase.png"),
        _fig("energy_by_component.png"),
        _fig("utilisation.png"),
        "<h2>Placement</h2>",
        _fig("placement.png"),
        "<p class='note'>" + (html.escape("; ".join(spills)) if spills else "No layer spills to DRAM.") + "</p>",
        "<h2>Energy reference table</h2>",
        _table(pd.DataFrame(energy_rows), index=False),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(run_dir: Path) -> str:
    atomic_write_text(Path(run_dir) / REPORT, render(run_dir))
    return REPORT
