"""The main job's page answers "how much cheaper, and why": BP is costed as the
baseline without being trained, the headline carries BP/X ratios, the "why"
sentences follow the ledger, summary.json has one shape, and trace.json holds
every op of one step of each rule with the DES's times."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from neurosim.cli import cli
from neurosim.report import fmt
from neurosim.report.layers import layer_frame
from neurosim.report.rundir import sha256_file

from .conftest import HW_RRAM, small_workload
from .test_report import CHROMIUM, assert_first_screen

B = 32
BP_ERROR_MACS = B * (800 * 800 + 800 * 10)
SDFA_ERROR_MACS = B * 1 * (800 + 800)


@pytest.fixture(scope="module")
def main_dir(tmp_path_factory):
    """``neurosim run hwconfigs/rram_tile.yaml workloads/mnist_sdfa.yaml --trace`` on a slice of mnist-10k."""
    tmp = tmp_path_factory.mktemp("main")
    wl = small_workload(tmp, "mnist_sdfa.yaml")
    out = tmp / "run"
    r = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(wl), "--out", str(out), "--trace"])
    assert r.exit_code == 0, r.output + r.stderr
    return out


def _summary(d):
    return json.loads((d / "summary.json").read_text())


def test_bp_is_costed_as_the_baseline_without_training(main_dir):
    s = _summary(main_dir)
    assert s["baseline"] == "bp" and list(s["algorithms"]) == ["bp", "sdfa"]
    bp = s["algorithms"]["bp"]
    assert bp["trained"] is False and bp["test_accuracy"] is None and s["algorithms"]["sdfa"]["trained"] is True
    assert bp["macs"]["per_step"]["error"] == BP_ERROR_MACS
    assert set(pd.read_csv(main_dir / "training.csv")["algorithm"]) == {"sdfa"}
    comp = pd.read_csv(main_dir / "comparison.csv")
    err = comp[(comp["metric"] == "MACs") & (comp["phase"] == "error")].iloc[0]
    assert err["bp/sdfa"] == pytest.approx(BP_ERROR_MACS / SDFA_ERROR_MACS)
    html = (main_dir / "report.html").read_text()
    assert "not trained" in html and "bp/sdfa = 405×" in html


def test_no_baseline_and_another_baseline(tmp_path, main_dir, mnist_dir):
    wl = main_dir.parent / "wl.yaml"
    r = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(wl), "--out", str(tmp_path / "a"), "--no-baseline", "--epochs", "1"])
    assert r.exit_code == 0, r.stderr
    s = _summary(tmp_path / "a")
    assert s["baseline"] is None and list(s["algorithms"]) == ["sdfa"]
    assert not any("/" in c for c in pd.read_csv(tmp_path / "a" / "comparison.csv").columns)
    r = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(wl), "--out", str(tmp_path / "b"), "--baseline", "dfa", "--epochs", "1"])
    assert r.exit_code == 0, r.stderr
    assert "dfa/sdfa" in pd.read_csv(tmp_path / "b" / "comparison.csv").columns
    r = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(wl), "--out", str(tmp_path / "c"), "--baseline", "magic"])
    assert r.exit_code == 2 and "--baseline" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_summary_has_one_shape_at_every_level(main_dir):
    s = _summary(main_dir)
    steps, epochs = s["steps_per_epoch"], s["epochs"]
    for key in ("hwconfig_path", "workload_path", "dataset_dir"):
        assert s[key].startswith("/"), key
    for a in s["algorithms"].values():
        for metric in ("macs", "bytes", "energy_pj"):
            levels = a[metric]
            assert list(levels) == ["per_step", "per_epoch", "run"], metric
            assert set(levels["per_step"]) == set(levels["per_epoch"]) == set(levels["run"]), metric
            for k, v in levels["per_epoch"].items():
                assert levels["run"][k] == pytest.approx(v * epochs), (metric, k)
        for k, v in a["bytes"]["per_step"].items():
            assert a["bytes"]["per_epoch"][k] == v * steps
        for metric in ("macs", "bytes"):  # whole counts are integers
            assert all(isinstance(v, int) for lv in a[metric].values() for v in lv.values()), metric
        t = a["totals"]
        assert list(t) == ["per_step", "per_epoch", "run"]
        assert all(set(t[lv]) == {"macs", "energy_pj", "cycles", "latency_s"} for lv in t)
        assert t["run"]["cycles"] == pytest.approx(t["per_epoch"]["cycles"] * epochs)
        assert t["per_step"]["energy_pj"] == pytest.approx(sum(a["energy_pj"]["per_step"].values()))
        assert t["per_step"]["latency_s"] == pytest.approx(t["per_step"]["cycles"] / s["clock_hz"])


def test_per_layer_view_sums_to_the_ledger(main_dir):
    s = _summary(main_dir)
    costs = pd.read_csv(main_dir / "costs.csv")
    for alg, layers in ((a, v["per_layer"]) for a, v in s["algorithms"].items()):
        assert list(layers) == ["fc1", "fc2", "fc3"]
        c = costs[costs["algorithm"] == alg]
        hw = c[c["component"] != "network"]
        for phase, e in hw.groupby("phase")["energy_pj"].sum().items():
            assert sum(l.get(phase, {}).get("energy_pj", 0.0) for l in layers.values()) == pytest.approx(e), (alg, phase)
        noc = hw[hw["component"] == "noc"].groupby("layer")["bytes"].sum()
        for layer, v in noc.items():
            assert sum(p["bytes"]["noc_byte_hops"] for p in layers[layer].values()) == v
    assert s["algorithms"]["sdfa"]["per_layer"]["fc1"]["error"]["macs"] == B * 800
    html = (main_dir / "report.html").read_text()
    assert "Per layer" in html and 'src="layers.png"' in html


def test_layer_view_takes_any_layer_names():
    rows = [
        ("bp", "conv1", "forward", "network", "mac", 100, 0, 0, 0.0),
        ("bp", "conv1", "forward", "crossbar", "read", 4, 0, 10, 2.0),
        ("bp", "conv1", "forward", "noc", "transfer", 2, 64, 3, 1.0),
        ("bp", "pool1", "forward", "core", "elementwise", 8, 0, 8, 0.5),
        ("bp", "pool1", "error", "sram", "read", 1, 16, 1, 0.25),
    ]
    costs = pd.DataFrame(rows, columns=["algorithm", "layer", "phase", "component", "action", "count", "bytes", "cycles", "energy_pj"])
    lf = layer_frame(costs)
    assert lf[["layer", "phase"]].values.tolist() == [["conv1", "forward"], ["pool1", "forward"], ["pool1", "error"]]
    conv = lf.iloc[0]
    assert (conv["macs"], conv["energy_pj"], conv["busy_cycles"], conv["bytes_noc_byte_hops"]) == (100, 3.0, 13, 64)
    assert lf.iloc[2]["bytes_sram"] == 16


def _why(d) -> list[str]:
    html = (d / "report.html").read_text()
    body = html[html.index('id="why"'):html.index("All headline figures")]
    import re

    return re.findall(r"<li>(.*?)</li>", body, flags=re.S)


def _noc_error(costs: pd.DataFrame, alg: str) -> float:
    sel = (costs["algorithm"] == alg) & (costs["phase"] == "error") & (costs["component"] == "noc")
    return float(costs.loc[sel, "bytes"].sum())


def test_why_sentences_follow_the_ledger(main_dir, tmp_path):
    costs = pd.read_csv(main_dir / "costs.csv")
    hw = costs[costs["component"] != "network"]
    e = hw.groupby("algorithm")["energy_pj"].sum()
    sentences = _why(main_dir)
    assert len(sentences) >= 3
    assert fmt.ratio(e["bp"] / e["sdfa"]) + " less energy" in sentences[0]
    noc = fmt.ratio(_noc_error(costs, "bp") / _noc_error(costs, "sdfa")) + " fewer NoC byte-hops"
    assert any(noc in t for t in sentences), sentences
    assert any("error phase" in t and ("adc" in t or "crossbar" in t or "core" in t) for t in sentences)
    # edit the ledger: the rebuilt sentences follow the file
    copy = tmp_path / "copy"
    shutil.copytree(main_dir, copy)
    sel = (costs["algorithm"] == "sdfa") & (costs["phase"] == "error") & (costs["component"] == "noc")
    costs.loc[sel, "bytes"] *= 4
    costs.to_csv(copy / "costs.csv", index=False)
    summary = json.loads((copy / "summary.json").read_text())  # seal the intentional edit (report checks hashes)
    summary["data_files"]["costs.csv"] = sha256_file(copy / "costs.csv")
    (copy / "summary.json").write_text(json.dumps(summary))
    assert CliRunner().invoke(cli, ["report", str(copy)]).exit_code == 0
    noc4 = fmt.ratio(_noc_error(costs, "bp") / _noc_error(costs, "sdfa")) + " fewer NoC byte-hops"
    assert noc4 != noc and any(noc4 in t for t in _why(copy))


def test_formats():
    assert fmt.si(1.023e8) == "102.3 M" and fmt.seconds(0.00743) == "7.43 ms" and fmt.energy(1.911e8) == "191.1 µJ"
    assert fmt.si(999_960) == "1 M" and fmt.count(30_184.27) == "30,184" and fmt.count(4.03e6) == "4.03 M"
    assert fmt.ratio(405.0) == "405×" and fmt.ratio(1.3498) == "1.35×" and fmt.percent(0.9455) == "94.55 %"


# ----------------------------------------------------------------- trace


def test_trace_holds_every_op_once_with_the_des_times(main_dir):
    import neurosim.api as ns
    from neurosim.pipeline import resolve_algorithms
    from neurosim.report.trace import step_timeline

    doc = json.loads((main_dir / "trace.json").read_text())
    events = doc["traceEvents"]
    s = _summary(main_dir)
    clock_mhz = s["clock_hz"] / 1e6
    names = {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    assert sorted(names.values()) == ["bp (baseline), not trained", "sdfa"]
    hw = ns.load_hw(HW_RRAM)
    wl = ns.load_workload(main_dir.parent / "wl.yaml")
    for pid, label in names.items():
        alg = label.split()[0]
        graph, sim = step_timeline(hw, wl, resolve_algorithms(wl, [alg])[0])
        xs = [e for e in events if e["pid"] == pid and e["ph"] == "X"]
        assert sorted(e["args"]["op"] for e in xs) == list(range(len(graph.ops)))  # every op exactly once
        for e in xs:
            op = graph.ops[e["args"]["op"]]
            assert e["args"]["end_cycle"] == float(sim.end[op.id]) and e["args"]["phase"] == op.phase
            assert e["args"]["queued_cycles"] == float(sim.start[op.id] - sim.ready[op.id]) >= 0
            assert (e["args"]["released_by"] is None) == (not op.deps)
            assert (e["ts"] + e["dur"]) * clock_mhz == pytest.approx(float(sim.end[op.id]), abs=1e-6)
        # the step ends when cost_step's DES says, and each phase spans what summary.json says
        assert max(e["args"]["end_cycle"] for e in xs) == pytest.approx(s["algorithms"][alg]["totals"]["per_step"]["cycles"])
        for phase, span in s["algorithms"][alg]["phase_cycles_per_step"].items():
            ph = [e for e in xs if e["cat"] == phase]
            assert max(e["args"]["end_cycle"] for e in ph) - min(e["args"]["start_cycle"] for e in ph) == pytest.approx(span)
        # slices on one track never overlap (Perfetto nests slices per thread)
        by_tid: dict[int, list] = {}
        for e in xs:
            by_tid.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
        for spans in by_tid.values():
            spans.sort()
            assert all(b[0] >= a[1] - 1e-9 for a, b in zip(spans, spans[1:]))
        tracks = {e["args"]["name"] for e in events if e["pid"] == pid and e["ph"] == "M" and e["name"] == "thread_name"}
        assert any("crossbars" in t for t in tracks) and any("NoC link" in t for t in tracks) and "DRAM channel" in tracks


# ------------------------------------------------------- first screen


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs it)")
def test_main_job_first_screen_shows_the_ratios_and_why(main_dir, tmp_path):
    assert_first_screen(main_dir, ["sdfa"], tmp_path)


def test_report_refuses_a_summary_of_an_older_neurosim(main_dir, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(main_dir, copy)
    s = _summary(copy)
    for a in s["algorithms"].values():
        del a["totals"]
    (copy / "summary.json").write_text(json.dumps(s))
    r = CliRunner().invoke(cli, ["report", str(copy)])
    assert r.exit_code == 2 and "older neurosim" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_device_rows_with_an_untrained_baseline(main_dir):
    """numerics: device with the baseline costed but not trained: the baseline has no measured
    pulses, so the device rows give the rule's figure with no ratio (it once raised TypeError)."""
    from neurosim.report.headline import headline_rows

    s = _summary(main_dir)
    rule = next(name for name in s["algorithms"] if name != s["baseline"])
    s["algorithms"][rule]["device_writes"] = {
        "fc1": {"ltp_pulses_per_step": 300.0, "ltd_pulses_per_step": 200.0, "pulses_per_cell_max": 7.0}}
    rows = {row.key: row for row in headline_rows(s)}
    cell = rows["device_pulses"].cells[rule]
    assert cell.text == fmt.count(500.0) and cell.ratio is None
    assert cell.note == f"{s['baseline']}/{rule} = –"
    assert rows["device_pulses_cell"].cells[s["baseline"]].text == "not trained"
    assert rows["energy"].cells[rule].ratio is not None  # the chip figures keep their ratios
