"""Python API for scripts and notebooks (and the engine behind ``neurosim run``).

>>> import neurosim.api as ns
>>> hw = ns.load_hw("hwconfigs/rram_tile.yaml")
>>> wl = ns.load_workload("workloads/mnist_compare.yaml")
>>> res = ns.run(hw, wl, epochs=2)                     # doctest: +SKIP
>>> ns.costs(res).query("action == 'mac'")             # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from . import pipeline
from .config import hw as hwcfg
from .config import workload as wlcfg
from .config.hw import HwConfig
from .config.workload import Workload
from .data import Dataset, load_dataset
from .errors import NeurosimError
from .learning import save_checkpoint
from .pipeline import RunResult
from .report import files as rfiles

__all__ = [
    "load_hw",
    "load_workload",
    "with_overrides",
    "load_data",
    "run",
    "costs",
    "training",
    "summary",
    "Job",
    "RunOutput",
    "prepare",
    "run_and_write",
]

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
    hw: HwConfig,
    wl: Workload,
    *,
    algorithms: list[str] | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    data: Dataset | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> RunResult:
    """Train and cost ``wl``'s algorithms (or the named ones) on ``hw``; nothing is written."""
    wl = with_overrides(wl, epochs=epochs, seed=seed)
    data = data if data is not None else load_data(wl)
    algos = pipeline.resolve_algorithms(wl, algorithms)
    return pipeline.run(wl, hw, data, algos, progress=progress)


def costs(res: RunResult) -> pd.DataFrame:
    """The ledger of one training step (the rows of costs.csv)."""
    return rfiles.costs_frame(res)


def training(res: RunResult) -> pd.DataFrame:
    """Per (algorithm, epoch) loss, accuracies and alignment (the rows of training.csv)."""
    return rfiles.training_frame(res)


def summary(res: RunResult) -> dict:
    """What summary.json holds."""
    return rfiles.summarize(res, hw_path="", workload_path="")


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
    return Job(hw=hw, workload=wl, hw_path=hw_path, workload_path=wl_path, algorithms=algos, data=data, out=out_dir)


def _table(summary_: dict) -> str:
    head = ["algorithm", "test acc %", "MACs/step", "error bytes/step (neuron)", "NoC B·hop/step", "cycles/step",
            "energy µJ/step", "chip s/epoch"]
    rows = []
    for name, a in summary_["algorithms"].items():
        rows.append([
            name,
            f"{100 * a['test_accuracy']:.2f}",
            f"{sum(a['macs']['per_step'].values()):.3e}",
            f"{a['neuron_level_bytes_per_step']['deliver_error'] + a['neuron_level_bytes_per_step']['deliver_feedback']:.3e}",
            f"{a['bytes']['per_step'].get('noc_byte_hops', 0.0):.3e}",
            f"{a['cycles']['per_step']:.3e}",
            f"{a['energy_pj']['per_step_total'] / 1e6:.2f}",
            f"{a['latency_s']['per_epoch']:.4f}",
        ])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def run_and_write(job: Job, *, progress_bar: bool = False) -> RunOutput:
    """Execute a prepared job and write the whole output contract into ``job.out``."""
    from .report import build

    bar = None
    progress = None
    if progress_bar:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="step", leave=False, disable=None, dynamic_ncols=True)

        def progress(name: str, step: int, total: int) -> None:
            if bar.total != total or bar.desc != name:
                bar.reset(total=total)
                bar.set_description(name)
            bar.n = step
            bar.refresh()

    try:
        res = pipeline.run(job.workload, job.hw, job.data, job.algorithms, hw_path=str(job.hw_path), progress=progress)
    finally:
        if bar is not None:
            bar.close()
    job.out.mkdir(parents=True, exist_ok=True)
    summary_ = rfiles.write_run(res, job.out, hw_path=str(job.hw_path), workload_path=str(job.workload_path))
    written = [rfiles.SUMMARY, rfiles.COSTS, rfiles.TRAINING, rfiles.PLACEMENT]
    written += [save_checkpoint(a.training.state, job.out / f"checkpoint_{name}.npz").name for name, a in res.algorithms.items()]
    written += build(job.out)
    return RunOutput(result=res, summary=summary_, files=written, table=_table(summary_))
