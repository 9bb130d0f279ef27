"""Python API for scripts and notebooks (and the engine behind ``neurosim run``).

>>> import neurosim.api as ns
>>> res = ns.run("hwconfigs/rram_tile.yaml", "workloads/mnist_sdfa.yaml", epochs=2, progress=True)  # doctest: +SKIP
>>> res                                  # a short text (or, in a notebook, the headline table)  # doctest: +SKIP
>>> res.costs().query("action == 'mac'")  # the ledger of one step, as costs.csv              # doctest: +SKIP
>>> ns.write_report(res, "reports/mine")  # the whole output contract of ``neurosim run``     # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import pipeline
from .config import hw as hwcfg
from .config import workload as wlcfg
from .config.hw import HwConfig
from .config.workload import Workload
from .data import Dataset, load_dataset
from .errors import NeurosimError
from .pipeline import BASELINE, RunResult
from .report.early import EarlyFigures
from .report.rundir import staged
from .report.terminal import RuleBars, text_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "load_hw",
    "load_workload",
    "with_overrides",
    "load_data",
    "run",
    "costs",
    "training",
    "summary",
    "layers",
    "Result",
    "write_report",
    "Job",
    "RunOutput",
    "prepare",
    "run_and_write",
]

def _files():
    """:mod:`neurosim.report.files` (pandas and the ledger), loaded when a result is read or written."""
    from .report import files

    return files


load_hw = hwcfg.load
load_workload = wlcfg.load


def with_overrides(wl: Workload, *, epochs: int | None = None, seed: int | None = None) -> Workload:
    """A copy of ``wl`` with the CLI's overrides applied."""
    if epochs is not None:
        wl = wl.model_copy(update={"training": wl.training.model_copy(update={"epochs": epochs})})
    if seed is not None:
        wl = wl.model_copy(update={"seed": seed})
    return wl


def load_data(wl: Workload, base_dir: str | Path | None = None) -> Dataset:
    return load_dataset(wl.dataset, base_dir=base_dir)


def run(
    hw: HwConfig | str | Path,
    wl: Workload | str | Path,
    *,
    algorithms: list[str] | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    data: Dataset | None = None,
    progress: bool | Callable[[str, int, int, float], None] = False,
    baseline: str | None = BASELINE,
) -> Result:
    """Train and cost ``wl``'s algorithms (or the named ones) on ``hw``; nothing is written.

    ``hw``/``wl`` are configs or YAML paths. ``progress=True`` draws one bar per
    rule (or pass a callable ``(rule, step, total, running_accuracy)``).
    ``baseline`` is costed too (not trained unless listed) and every ratio is
    against it; ``None`` turns it off."""
    hw_path = str(hw) if isinstance(hw, (str, Path)) else ""
    wl_path = str(wl) if isinstance(wl, (str, Path)) else ""
    hw = hwcfg.load(hw) if isinstance(hw, (str, Path)) else hw
    wl = wlcfg.load(wl) if isinstance(wl, (str, Path)) else wl
    wl = with_overrides(wl, epochs=epochs, seed=seed)
    data = data if data is not None else load_data(wl, base_dir=Path(wl_path).parent if wl_path else None)
    algos = pipeline.resolve_algorithms(wl, algorithms)
    bars = RuleBars(wl.training.epochs) if progress is True else None
    try:
        raw = pipeline.run(wl, hw, data, algos, hw_path=hw_path or "hwconfig", progress=bars or (progress or None), baseline=baseline)
    finally:
        if bars is not None:
            bars.close()
    return Result(raw, hw_path=hw_path, workload_path=wl_path)


class Result:
    """What :func:`run` measured. ``repr`` is a few lines; in a notebook it shows
    the headline table (a column per rule, the baseline's ratio under each figure)
    and the generated "why" sentences."""

    def __init__(self, raw: RunResult, *, hw_path: str = "", workload_path: str = ""):
        self.raw = raw
        self.hw_path = hw_path
        self.workload_path = workload_path
        self._summary: dict | None = None

    @property
    def algorithms(self) -> dict:
        return self.raw.algorithms

    def summary(self) -> dict:
        """What summary.json holds."""
        if self._summary is None:
            self._summary = _files().summarize(self.raw, hw_path=self.hw_path, workload_path=self.workload_path)
        return self._summary

    def costs(self) -> pd.DataFrame:
        """The ledger of one training step (the rows of costs.csv)."""
        return _files().costs_frame(self.raw)

    def training(self) -> pd.DataFrame:
        """Per (algorithm, epoch) loss, accuracies and alignment (training.csv)."""
        return _files().training_frame(self.raw)

    def layers(self) -> pd.DataFrame:
        """Per (algorithm, layer, phase): MACs, energy, busy cycles, bytes by level."""
        from .report.layers import layer_frame

        return layer_frame(self.costs())

    def why(self) -> dict[str, list[str]]:
        """Per rule: the generated sentences on where its saving over the baseline comes from."""
        from .report.why import why

        s = self.summary()
        base = s["baseline"]
        costs = self.costs()
        return {a: why(costs, s, base, a) for a in s["algorithms"] if base and a != base}

    def table(self) -> str:
        return text_table(self.summary())

    def __repr__(self) -> str:
        s = self.summary()
        wl, hw = self.raw.workload, self.raw.hw
        head = f"<neurosim Result: {wl.name} on {hw.name}, {s['epochs']} epochs, baseline {s['baseline'] or 'none'}>"
        return head + "\n" + self.table()

    def _repr_html_(self) -> str:
        from .report.html import headline_html

        return headline_html(self.summary(), self.costs())


def _raw(res: Result | RunResult) -> RunResult:
    return res.raw if isinstance(res, Result) else res


def costs(res: Result | RunResult) -> pd.DataFrame:
    """The ledger of one training step (the rows of costs.csv)."""
    return _files().costs_frame(_raw(res))


def training(res: Result | RunResult) -> pd.DataFrame:
    """Per (algorithm, epoch) loss, accuracies and alignment (the rows of training.csv)."""
    return _files().training_frame(_raw(res))


def summary(res: Result | RunResult) -> dict:
    """What summary.json holds."""
    return res.summary() if isinstance(res, Result) else _files().summarize(res, hw_path="", workload_path="")


def layers(res: Result | RunResult) -> pd.DataFrame:
    """Per (algorithm, layer, phase): MACs, energy, busy cycles and bytes by level."""
    from .report.layers import layer_frame

    return layer_frame(costs(res))


def write_report(res: Result | RunResult, out: str | Path, *, trace: bool = False) -> list[str]:
    """Write the output contract of ``neurosim run`` (data files, plots, report.html,
    and trace.json with ``trace=True``) into the folder ``out``; return the names written."""
    return _write_report(res, Path(out), trace=trace)


def _write_report(res: Result | RunResult, out: Path, *, trace: bool, early: EarlyFigures | None = None) -> list[str]:
    from .report import build

    hw_path = res.hw_path if isinstance(res, Result) else ""
    wl_path = res.workload_path if isinstance(res, Result) else ""
    raw = _raw(res)
    out.mkdir(parents=True, exist_ok=True)
    files = _files()
    files.write_run(raw, out, hw_path=hw_path, workload_path=wl_path)
    if early is not None:  # the data files are in place: the child draws the training figures meanwhile
        early.hand_over(out)
    written = [files.SUMMARY, files.COSTS, files.TRAINING, files.PLACEMENT, files.ALIGNMENT]
    if (out / files.CELLS).is_file() and any(run.ideal is not None for run in raw.algorithms.values()):
        written.append(files.CELLS)  # numerics: device
    from .learning.checkpoint import save_checkpoint

    for name, run in raw.algorithms.items():  # trained parameters, for a later run's transfer
        if run.training is not None and run.training.diverged is None:
            written.append(save_checkpoint(run.training.state, out / f"checkpoint_{name}.npz").name)
    if trace:
        from .report.trace import write_trace

        written.append(write_trace(raw, out))
    return written + build(out, early)


@dataclass(frozen=True)
class Job:
    """A validated run, ready to execute: configs loaded, data found, out dir free."""

    hw: HwConfig
    workload: Workload
    hw_path: Path
    workload_path: Path
    algorithms: list
    data: Dataset
    out: Path
    #: the rule every other is compared against (costed even when not trained); None: none
    baseline: str | None = BASELINE
    #: also write trace.json (one training step of each rule, trace-event format)
    trace: bool = False


@dataclass(frozen=True)
class RunOutput:
    result: RunResult
    summary: dict
    files: list[str]
    table: str


def _default_out(wl: Workload, hw: HwConfig) -> Path:
    return Path("reports") / f"{wl.name}__{hw.name}"


def prepare(
    hw_path: str | Path,
    wl_path: str | Path,
    *,
    out: str | Path | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    algorithms: list[str] | None = None,
    force: bool = False,
    baseline: str | None = BASELINE,
    trace: bool = False,
) -> Job:
    """Validate everything a run needs before anything is written (raises NeurosimError)."""
    hw_path, wl_path = Path(hw_path), Path(wl_path)
    hw = hwcfg.load(hw_path)
    wl = with_overrides(wlcfg.load(wl_path), epochs=epochs, seed=seed)
    out_dir = Path(out) if out is not None else _default_out(wl, hw)
    if out_dir.exists() and not out_dir.is_dir():
        raise NeurosimError(f"{out_dir}: --out must be a directory, found a file")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise NeurosimError(f"{out_dir}: run directory already exists; pass --force to overwrite it or --out to choose another")
    data = load_data(wl, base_dir=wl_path.parent)
    algos = pipeline.resolve_algorithms(wl, algorithms)
    if baseline is not None and baseline not in wlcfg.ALGORITHMS:
        raise NeurosimError(f"--baseline: expected one of {', '.join(wlcfg.ALGORITHMS)}; got {baseline!r}")
    return Job(hw=hw, workload=wl, hw_path=hw_path, workload_path=wl_path, algorithms=algos, data=data, out=out_dir,
               baseline=baseline, trace=trace)


def run_and_write(job: Job, *, progress_bar: bool = False) -> RunOutput:
    """Execute a prepared job and write the whole output contract into ``job.out``.

    On two cores the report's figures are drawn in a forked child alongside the
    training (:mod:`neurosim.report.early`); the files are the same bytes."""
    early = None if pipeline.ledger_needs_training(job.hw) else EarlyFigures.start()
    try:
        return _run_and_write(job, progress_bar, early)
    finally:
        if early is not None:
            early.close()


def _run_and_write(job: Job, progress_bar: bool, early: EarlyFigures | None) -> RunOutput:
    bars = RuleBars(job.workload.training.epochs) if progress_bar else None
    data_id = {"source_dir": str(Path(job.data.source_dir).resolve()), "n_train": job.data.n_train, "n_test": job.data.n_test}
    from .report.resume import RuleCache

    cache = RuleCache(job.out, hw=job.hw, workload=job.workload, dataset=data_id)  # rules finished before a crash
    try:
        raw = pipeline.run(job.workload, job.hw, job.data, job.algorithms, hw_path=str(job.hw_path), progress=bars,
                           out_dir=job.out, wl_path=str(job.workload_path), resume=cache, baseline=job.baseline,
                           planned=early.plan if early is not None else None)
    finally:
        if bars is not None:
            bars.close()
    res = Result(raw, hw_path=str(job.hw_path), workload_path=str(job.workload_path))
    try:
        with staged(job.out) as stage:  # the whole folder, swapped in only once complete
            written = _write_report(res, stage, trace=job.trace, early=early)
    except OSError as exc:  # e.g. the disk filled up during the run: nothing half-written is left
        raise NeurosimError(f"{job.out}: cannot write the run folder ({exc.strerror or exc}); "
                            "nothing was changed there") from None
    cache.clear()
    return RunOutput(result=raw, summary=res.summary(), files=written, table=res.table())
