"""One run: train each algorithm, count its step, cost it on the chip, ledger it.

This is the library entry point behind ``neurosim run`` and the Python API. It
does no file I/O of its own except reading the dataset; writing the output
contract is :mod:`neurosim.report`'s job.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from . import counts, ledger
from .config.hw import HwConfig
from .config.workload import AlgorithmConfig, Workload
from .data import Dataset
from .learning import TrainResult, train
from .records import Record
from .sim import HardwareCost, cost_step

__all__ = ["AlgorithmRun", "RunResult", "resolve_algorithms", "step_ledger", "run_algorithm", "run"]


@dataclass(frozen=True)
class AlgorithmRun:
    """Everything measured for one algorithm in one run."""

    name: str
    config: AlgorithmConfig
    training: TrainResult
    hardware: HardwareCost
    #: Ledger of ONE training step (network + hardware rows, energy applied).
    costs: pd.DataFrame
    #: Network-level records summed over one epoch (exact, partial last batch included).
    epoch_network: list[Record]
    train_seconds: float


@dataclass(frozen=True)
class RunResult:
    workload: Workload
    hw: HwConfig
    dataset_dir: str
    n_train: int
    n_test: int
    steps_per_epoch: int
    algorithms: dict[str, AlgorithmRun] = field(default_factory=dict)


def resolve_algorithms(wl: Workload, names: list[str] | None) -> list[AlgorithmConfig]:
    """The workload's algorithms, or the named subset (a name the workload does not
    configure gets that rule's defaults)."""
    if not names:
        return list(wl.algorithms)
    from pydantic import TypeAdapter

    adapter = TypeAdapter(AlgorithmConfig)
    out = []
    for n in names:
        try:
            out.append(wl.algorithm(n))
        except KeyError:
            out.append(adapter.validate_python({"name": n}))
    return out


def step_ledger(hw: HwConfig, layers: list[int], batch: int, algo: AlgorithmConfig, hwcost: HardwareCost, hw_path: str = "hwconfig") -> pd.DataFrame:
    """The ledger of one step: network counts plus the chip's rows, energy applied."""
    records = counts.step_counts(layers, batch, algo) + list(hwcost.records)
    return ledger.apply_energy(ledger.build(algo.run_name, records), hw, hw_path)


def run_algorithm(
    wl: Workload,
    hw: HwConfig,
    algo: AlgorithmConfig,
    data: Dataset,
    hwcost: HardwareCost,
    *,
    hw_path: str = "hwconfig",
    progress: Callable[[int, int], None] | None = None,
) -> AlgorithmRun:
    """Train ``algo`` and ledger one step of it, given its chip cost."""
    layers = wl.widths
    batch = wl.training.batch_size
    t0 = time.perf_counter()
    result = train(wl, algo, data.x_train, data.y_train, data.x_test, data.y_test, progress=progress)
    seconds = time.perf_counter() - t0
    df = step_ledger(hw, layers, batch, algo, hwcost, hw_path)
    return AlgorithmRun(
        name=algo.run_name,
        config=algo,
        training=result,
        hardware=hwcost,
        costs=df,
        epoch_network=counts.epoch_counts(layers, data.n_train, batch, algo),
        train_seconds=seconds,
    )


def run(
    wl: Workload,
    hw: HwConfig,
    data: Dataset,
    algorithms: list[AlgorithmConfig],
    *,
    hw_path: str = "hwconfig",
    progress: Callable[[str, int, int], None] | None = None,
) -> RunResult:
    """Cost every algorithm on the chip (fast, and fails early on a network that
    does not fit), then train each in turn."""
    steps = math.ceil(data.n_train / wl.training.batch_size)
    layers = wl.widths
    hwcosts = {a.run_name: cost_step(hw, layers, wl.training.batch_size, a, steps_per_epoch=steps) for a in algorithms}
    res = RunResult(
        workload=wl,
        hw=hw,
        dataset_dir=data.source_dir,
        n_train=data.n_train,
        n_test=data.n_test,
        steps_per_epoch=steps,
    )
    for algo in algorithms:
        cb = (lambda s, t, _n=algo.run_name: progress(_n, s, t)) if progress else None
        res.algorithms[algo.run_name] = run_algorithm(wl, hw, algo, data, hwcosts[algo.run_name], hw_path=hw_path, progress=cb)
    return res
