"""The Python API of the README: load, run, get DataFrames back; nothing written."""

from __future__ import annotations

import neurosim.api as ns

from .conftest import HW_DIGITAL, HW_RRAM, REPO, WORKLOADS


def _small(wl):
    ds = wl.dataset.model_copy(update={"train_limit": 256, "test_limit": 128})
    return wl.model_copy(update={"dataset": ds})


def test_run_returns_frames_and_writes_nothing(tmp_path, monkeypatch, mnist_dir):
    monkeypatch.chdir(tmp_path)
    hw = ns.load_hw(HW_RRAM)
    wl = _small(ns.load_workload(WORKLOADS / "mnist_compare.yaml"))
    res = ns.run(hw, wl, epochs=1, algorithms=["bp", "sdfa"])
    costs = ns.costs(res)
    macs = costs[costs.action == "mac"].groupby(["algorithm", "phase"])["count"].sum()
    assert macs[("sdfa", "error")] == 32 * (800 + 800)
    assert macs[("bp", "error")] == 32 * (800 * 800 + 800 * 10)
    tr = ns.training(res)
    assert list(tr["algorithm"]) == ["bp", "sdfa"] and (tr["epoch"] == 1).all()
    s = ns.summary(res)
    assert s["algorithms"]["sdfa"]["macs"]["per_step"]["error"] == 51_200
    assert list(tmp_path.iterdir()) == []


def test_digital_chip_has_no_crossbar_rows(mnist_dir):
    hw = ns.load_hw(HW_DIGITAL)
    wl = _small(ns.load_workload(WORKLOADS / "mnist_dfa.yaml"))
    res = ns.run(hw, wl, epochs=1)
    costs = ns.costs(res)
    assert not costs["component"].isin(["crossbar", "adc", "dac"]).any()
    core = costs[(costs.component == "core") & (costs.action == "digital_mac")].groupby("phase")["count"].sum()
    net = costs[(costs.component == "network") & (costs.action == "mac")].groupby("phase")["count"].sum()
    # on an all-digital chip every algorithm-level MAC runs on a core
    for phase, n in net.items():
        assert core.get(phase, 0) == n, phase
    assert ns.summary(res)["algorithms"]["dfa"]["rram_writes_per_cell_per_epoch"]["max"] == 0


def test_result_repr_html_and_write_report(tmp_path, mnist_dir):
    hw = ns.load_hw(HW_RRAM)
    wl = _small(ns.load_workload(WORKLOADS / "mnist_sdfa.yaml"))
    seen = []
    res = ns.run(hw, wl, epochs=1, progress=lambda rule, step, total, acc: seen.append((rule, step, total, acc)))
    assert [s[0] for s in seen] == ["sdfa"] * 8 and seen[-1][1:3] == (8, 8) and 0 <= seen[-1][3] <= 1
    text = repr(res)
    assert text.startswith("<neurosim Result: mnist_sdfa on rram_tile") and "not trained" in text and len(text.splitlines()) < 25
    page = res._repr_html_()
    assert "<table" in page and "bp/sdfa = 405×" in page and "Why sdfa costs less than bp" in page
    assert list(res.layers()["algorithm"].unique()) == ["bp", "sdfa"]
    names = ns.write_report(res, tmp_path / "out", trace=True)
    for name in ("summary.json", "costs.csv", "trace.json", "report.html", "layers.png"):
        assert name in names and (tmp_path / "out" / name).stat().st_size > 0, name


def _readme_block(section: str) -> str:
    import re

    text = (REPO / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", text[text.index(section):], flags=re.S).group(1)


def test_readme_python_example_runs_as_written(tmp_path, mnist_dir):
    import os
    import shutil
    import subprocess
    import sys

    for d in ("hwconfigs", "workloads"):
        shutil.copytree(REPO / d, tmp_path / d)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-c", _readme_block("## Python API")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    out = p.stdout
    assert "sdfa" in out and "not trained" in out and "- Per training step sdfa uses" in out, out
    assert "51200" in out  # sparse DFA's error-phase MACs, 32 x 1 x (800 + 800), in the groupby
    for name in ("report.html", "trace.json", "summary.json"):
        assert (tmp_path / "reports" / "notebook" / name).is_file(), name
