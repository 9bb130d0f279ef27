"""The sweep driver: validate, plan, farm out, collect, write.

Training depends only on the workload, never on the chip, so each distinct
(numeric workload settings, algorithm) is trained once and its figures cached in
``DIR/numerics/<key>.json``; the chip of every point is costed on its own. Both
kinds of task are submitted together (training first: it is the long pole) and a
point is written as soon as its chip costs and all its algorithms' numerics are
in. Under ``numerics: device`` the training depends on the chip's cells (the key
says which fields) and a chip task waits for its training: it is costed with the
programming the training measured. Only this driver writes into the sweep folder.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from .. import __version__
from ..errors import NeurosimError
from .columns import FIXED_COLUMNS, ID_COLUMN, results_columns
from .executors import make_executor
from .plan import Plan, PlannedPoint, numerics_key, plan_sweep
from .progress import ProgressBar
from .records import failed_rows, is_done, merge_rows, make_record, rows_ok, results_frame
from .spec import SweepSpec
from .store import HTML, SweepDir
from .tasks import CPU_SECONDS, DEVICE_WRITES, cost_task, one_line, train_task

__all__ = ["ID_COLUMN", "FIXED_COLUMNS", "Plan", "plan_sweep", "run_sweep", "numerics_key", "results_columns", "results_frame"]

#: Seconds between rewrites of results.csv while points finish (always at the end).
MERGE_INTERVAL_S = 2.0


# --------------------------------------------------------------------------- run


def _work(pp: PlannedPoint, alg: str) -> int:
    """How long one rule's chip costing of a point takes, as a rank: the blocks its
    placement holds (the op graph and the simulation grow with them); 0 when it does not fit."""
    from ..config.hw import HwConfig
    from ..config.workload import Workload
    from ..mapping.placement import place
    from .tasks import ALGO

    try:
        pl = place(HwConfig.model_validate(pp.hw), Workload.model_validate(pp.wl).shapes, ALGO.validate_python(pp.algos[alg]))
    except Exception:  # noqa: BLE001 - e.g. MappingError: the chip task reports it, this is only a rank
        return 0
    return sum(len(m.blocks) for m in pl.matrices)


def cost_queue(todo: list[PlannedPoint]) -> list[tuple[PlannedPoint, str]]:
    """One chip task per (point, rule), the longest first (the longest-processing-time
    order keeps every worker busy to the end); ties in grid, then rule order."""
    tasks = [(pp, alg) for pp in todo for alg in pp.algos]
    work = {(pp.point.id, alg): _work(pp, alg) for pp, alg in tasks}
    return sorted(tasks, key=lambda t: -work[(t[0].point.id, t[1])])


def _measured(pp: PlannedPoint) -> bool:
    """A ``numerics: device`` point (:func:`neurosim.pipeline.ledger_needs_training` of its dumped
    hwconfig): its chip is costed from its trainings' measured programming."""
    return (pp.hw or {}).get("numerics") == "device"


@dataclass
class Timing:
    """Where a sweep's time went (``DIR/timing.json``, rewritten by every run; never a result):
    the driver's wall seconds before the first task and for the plots and page, and the
    workers' CPU seconds per training (by key) and per chip costing (by point and rule)."""

    plan_s: float = 0.0
    execute_s: float = 0.0
    plots_s: float = 0.0
    training_cpu_s: dict[str, float] = field(default_factory=dict)
    chip_cpu_s: dict[str, dict[str, float]] = field(default_factory=dict)


def _execute(plan: Plan, store: SweepDir, records: dict[str, dict], todo: list[PlannedPoint], bar: ProgressBar, flush,
             timing: Timing, ex=None) -> None:
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
            if cached is not None and (DEVICE_WRITES in cached or not _measured(pp)):  # older device figures: train again
                numerics[key] = cached
            else:
                to_train[key] = pp
    for pp in todo:
        for key in set(pp.keys.values()):
            waiting.setdefault(key, []).append(pp.point.id)
    by_id = {pp.point.id: pp for pp in todo}
    costs: dict[str, dict] = {pp.point.id: {} for pp in todo}  # point id -> run name -> its chip figures
    n_train_total = len(to_train)

    def finalize(pid: str) -> None:
        pp = by_id[pid]
        if pid not in costs or len(costs[pid]) < len(pp.algos) or any(k not in numerics for k in pp.keys.values()):
            return
        rows = merge_rows(pp, numerics, costs.pop(pid))
        rec = make_record(pp, plan, rows)
        store.save_point(rec)
        records[pid] = rec
        bar.point(rec["status"] == "ok")
        flush()

    n_workers = spec.n_workers() if spec.executor != "serial" else 1
    n_workers = max(1, min(n_workers, len(to_train) + len(todo)))
    window = 4 * n_workers + len(to_train)
    ex = ex or make_executor(spec.executor, n_workers, spec.scheduler, spec.dask_processes)
    try:
        inflight: dict[Any, tuple[str, str, str]] = {}
        for key, pp in to_train.items():
            alg = next(a for a, k in pp.keys.items() if k == key)
            algo = pp.algos[alg]
            inflight[ex.submit(train_task, pp.wl, algo, pp.base_dir, pp.source_dir, pp.hw)] = ("train", key, "")
        bar.training(0, n_train_total)
        queue = cost_queue(todo)
        queue.reverse()

        deferred: dict[str, list[tuple[PlannedPoint, str]]] = {}  # numerics key -> chip tasks waiting for its writes

        def top_up() -> None:
            while queue and len(inflight) < window:
                pp, alg = queue.pop()
                key = pp.keys[alg]
                writes = None
                if _measured(pp):  # costed with the programming its training measured
                    if key not in numerics:
                        deferred.setdefault(key, []).append((pp, alg))
                        continue
                    writes = {alg: numerics[key].get(DEVICE_WRITES, [])}
                fut = ex.submit(cost_task, pp.hw, pp.wl, [pp.algos[alg]], pp.n_train, str(spec.hw), writes)
                inflight[fut] = ("cost", pp.point.id, alg)

        top_up()
        while inflight:
            for fut in ex.wait(list(inflight)):
                kind, ident, alg = inflight.pop(fut)
                try:
                    res = ex.result(fut)
                except NeurosimError:
                    raise  # the executor itself is gone (a local worker died): stop, rerun resumes
                except Exception as exc:  # noqa: BLE001 - e.g. a Dask worker killed while on this task
                    err = {"error": f"task lost: {one_line(exc)}"}
                    res = err if kind == "train" else {alg: err}
                if kind == "train":
                    timing.training_cpu_s[ident] = res.get(CPU_SECONDS, 0.0)
                    if "error" not in res:
                        store.save_numerics(ident, {"neurosim_version": __version__, **res})
                    numerics[ident] = res  # an error is used for this run's rows, never cached
                    bar.training(sum(1 for k in to_train if k in numerics), n_train_total)
                    queue.extend(deferred.pop(ident, []))
                    for pid in waiting.get(ident, []):
                        finalize(pid)
                else:
                    for name, figures in res.items():
                        timing.chip_cpu_s.setdefault(ident, {})[name] = figures.pop(CPU_SECONDS, 0.0)
                    costs[ident].update(res)
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
    t0 = time.perf_counter()
    plan = plan_sweep(spec)
    store = SweepDir(plan.out)
    # a remote cluster that cannot be reached is a user error: say so before writing anything
    early = make_executor(spec.executor, spec.n_workers(), spec.scheduler, spec.dask_processes) if spec.scheduler else None
    try:
        with store.locked():
            store.check_same_sweep(plan.manifest, force=spec.force)
            store.write_manifest(plan.manifest)
            return _run_locked(spec, plan, store, early, progress, t0)
    finally:
        if early is not None:
            early.close()


def _run_locked(spec: SweepSpec, plan: Plan, store: SweepDir, early, progress: bool, t0: float) -> pd.DataFrame:
    from . import html, plots

    records = store.load_points()
    todo, config_failed = [], []
    for pp in plan.points:
        if is_done(records.get(pp.point.id), plan, spec.retry_failed):
            continue
        (config_failed if pp.error else todo).append(pp)
    done = len(plan.points) - len(todo) - len(config_failed)
    failed_done = sum(
        1 for pp in plan.points
        if pp.point.id in records and is_done(records[pp.point.id], plan, spec.retry_failed)
        and not rows_ok(records[pp.point.id], plan.algorithms)
    )
    bar = ProgressBar(len(plan.points), done, failed_done, progress)
    last = [0.0]
    wrote = [False]

    def flush(force: bool = False) -> None:
        now = time.monotonic()
        if force or now - last[0] >= MERGE_INTERVAL_S:
            wrote[0] |= store.write_results(results_frame(plan, records))
            last[0] = now

    try:
        for pp in config_failed:  # invalid values: fail now, with the config error
            rec = make_record(pp, plan, failed_rows(plan.algorithms, pp.error or ""))
            store.save_point(rec)
            records[pp.point.id] = rec
            bar.point(False)
        timing = Timing(plan_s=time.perf_counter() - t0)
        t1 = time.perf_counter()
        if todo:
            _execute(plan, store, records, todo, bar, flush, timing, early)
        timing.execute_s = time.perf_counter() - t1
    finally:
        bar.close()
        flush(force=True)
    df = results_frame(plan, records)
    expected = [plots.plot_name(p) for p in plan.params] + [plots.SCATTER, HTML]
    if wrote[0] or not all((plan.out / n).is_file() for n in expected):  # else they are drawn from this very file
        names = plots.draw_all(plan.out)
        html.write_page(plan.out, names)
    timing.plots_s = time.perf_counter() - t1 - timing.execute_s
    store.write_timing(asdict(timing))
    df.attrs["sweep_dir"] = str(plan.out)
    return df
