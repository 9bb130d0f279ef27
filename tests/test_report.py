"""report.html and its plots are built from the run directory's files alone, and
the page loads in headless Chromium with every image it references."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from click.testing import CliRunner

from neurosim.cli import cli
from neurosim.report.plots import PLOTS

from .conftest import HW_RRAM, small_workload


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    wl = small_workload(tmp, "mnist_compare.yaml")
    out = tmp / "run"
    r = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(wl), "--out", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    return out


def _images(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', html)


def test_every_referenced_image_exists(run_dir):
    imgs = _images((run_dir / "report.html").read_text())
    assert sorted(imgs) == sorted(PLOTS)
    for name in imgs:
        assert (run_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_report_is_rebuilt_from_files_only(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    for f in [*PLOTS, "report.html", "comparison.csv"]:
        (copy / f).unlink()
    # edit the ledger: the rebuilt comparison must follow the file, not any cached run
    costs = pd.read_csv(copy / "costs.csv")
    sel = (costs["algorithm"] == "sdfa") & (costs["component"] == "network") & (costs["action"] == "mac") & (costs["phase"] == "error")
    costs.loc[sel, "count"] *= 2
    costs.to_csv(copy / "costs.csv", index=False)
    r = CliRunner().invoke(cli, ["report", str(copy)])  # an edited ledger no longer matches its summary
    assert r.exit_code == 2 and "costs.csv: does not belong to this summary.json" in r.stderr
    # an intentional edit is sealed by recording the file's new hash in summary.json
    from neurosim.report.rundir import sha256_file

    summary = json.loads((copy / "summary.json").read_text())
    summary["data_files"]["costs.csv"] = sha256_file(copy / "costs.csv")
    (copy / "summary.json").write_text(json.dumps(summary))
    r = CliRunner().invoke(cli, ["report", str(copy)])
    assert r.exit_code == 0, r.stderr
    for f in [*PLOTS, "report.html", "comparison.csv"]:
        assert (copy / f).exists(), f
    comp = pd.read_csv(copy / "comparison.csv")
    row = comp[(comp["metric"] == "MACs") & (comp["phase"] == "error")].iloc[0]
    assert row["sdfa"] == 2 * 32 * (800 + 800)
    assert row["bp/sdfa"] == pytest.approx(32 * (800 * 800 + 800 * 10) / (2 * 32 * 1600))


def test_report_on_a_folder_that_is_not_a_run(tmp_path):
    r = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert r.exit_code == 2 and "not a run directory" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_comparison_leads_with_the_seed_papers_ratios(run_dir):
    comp = pd.read_csv(run_dir / "comparison.csv")
    err = comp[(comp["metric"] == "MACs") & (comp["phase"] == "error")].iloc[0]
    assert err["bp/dfa"] == pytest.approx(20_736_000 / 512_000)
    assert err["bp/sdfa"] == pytest.approx(20_736_000 / 51_200)
    # the ssdfa accounting view, per sample: forward = weight_grad = 784*800 + 800*800 + 800*10 = 1_275_200,
    # BP's transposed multiply the same again, DFA's feedback 2 * 10 * 800 = 16_000
    view = comp[(comp["metric"] == "MACs (ssdfa view)") & (comp["phase"] == "step")].iloc[0]
    assert view["bp"] == 32 * 3 * 1_275_200
    assert view["bp/dfa"] == pytest.approx(3 * 1_275_200 / (2 * 1_275_200 + 16_000))
    html = (run_dir / "report.html").read_text()
    assert html.index("Why sdfa costs less than bp") < html.index("Comparison with bp") < html.index("Accuracy and alignment")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs it)")
def _chromium(url: str, tmp_path, extra: list[str] = ()) -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=5000", *extra, "--dump-dom", url,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return p


def _console(p: subprocess.CompletedProcess) -> list[str]:
    return [l for l in p.stderr.splitlines() if "CONSOLE" in l or "Failed to load resource" in l or "Uncaught" in l]


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs it)")
def test_report_opens_in_headless_chromium(run_dir, tmp_path):
    p = _chromium((run_dir / "report.html").resolve().as_uri(), tmp_path)
    dom = p.stdout
    assert "Comparison with bp" in dom and "</html>" in dom
    assert sorted(_images(dom)) == sorted(PLOTS)
    assert not _console(p), _console(p)
    # Chromium decodes every image the page references (a probe page logs each failure)
    srcs = [(run_dir / s).resolve().as_uri() for s in _images(dom)] + [(run_dir / "missing.png").resolve().as_uri()]
    probe = tmp_path / "probe.html"
    probe.write_text(
        "<script>" + "".join(
            f"(function(){{var i=new Image();i.onload=function(){{console.log('IMGOK '+i.naturalWidth)}};"
            f"i.onerror=function(){{console.log('IMGFAIL {u}')}};i.src='{u}';}})();" for u in srcs
        ) + "</script>"
    )
    log = "\n".join(_console(_chromium(probe.as_uri(), tmp_path)))
    assert log.count("IMGOK") == len(srcs) - 1, log
    assert log.count("IMGFAIL") == 1 and "missing.png" in log  # the probe itself can fail


def assert_first_screen(run_dir, rules: list[str], tmp_path) -> None:
    """At 1280x900 the headline's energy, cycles and error-phase data-movement ratios
    of each rule and the first "why" sentence are visible without scrolling (a probe
    script in a copy of the page logs the bottom of each element)."""
    import json

    sels = [f"tr[data-row={row}] td[data-rule={r}] [data-ratio]" for r in rules for row in ("energy", "cycles", "error_noc", "error_neuron")]
    sels.append("#why li")
    js = "".join(
        f"(function(){{var e=document.querySelector({json.dumps(sel)});"
        f"console.log('RECT '+(e?Math.round(e.getBoundingClientRect().bottom):-1)+' '+window.innerHeight+' '+{json.dumps(sel)});}})();"
        for sel in sels
    )
    page = tmp_path / "report.html"
    page.write_text((run_dir / "report.html").read_text().replace("</body>", f"<script>{js}</script></body>"))
    for f in run_dir.glob("*.png"):
        shutil.copy(f, tmp_path / f.name)
    lines = [l for l in _console(_chromium(page.as_uri(), tmp_path, extra=["--window-size=1280,900"])) if "RECT " in l]
    assert len(lines) == len(sels), lines
    for line in lines:
        bottom, height = (int(v) for v in line.split("RECT ", 1)[1].split()[:2])
        assert 0 < bottom <= height, line


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs it)")
def test_compare_run_first_screen_shows_the_ratios_and_why(run_dir, tmp_path):
    assert_first_screen(run_dir, ["dfa", "sdfa"], tmp_path)


def test_plots_drawn_in_two_processes_are_the_serial_bytes(run_dir, tmp_path):
    """draw_all's forked half writes the same files, byte for byte, as one process drawing all."""
    from neurosim.report.plots import draw_all

    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    for folder, workers in ((serial, 1), (parallel, 2)):
        shutil.copytree(run_dir, folder)
        for name in PLOTS:
            (folder / name).unlink()
        assert draw_all(folder, workers=workers) == list(PLOTS)
    for name in PLOTS:
        assert (parallel / name).read_bytes() == (serial / name).read_bytes(), name
