"""The sweep driver: validate, plan, farm out, collect, write.

Training depends only on the workload, never on the chip, so each distinct
(numeric workload settings, algorithm) is trained once and its figures cached in
``DIR/numerics/<key>.json``; the chip of every point is costed on its own. Both
kinds of task are submitted together (training first: it is the long pole) and a
point is written as soon as its chip costs and all its algorithms' numerics are
in. Only this driver writes into the sweep folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..config.base import read_yaml, validate_mapping
from ..config.hw import HwConfig
from ..config.workload import Workload
from ..data import load_dataset
from ..errors import NeurosimError
from .columns import FIXED_COLUMNS, ID_COLUMN, METRIC_COLUMNS, TRAIN_COLUMNS, results_columns
from .executors import make_executor
from .spec import Key, Point, SweepSpec, apply_overrides, format_value
from .store import HTML, SweepDir
from .tasks import cost_task, device_numerics, one_line, train_task

__all__ = ["ID_COLUMN", "FIXED_COLUMNS", "Plan", "plan_sweep", "run_sweep", "numerics_key", "results_columns", "results_frame"]

#: Seconds between rewrites of results.csv while points finish (always at the end).
MERGE_INTERVAL_S = 2.0


def _hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:n]


def numerics_key(wl: Workload, algo: Any, data_id: dict, hw: HwConfig | None = None) -> str:
    """Cache key of a training run: everything in the workload that can change the
    numbers (not its name, nor the list of other algorithms), the algorithm's
    config, which data it read, the hwconfig's device numerics (if any) and the
    neurosim version."""
    w = wl.model_dump(mode="json")
    w.pop("name", None)
    w.pop("algorithms", None)
    w["dataset"].pop("data_dir", None)  # where the files were found is in data_id
    key = {"workload": w, "algorithm": algo.model_dump(mode="json"), "data": data_id, "version": __version__}
    device = device_numerics(hw)
    if device is not None:
        key["device"] = device
    return _hash(key)


@dataclass
class PlannedPoint:
    point: Point
    error: str | None = None
    hw: dict | None = None
    wl: dict | None = None
    algos: list[dict] = field(default_factory=list)
    #: algorithm name -> numerics key
    keys: dict[str, str] = field(default_factory=dict)
    n_train: int = 0
    base_dir: str | None = None
    source_dir: str | None = None


@dataclass
class Plan:
    spec: SweepSpec
    out: Path
    algorithms: list[str]
    params: list[str]
    points: list[PlannedPoint]
    fingerprint: str
    manifest: dict
    hw_name: str
    wl_name: str


def _load_base(path: Path, model):
    data, lines = read_yaml(path)
    validate_mapping(model, data, str(path), lines)
    return data


def plan_sweep(spec: SweepSpec) -> Plan:
    """Validate everything before anything is written: base configs, keys, data,
    output folder; then build and validate every point (an invalid point carries
    its one-line error instead of configs)."""
    from ..pipeline import resolve_algorithms

    hw_base = _load_base(spec.hw, HwConfig)
    wl_base = _load_base(spec.workload, Workload)
    if spec.epochs is not None:
        wl_base = apply_overrides(wl_base, {Key("wl", ("training", "epochs")): spec.epochs}, "wl")
    spec.check_keys(hw_base, wl_base)
    hw0 = HwConfig.model_validate(hw_base)
    wl0 = Workload.model_validate(wl_base)
    algorithms = list(spec.algorithms) if spec.algorithms else [a.name for a in wl0.algorithms]
    base_dir = str(spec.workload.parent)

    datasets: dict[str, dict] = {}

    def data_id(wl: Workload) -> dict:
        k = wl.dataset.model_dump_json()
        if k not in datasets:
            d = load_dataset(wl.dataset, base_dir=base_dir)
            datasets[k] = {"source_dir": os.path.realpath(d.source_dir), "n_train": d.n_train, "n_test": d.n_test}
        return datasets[k]

    base_data = data_id(wl0)  # a base dataset that cannot be found is the user's error, now
    out = spec.out or spec.default_out(hw0.name, wl0.name)
    SweepDir(out).check_usable()
    from ..preflight import check_out_dir

    check_out_dir(Path(out), len(algorithms))

    points = spec.expand()
    params: list[str] = list(dict.fromkeys(k.column for k in spec.keys()))
    planned: list[PlannedPoint] = []
    for p in points:
        pp = PlannedPoint(point=p, base_dir=base_dir)
        try:
            hw = validate_mapping(HwConfig, apply_overrides(hw_base, p.overrides, "hw"), str(spec.hw))
            wl = validate_mapping(Workload, apply_overrides(wl_base, p.overrides, "wl"), str(spec.workload))
            algos = resolve_algorithms(wl, algorithms)
            did = data_id(wl)
        except NeurosimError as exc:
            pp.error = one_line(exc)
        else:
            pp.hw = hw.model_dump(mode="json")
            pp.wl = wl.model_dump(mode="json")
            pp.algos = [a.model_dump(mode="json") for a in algos]
            pp.keys = {a.name: numerics_key(wl, a, did, hw) for a in algos}
            pp.n_train = did["n_train"]
            pp.source_dir = did["source_dir"]
        planned.append(pp)

    fingerprint = _hash({
        "hw": hw0.model_dump(mode="json"),
        "workload": wl0.model_dump(mode="json"),
        "data": base_data,
        "version": __version__,
    })
    manifest = {
        "neurosim_version": __version__,
        "hwconfig_path": str(spec.hw),
        "workload_path": str(spec.workload),
        "hw_name": hw0.name,
        "workload_name": wl0.name,
        "algorithms": algorithms,
        "parameters": params,
        "grid": spec.grid,
        "points": spec.points,
        "epochs": wl0.training.epochs,
        "n_points": len(planned),
        "point_ids": [p.point.id for p in planned],
        "base_fingerprint": fingerprint,
        "dataset": base_data,
        "sweep_file": spec.source,
    }
    return Plan(spec, Path(out), algorithms, params, planned, fingerprint, manifest, hw0.name, wl0.name)


# --------------------------------------------------------------------------- records


def _rows_ok(rec: dict, algorithms: list[str]) -> bool:
    rows = {r["algorithm"]: r for r in rec.get("rows", [])}
    return all(rows[a]["status"] == "ok" for a in algorithms)


def _is_done(rec: dict | None, plan: Plan, retry_failed: bool) -> bool:
    if not rec or rec.get("base_fingerprint") != plan.fingerprint:
        return False  # never computed, or computed from other base configs
    if not set(plan.algorithms) <= {r.get("algorithm") for r in rec.get("rows", [])}:
        return False
    return _rows_ok(rec, plan.algorithms) or not retry_failed


def _record(pp: PlannedPoint, plan: Plan, rows: list[dict]) -> dict:
    return {
        "point_id": pp.point.id,
        "params": pp.point.params,
        "base_fingerprint": plan.fingerprint,
        "neurosim_version": __version__,
        "status": "ok" if all(r["status"] == "ok" for r in rows) else "failed",
        "rows": rows,
    }


def _failed_rows(algorithms: list[str], error: str) -> list[dict]:
    return [{"algorithm": a, "status": "failed", "error": error} for a in algorithms]


def _merge_rows(pp: PlannedPoint, numerics: dict[str, dict], cost: dict[str, dict]) -> list[dict]:
    rows = []
    for a in pp.algos:
        name = a["name"]
        n = numerics[pp.keys[name]]
        c = cost.get(name, {"error": "no cost computed"})
        errors = [x["error"] for x in (n, c) if "error" in x]
        row = {"algorithm": name, "status": "failed" if errors else "ok", "error": " | ".join(errors)}
        row.update({k: n[k] for k in TRAIN_COLUMNS if k in n})
        row.update({k: v for k, v in c.items() if k != "error"})
        rows.append(row)
    return rows


def results_frame(plan: Plan, records: dict[str, dict]) -> pd.DataFrame:
    """results.csv: the finished points of this sweep, in grid order, then algorithm order."""
    rows = []
    for pp in plan.points:
        rec = records.get(pp.point.id)
        if not rec or rec.get("base_fingerprint") != plan.fingerprint:
            continue
        by_alg = {r["algorithm"]: r for r in rec["rows"]}
        if not set(plan.algorithms) <= set(by_alg):
            continue
        params = {k: format_value(v) for k, v in pp.point.params.items()}
        for a in plan.algorithms:
            r = by_alg[a]
            rows.append({ID_COLUMN: pp.point.id, **params, **r, "error": r.get("error") or ""})
    cols = results_columns(plan.params)
    df = pd.DataFrame(rows, columns=cols)
    for c in METRIC_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


# --------------------------------------------------------------------------- run


class _Bar:
    def __init__(self, total: int, done: int, failed: int, enabled: bool):
        self.ok, self.failed, self.total = done - failed, failed, total
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit="point", desc="sweep", disable=None, file=sys.stderr, dynamic_ncols=True)
            self._post()

    def _post(self, note: str = "", refresh: bool = True) -> None:
        if self.bar is not None:
            left = self.total - self.ok - self.failed
            self.bar.set_postfix_str(f"ok={self.ok} failed={self.failed} left={left}{note}", refresh=refresh)

    def point(self, ok: bool) -> None:
        if ok:
            self.ok += 1
        else:
            self.failed += 1
        if self.bar is not None:
            self._post(refresh=False)
            self.bar.update(1)

    def training(self, done: int, total: int) -> None:
        self._post(f" training={done}/{total}" if done < total else "")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _execute(plan: Plan, store: SweepDir, records: dict[str, dict], todo: list[PlannedPoint], bar: _Bar, flush, ex=None) -> None:
    spec = plan.spec
    # numerics: on disk already, or to train once per key
    numerics: dict[str, dict] = {}
    to_train: dict[str, PlannedPoint] = {}
    waiting: dict[str, list[str]] = {}  # key -> point ids waiting for it
    for pp in todo:
        for alg, key in pp.keys.items():
            if key in numerics or key in to_train:
                continue
            cached = store.load_numerics(key)
            if cached is not None:
                numerics[key] = cached
            else:
                to_train[key] = pp
    for pp in todo:
        for key in set(pp.keys.values()):
            waiting.setdefault(key, []).append(pp.point.id)
    by_id = {pp.point.id: pp for pp in todo}
    costs: dict[str, dict] = {}
    n_train_total = len(to_train)

    def finalize(pid: str) -> None:
        pp = by_id[pid]
        if pid not in costs or any(k not in numerics for k in pp.keys.values()):
            return
        rows = _merge_rows(pp, numerics, costs.pop(pid))
        rec = _record(pp, plan, rows)
        store.save_point(rec)
        records[pid] = rec
        bar.point(rec["status"] == "ok")
        flush()

    n_workers = spec.n_workers() if spec.executor != "serial" else 1
    n_workers = max(1, min(n_workers, len(to_train) + len(todo)))
    window = 4 * n_workers + len(to_train)
    ex = ex or make_executor(spec.executor, n_workers, spec.scheduler, spec.dask_processes)
    try:
        inflight: dict[Any, tuple[str, str]] = {}
        for key, pp in to_train.items():
            alg = next(a for a, k in pp.keys.items() if k == key)
            algo = next(a for a in pp.algos if a["name"] == alg)
            inflight[ex.submit(train_task, pp.wl, algo, pp.base_dir, pp.source_dir, pp.hw)] = ("train", key)
        bar.training(0, n_train_total)
        queue = list(todo)
        queue.reverse()

        def top_up() -> None:
            while queue and len(inflight) < window:
                pp = queue.pop()
                fut = ex.submit(cost_task, pp.hw, pp.wl, pp.algos, pp.n_train, str(spec.hw))
                inflight[fut] = ("cost", pp.point.id)

        top_up()
        while inflight:
            for fut in ex.wait(list(inflight)):
                kind, ident = inflight.pop(fut)
                try:
                    res = ex.result(fut)
                except NeurosimError:
                    raise  # the executor itself is gone (a local worker died): stop, rerun resumes
                except Exception as exc:  # noqa: BLE001 - e.g. a Dask worker killed while on this task
                    err = {"error": f"task lost: {one_line(exc)}"}
                    res = err if kind == "train" else {a["name"]: err for a in by_id[ident].algos}
                if kind == "train":
                    if "error" not in res:
                        store.save_numerics(ident, {"neurosim_version": __version__, **res})
                    numerics[ident] = res  # an error is used for this run's rows, never cached
                    bar.training(sum(1 for k in to_train if k in numerics), n_train_total)
                    for pid in waiting.get(ident, []):
                        finalize(pid)
                else:
                    costs[ident] = res
                    finalize(ident)
            top_up()
    except BaseException:
        ex.close(cancel=True)
        raise
    ex.close()


def run_sweep(spec: SweepSpec, *, progress: bool = False) -> pd.DataFrame:
    """Run (or resume) a sweep; return the rows of ``results.csv``.

    Writes ``DIR/results.csv``, ``DIR/sweep_*.png`` and ``DIR/sweep.html``.
    Points already on disk (same base configs) are skipped; failed ones are
    recomputed only with ``spec.retry_failed``. Raises :class:`NeurosimError`
    subclasses for user errors (before anything is written). On Ctrl-C every
    finished point stays on disk and results.csv holds them. A folder holding
    another sweep (grid, points, rules, epochs or base configs differ) is refused
    unless ``spec.force``.
    """
    plan = plan_sweep(spec)
    store = SweepDir(plan.out)
    # a remote cluster that cannot be reached is a user error: say so before writing anything
    early = make_executor(spec.executor, spec.n_workers(), spec.scheduler, spec.dask_processes) if spec.scheduler else None
    try:
        with store.locked():
            store.check_same_sweep(plan.manifest, force=spec.force)
            store.write_manifest(plan.manifest)
            return _run_locked(spec, plan, store, early, progress)
    finally:
        if early is not None:
            early.close()


def _run_locked(spec: SweepSpec, plan: Plan, store: SweepDir, early, progress: bool) -> pd.DataFrame:
    from . import html, plots

    records = store.load_points()
    todo, config_failed = [], []
    for pp in plan.points:
        if _is_done(records.get(pp.point.id), plan, spec.retry_failed):
            continue
        (config_failed if pp.error else todo).append(pp)
    done = len(plan.points) - len(todo) - len(config_failed)
    failed_done = sum(
        1 for pp in plan.points
        if pp.point.id in records and _is_done(records[pp.point.id], plan, spec.retry_failed)
        and not _rows_ok(records[pp.point.id], plan.algorithms)
    )
    bar = _Bar(len(plan.points), done, failed_done, progress)
    last = [0.0]
    wrote = [False]

    def flush(force: bool = False) -> None:
        now = time.monotonic()
        if force or now - last[0] >= MERGE_INTERVAL_S:
            wrote[0] |= store.write_results(results_frame(plan, records))
            last[0] = now

    try:
        for pp in config_failed:  # invalid values: fail now, with the config error
            rec = _record(pp, plan, _failed_rows(plan.algorithms, pp.error or ""))
            store.save_point(rec)
            records[pp.point.id] = rec
            bar.point(False)
        if todo:
            _execute(plan, store, records, todo, bar, flush, early)
    finally:
        bar.close()
        flush(force=True)
    df = results_frame(plan, records)
    expected = [plots.plot_name(p) for p in plan.params] + [plots.SCATTER, HTML]
    if wrote[0] or not all((plan.out / n).is_file() for n in expected):  # else they are drawn from this very file
        names = plots.draw_all(plan.out)
        html.write_page(plan.out, names)
    df.attrs["sweep_dir"] = str(plan.out)
    return df
