"""Sweeps: key routing, grid expansion, failed points, the numerics cache,
SIGKILL + resume, Dask vs local processes, and the page.

Every sweep here runs a TINY workload (784-32-10, 300 training images, 1 epoch)
so that training is cheap and the chip costing dominates.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from neurosim.errors import ConfigError, NeurosimError
from neurosim.sweep import SweepError, SweepSpec, parse_key, parse_set, parse_value, run_sweep
from neurosim.sweep.spec import point_id

from .conftest import DATA_DIR, HW_RRAM, REPO

TINY = {
    "name": "tiny",
    "seed": 0,
    "dataset": {"name": "mnist", "train_limit": 300, "test_limit": 200},
    "network": {"layers": [784, 32, 10], "activation": "tanh"},
    "training": {"epochs": 1, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 0.05}},
    "algorithms": [{"name": "bp"}, {"name": "dfa"}, {"name": "sdfa", "fanin": 1}],
}
ALGS = ["bp", "dfa", "sdfa"]


@pytest.fixture
def tiny(tmp_path, mnist_dir) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(TINY, sort_keys=False))
    return p


def _ids(df: pd.DataFrame) -> list[str]:
    return df["point_id"].tolist()


# --------------------------------------------------------------------------- spec (no running)


def test_keys_route_values_parse_and_grid_expands(tmp_path):
    assert parse_key("crossbar.rows").target == "hw"
    assert parse_key("noc.mesh").target == "hw"
    assert parse_key("energy.adc.convert.energy_pj").target == "hw"
    assert parse_key("training.batch_size").target == "wl"
    assert parse_key("seed").target == "wl"
    k = parse_key("network.layers[1]")
    assert (k.target, k.path, k.column) == ("wl", ("network", "layers", 1), "network.layers[1]")
    assert parse_key("network.layers.1") == k
    assert parse_key("hw.crossbar.rows") == parse_key("crossbar.rows")  # redundant prefix
    assert parse_key("hw.name").column == "hw.name" and parse_key("name").target == "wl"
    for bad in ("", "a..b", "[1]", "hw."):
        with pytest.raises(SweepError):
            parse_key(bad)

    assert parse_value("64") == 64 and isinstance(parse_value("64"), int)
    assert parse_value("4x4") == "4x4"
    assert parse_value("0.5") == 0.5 and parse_value("1e-3") == 0.001
    assert parse_value("null") is None and parse_value("[784, 64, 10]") == [784, 64, 10]
    assert parse_set("crossbar.rows=64,128,256") == ("crossbar.rows", [64, 128, 256])
    assert parse_set("network.layers=[784,32,10],[784,64,10]") == ("network.layers", [[784, 32, 10], [784, 64, 10]])
    with pytest.raises(SweepError):
        parse_set("crossbar.rows")

    spec = SweepSpec.from_cli("hw.yaml", "wl.yaml", ["crossbar.rows=64,128,256", "noc.mesh=4x4,8x8", "seed=0,1"])
    pts = spec.expand()
    assert len(pts) == 12 and len({p.id for p in pts}) == 12
    assert pts[0].params == {"crossbar.rows": 64, "noc.mesh": "4x4", "seed": 0}
    assert [p.params["seed"] for p in pts[:2]] == [0, 1]  # last key varies fastest
    # the id hashes the routed overrides: order- and prefix-free, and stable
    assert point_id({parse_key("noc.mesh"): "4x4", parse_key("hw.crossbar.rows"): 64}) == \
        point_id({parse_key("crossbar.rows"): 64, parse_key("noc.mesh"): "4x4"})
    assert pts[0].id == SweepSpec.from_cli("a", "b", ["seed=0", "noc.mesh=4x4", "crossbar.rows=64"]).expand()[0].id

    # a sweep file: grid crossed with coupled points; paths relative to the file
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({
        "hw": "hw.yaml", "workload": "wl.yaml", "algorithms": "bp,dfa",
        "grid": {"noc.mesh": ["4x4", "8x8"]},
        "points": [{"crossbar.rows": 64, "crossbar.cols": 64}, {"crossbar.rows": 128, "crossbar.cols": 128}],
    }))
    s = SweepSpec.load(f)
    assert s.hw == tmp_path / "hw.yaml" and s.algorithms == ["bp", "dfa"]
    assert [p.params for p in s.expand()][1] == {"noc.mesh": "4x4", "crossbar.rows": 128, "crossbar.cols": 128}
    assert len(s.expand()) == 4
    f.write_text("hw: a.yaml\nworkload: b.yaml\ngrid: {noc.mesh: [4x4]}\nbogus: 1\n")
    with pytest.raises(ConfigError, match=r"s\.yaml:4: bogus: unknown key"):
        SweepSpec.load(f)


def test_user_errors_are_one_line_before_anything_is_written(tmp_path, tiny):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"crossbar\.rowz: not a field of the hwconfig"):
        run_sweep(SweepSpec.from_cli(HW_RRAM, tiny, ["crossbar.rowz=64"], out=out))
    with pytest.raises(ConfigError, match=r"batchsize: not a field of the workload"):
        run_sweep(SweepSpec.from_cli(HW_RRAM, tiny, ["training.batchsize=8"], out=out))
    with pytest.raises(SweepError, match=r"algorithms"):
        SweepSpec.from_cli(HW_RRAM, tiny, [], algorithms=["bp", "nope"])
    assert not out.exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "summary.json").write_text("{}")
    with pytest.raises(NeurosimError, match="not a sweep folder"):
        run_sweep(SweepSpec.from_cli(HW_RRAM, tiny, ["crossbar.rows=64"], out=tmp_path / "busy"))


def test_cli_sweep_file_and_one_line_errors(tmp_path, tiny):
    from click.testing import CliRunner

    from neurosim.cli import cli

    r = CliRunner().invoke(cli, ["sweep", str(HW_RRAM), str(tiny), "--set", "crossbar.rowz=64", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "crossbar.rowz: not a field of the hwconfig" in r.stderr
    r = CliRunner().invoke(cli, ["sweep", "--file", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 2 and "missing.yaml: file not found" in r.stderr
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump({
        "hw": str(HW_RRAM), "workload": tiny.name, "algorithms": ["dfa"], "executor": "serial", "out": str(tmp_path / "fromfile"),
        "grid": {"noc.mesh": ["4x4", "8x8"]},
        "points": [{"crossbar.rows": 64, "crossbar.cols": 64}, {"crossbar.rows": 128, "crossbar.cols": 128}],
    }, sort_keys=False))
    r = CliRunner().invoke(cli, ["sweep", "--file", str(f), "--set", "crossbar.cols_per_adc=8"])
    assert r.exit_code == 0, r.stderr
    assert "4 points x 1 algorithm: 4 ok, 0 failed" in r.stdout
    df = pd.read_csv(tmp_path / "fromfile" / "results.csv")
    assert list(df.columns[1:5]) == ["noc.mesh", "crossbar.cols_per_adc", "crossbar.rows", "crossbar.cols"]
    assert df["crossbar.rows"].tolist() == [64, 128, 64, 128] and (df["status"] == "ok").all()


# --------------------------------------------------------------------------- serial: failures, cache, page


def test_failed_point_cache_resume_and_page(tmp_path, tiny, train_calls):
    calls = train_calls
    out = tmp_path / "sw"
    spec = SweepSpec.from_cli(HW_RRAM, tiny, ["crossbar.rows=0,64,128", "noc.mesh=4x4,8x8"],
                              algorithms=ALGS, out=out, executor="serial")
    df = run_sweep(spec)

    # one row per point x algorithm, swept parameters as columns, grid order
    assert len(df) == 6 * 3 and list(df.columns[:3]) == ["point_id", "crossbar.rows", "noc.mesh"]
    assert df["crossbar.rows"].tolist()[:6] == [0] * 6 and df["algorithm"].tolist()[:3] == ALGS
    bad = df[df["crossbar.rows"] == 0]
    assert (bad["status"] == "failed").all() and len(bad) == 6
    msg = bad["error"].iloc[0]
    assert "crossbar.rows" in msg and "greater than 0" in msg and "\n" not in msg and str(HW_RRAM) in msg
    good = df[df["crossbar.rows"] != 0]
    assert (good["status"] == "ok").all(), good["error"].tolist()
    for col in ["test_accuracy", "macs_per_step", "macs_per_step_error", "cycles_per_step", "error_phase_cycles",
                "cycles_per_epoch", "latency_s_per_epoch", "energy_pj_per_step", "energy_pj_per_step_adc",
                "bytes_per_step_crossbar_io", "bytes_per_step_sram", "bytes_per_step_noc_byte_hops", "bytes_per_step_dram",
                "rram_writes_per_cell_per_epoch_mean", "rram_writes_per_cell_per_epoch_max", "stall_cycles"]:
        assert good[col].notna().all(), col
    assert (good["cycles_per_step"] > 0).all() and (good["energy_pj_per_step"] > 0).all()
    comps = [c for c in df.columns if c.startswith("energy_pj_per_step_")]
    assert good[comps].sum(axis=1).to_numpy() == pytest.approx(good["energy_pj_per_step"].to_numpy())
    # training depends only on the workload: same accuracy at every chip point, trained once per algorithm
    assert good.groupby("algorithm")["test_accuracy"].nunique().eq(1).all()
    assert sorted(calls) == sorted(ALGS)
    assert len(list((out / "numerics").glob("*.json"))) == 3
    # the same figures as `neurosim run` on the same configs (rows=128, mesh=8x8 is the base chip)
    import neurosim.api as ns

    summ = ns.summary(ns.run(ns.load_hw(HW_RRAM), ns.load_workload(tiny)))["algorithms"]
    base = good[(good["crossbar.rows"] == 128) & (good["noc.mesh"] == "8x8")].set_index("algorithm")
    for alg in ALGS:
        a, r = summ[alg], base.loc[alg]
        assert r["test_accuracy"] == a["test_accuracy"]
        assert r["energy_pj_per_step"] == pytest.approx(a["totals"]["per_step"]["energy_pj"], rel=1e-12)
        assert r["cycles_per_step"] == a["totals"]["per_step"]["cycles"] and r["error_phase_cycles"] == a["phase_cycles_per_step"]["error"]
        assert r["macs_per_step"] == sum(a["macs"]["per_step"].values())
        assert r["bytes_per_step_noc_byte_hops"] == a["bytes"]["per_step"]["noc_byte_hops"]
        assert r["latency_s_per_epoch"] == pytest.approx(a["totals"]["per_epoch"]["latency_s"], rel=1e-12)
    calls.clear()

    on_disk = pd.read_csv(out / "results.csv")
    assert _ids(on_disk) == _ids(df) and len(list((out / "points").glob("*.json"))) == 6

    # the page and its plots
    page = (out / "sweep.html").read_text()
    imgs = re.findall(r"<img src='([^']+)'", page)
    assert {"sweep_crossbar_rows.png", "sweep_noc_mesh.png", "sweep_energy_latency.png"} <= set(imgs)
    for img in imgs:
        assert (out / img).stat().st_size > 1000, img
    assert "greater than 0" in page
    from neurosim.sweep.plots import draw_all  # the forked half draws the serial bytes

    serial = tmp_path / "serial_plots"
    shutil.copytree(out, serial)
    assert draw_all(serial, workers=1) == draw_all(out, workers=2)
    for img in imgs:
        assert (serial / img).read_bytes() == (out / img).read_bytes(), img

    # rerun: nothing trained, nothing recomputed; --retry-failed redoes only the failed point
    stamps = {f.name: f.stat().st_mtime_ns for f in (out / "points").glob("*.json")}
    calls.clear()
    df2 = run_sweep(spec)
    pd.testing.assert_frame_equal(df, df2)
    assert calls == [] and {f.name: f.stat().st_mtime_ns for f in (out / "points").glob("*.json")} == stamps
    spec.retry_failed = True
    run_sweep(spec)
    changed = [n for n, t in stamps.items() if (out / "points" / n).stat().st_mtime_ns != t]
    assert sorted(changed) == sorted(f"{pid}.json" for pid in set(bad["point_id"])) and calls == []

    # a workload sweep trains once per distinct workload (and algorithm)
    calls.clear()
    spec2 = SweepSpec.from_cli(HW_RRAM, tiny, ["crossbar.rows=64", "noc.mesh=4x4", "training.batch_size=32,16"],
                               algorithms=["dfa"], out=tmp_path / "wl", executor="serial")
    df3 = run_sweep(spec2)
    assert (df3["status"] == "ok").all() and calls == ["dfa", "dfa"]
    assert df3["steps_per_epoch"].tolist() == [10, 19]


# --------------------------------------------------------------------------- SIGKILL and resume


def _sweep_cmd(hw: Path, wl: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "neurosim", "sweep", str(hw), str(wl),
            "--set", "crossbar.rows=32,64,128,256", "--set", "crossbar.cols=64,128", "--set", "noc.mesh=4x4,8x8",
            "--set", "core.macs_per_cycle=128,256",
            "--algorithms", "bp,dfa", "--workers", "1", "--out", str(out)]


def _start_and_wait(cmd, cwd, env, log: Path, points: Path, total: int, at_least: int) -> subprocess.Popen:
    """Start the sweep in its own session; return once ``at_least`` more points are on disk."""
    before = len(list(points.glob("*.json"))) if points.is_dir() else 0
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=logf, stderr=logf, start_new_session=True)
    deadline = time.monotonic() + 60
    n = before
    while time.monotonic() < deadline and proc.poll() is None:
        n = len(list(points.glob("*.json"))) if points.is_dir() else 0
        if n >= before + at_least:
            break
        time.sleep(0.005)
    if proc.poll() is not None or not n < total:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"sweep ended before it could be stopped ({n} of {total} points): {log.read_text()[-800:]}")
    return proc


def test_sigterm_and_sigkill_then_rerun_finds_every_point_once(tmp_path, tiny):
    out = tmp_path / "killed"
    points = out / "points"
    cmd = _sweep_cmd(HW_RRAM, tiny, out)
    env = {**os.environ, "NEUROSIM_DATA_DIR": str(DATA_DIR), "PYTHONPATH": str(REPO)}
    total = 32

    # SIGTERM (a batch system's stop) to the driver: it stops its workers, results.csv holds every finished point
    proc = _start_and_wait(cmd, tmp_path, env, tmp_path / "term.log", points, total, 2)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "interrupted" in (tmp_path / "term.log").read_text()
    done = {f.stem for f in points.glob("*.json")}
    df = pd.read_csv(out / "results.csv")
    assert 2 <= len(done) < total and set(df["point_id"]) == done and len(df) == 2 * len(done)

    # SIGKILL of the driver and its workers, mid-sweep
    proc = _start_and_wait(cmd, tmp_path, env, tmp_path / "kill.log", points, total, 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(done) + 2 <= len(list(points.glob("*.json"))) < total

    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    df = pd.read_csv(out / "results.csv")
    assert len(df) == total * 2 and (df["status"] == "ok").all()
    assert df.groupby(["point_id", "algorithm"]).size().eq(1).all() and df["point_id"].nunique() == total
    assert not list(out.rglob(".*.tmp"))
    assert len(list((out / "numerics").glob("*.json"))) == 2  # trained once, in the first run


# --------------------------------------------------------------------------- Dask == local processes


def test_dask_gives_the_same_results_as_local_processes(tmp_path, tiny):
    """``--executor dask`` starts a LocalCluster of 2 worker *processes*: the same
    bytes as the local pool. ``--scheduler`` reaches an existing cluster (here one
    of threads inside this process, which is quick to start but trains with this
    process's BLAS threads: the loss may differ in the ninth digit)."""
    distributed = pytest.importorskip("distributed")
    sets = ["crossbar.rows=64,128", "noc.mesh=4x4,8x8"]

    def sweep(name, **kw):
        run_sweep(SweepSpec.from_cli(HW_RRAM, tiny, sets, algorithms=["bp", "sdfa"], out=tmp_path / name, workers=2, **kw))
        return pd.read_csv(tmp_path / name / "results.csv").sort_values(["point_id", "algorithm"]).reset_index(drop=True)

    local = sweep("local", executor="local")
    assert len(local) == 8 and (local["status"] == "ok").all()
    pd.testing.assert_frame_equal(local, sweep("dask", executor="dask"))  # no wall-time columns: bit-identical
    assert (tmp_path / "local" / "results.csv").read_bytes() == (tmp_path / "dask" / "results.csv").read_bytes()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = sweep("remote", scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(local, remote, check_exact=False, rtol=1e-6)
