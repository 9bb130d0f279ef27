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
from .learning.device import LayerWriteStats
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


#: The op graph's programming rows that measured device writes replace.
_WRITE_ACTIONS = ("pulse", "cell_write")


def device_write_records(hw: HwConfig, writes: tuple[LayerWriteStats, ...]) -> list[Record]:
    """Measured programming of one mean step per layer (``numerics: device``).

    ``crossbar/pulse``: the pulses the quantised ΔW needed (LTP + LTD);
    ``crossbar/cell_write``: the cells that got at least one pulse, with the write
    latency as cycles (where the op graph puts the programming time): the slowest
    array's row-serial pulse slots times ``crossbar.write_pulse_cycles``.
    """
    if not writes or hw.crossbar is None:
        return []
    pulse_cycles = hw.crossbar.write_pulse_cycles.value
    out = []
    for s in writes:
        out.append(Record(s.layer, "weight_update", "crossbar", "pulse", s.pulses_per_step))
        out.append(Record(s.layer, "weight_update", "crossbar", "cell_write", s.cells_written_per_step, 0.0, s.pulse_slots_per_step * pulse_cycles))
    return out


def step_ledger(
    hw: HwConfig,
    layers: list[int],
    batch: int,
    algo: AlgorithmConfig,
    hwcost: HardwareCost,
    hw_path: str = "hwconfig",
    writes: tuple[LayerWriteStats, ...] = (),
) -> pd.DataFrame:
    """The ledger of one step: network counts plus the chip's rows, energy applied.

    With measured device ``writes``, the op graph's one-write-per-cell programming
    rows of those layers are replaced by the measured pulses (:func:`device_write_records`).
    """
    measured = {s.layer for s in writes}
    chip = [
        r
        for r in hwcost.records
        if not (r.layer in measured and r.phase == "weight_update" and r.component == "crossbar" and r.action in _WRITE_ACTIONS)
    ]
    records = counts.step_counts(layers, batch, algo) + chip + device_write_records(hw, writes)
    return ledger.apply_energy(ledger.build(algo.name, records), hw, hw_path)


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
    result = train(wl, algo, data.x_train, data.y_train, data.x_test, data.y_test, progress=progress, hw=hw)
    seconds = time.perf_counter() - t0
    df = step_ledger(hw, layers, batch, algo, hwcost, hw_path, result.device_writes)
    return AlgorithmRun(
        name=algo.name,
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
    hwcosts = {a.name: cost_step(hw, layers, wl.training.batch_size, a, steps_per_epoch=steps) for a in algorithms}
    res = RunResult(
        workload=wl,
        hw=hw,
        dataset_dir=data.source_dir,
        n_train=data.n_train,
        n_test=data.n_test,
        steps_per_epoch=steps,
    )
    for algo in algorithms:
        cb = (lambda s, t, _n=algo.name: progress(_n, s, t)) if progress else None
        res.algorithms[algo.name] = run_algorithm(wl, hw, algo, data, hwcosts[algo.name], hw_path=hw_path, progress=cb)
    return res
