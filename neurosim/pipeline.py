"""One run: train each algorithm, count its step, cost it on the chip, ledger it.

This is the library entry point behind ``neurosim run`` and the Python API. It
does no file I/O of its own except reading the dataset; writing the output
contract is :mod:`neurosim.report`'s job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import counts
from .accounting import ssdfa
from .config.hw import HwConfig
from .config.network import LayerShape
from .config.workload import AlgorithmConfig, Workload
from .data import Dataset
from .records import Record
from .data.identity import check_identity
from .preflight import Plan, preflight
from .sim import HardwareCost, cost_step

if TYPE_CHECKING:  # pandas, numba (the trainer) and the ledger load when a run needs them
    import pandas as pd

    from .learning import TrainResult
    from .learning.device import LayerWriteStats

__all__ = ["AlgorithmRun", "RunResult", "Plan", "CostedPlan", "preflight", "resolve_algorithms", "step_ledger",
           "ledger_needs_training", "measured_write_cycles", "run_algorithm", "cost_baseline", "run", "BASELINE"]

#: The rule every run is compared against unless told otherwise (``--baseline``).
BASELINE = "bp"

#: ``progress(algorithm, step, total_steps, running_train_accuracy)``.
Progress = Callable[[str, int, int, float], None]


@dataclass(frozen=True)
class AlgorithmRun:
    """Everything measured for one algorithm in one run (``training`` is None for
    a baseline that was costed but not trained)."""

    name: str
    config: AlgorithmConfig
    training: TrainResult | None
    hardware: HardwareCost
    #: Ledger of ONE training step (network + hardware rows, energy applied).
    costs: pd.DataFrame
    #: Network-level records summed over one epoch (exact, partial last batch included).
    epoch_network: list[Record]
    train_seconds: float
    #: ``numerics: device`` only: the same rule, same seed and data, trained on ideal cells
    #: (``numerics: ideal``), for the side-by-side of ideal and real cells (docs/device.md).
    ideal: TrainResult | None = None

    @property
    def trained(self) -> bool:
        return self.training is not None


@dataclass(frozen=True)
class RunResult:
    workload: Workload
    hw: HwConfig
    dataset_dir: str
    n_train: int
    n_test: int
    steps_per_epoch: int
    algorithms: dict[str, AlgorithmRun] = field(default_factory=dict)
    #: the rule the others are compared against (None: no comparison)
    baseline: str | None = None


def resolve_algorithms(wl: Workload, names: list[str] | None) -> list[AlgorithmConfig]:
    """The workload's algorithms, or the named subset (a name the workload does not
    configure gets that rule's defaults)."""
    if not names:
        return list(wl.algorithms)
    from pydantic import TypeAdapter, ValidationError

    from .errors import NeurosimError

    adapter = TypeAdapter(AlgorithmConfig)
    out = []
    for n in names:
        try:
            out.append(wl.algorithm(n))
        except KeyError:
            try:
                out.append(adapter.validate_python({"name": n}))
            except ValidationError as exc:  # a rule with required settings (hybrid_dfa's direct_to)
                need = ", ".join(str(e["loc"][-1]) for e in exc.errors() if e["type"] == "missing") or "settings"
                raise NeurosimError(f"{n}: needs {need}, which a name alone cannot give: list it under "
                                    f"algorithms in the workload with its settings") from None
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
    cycles = measured_write_cycles(hw, writes)
    out = []
    for s in writes:
        out.append(Record(s.layer, "weight_update", "crossbar", "pulse", s.pulses_per_step))
        out.append(Record(s.layer, "weight_update", "crossbar", "cell_write", s.cells_written_per_step, 0.0, cycles[s.layer]))
    return out


def measured_write_cycles(hw: HwConfig, writes: tuple[LayerWriteStats, ...]) -> dict[str, float]:
    """Programming cycles of one mean step per measured layer: its slowest array's row-serial
    pulse slots times ``crossbar.write_pulse_cycles`` (what the op graph holds its arrays for,
    :func:`neurosim.sim.cost_step`'s ``write_cycles``, and the ledger's ``cell_write`` cycles)."""
    if hw.crossbar is None:
        return {}
    return {s.layer: s.pulse_slots_per_step * hw.crossbar.write_pulse_cycles.value for s in writes}


def step_ledger(
    hw: HwConfig,
    shapes: list[LayerShape],
    batch: int,
    algo: AlgorithmConfig,
    hwcost: HardwareCost,
    hw_path: str = "hwconfig",
    writes: tuple[LayerWriteStats, ...] = (),
) -> pd.DataFrame:
    """The ledger of one step: network counts, the chip's rows and the ``ssdfa`` view, energy applied.

    With measured device ``writes``, the op graph's one-write-per-cell programming
    rows of those layers are replaced by the measured pulses (:func:`device_write_records`).
    """
    measured = {s.layer for s in writes}
    chip = [
        r
        for r in hwcost.records
        if not (r.layer in measured and r.phase == "weight_update" and r.component == "crossbar" and r.action in _WRITE_ACTIONS)
    ]
    records = counts.step_counts(shapes, batch, algo) + chip + device_write_records(hw, writes)
    records += ssdfa.step_records(shapes, batch, algo)  # the authors' accounting view
    from . import ledger

    return ledger.apply_energy(ledger.build(algo.run_name, records), hw, hw_path)


def ledger_needs_training(hw: HwConfig) -> bool:
    """Whether a trained rule's step ledger depends on its training: under ``numerics: device``
    the measured writes replace the op graph's programming rows (:func:`step_ledger`); otherwise
    a rule's ledger is known once the preflight has costed it on the chip."""
    return hw.numerics == "device"


def run_algorithm(
    wl: Workload,
    hw: HwConfig,
    algo: AlgorithmConfig,
    data: Dataset,
    hwcost: HardwareCost,
    *,
    hw_path: str = "hwconfig",
    progress: Callable[..., None] | None = None,
) -> AlgorithmRun:
    """Train ``algo`` and ledger one step of it, given its chip cost (under ``numerics: device``
    costed again with the measured programming time, :func:`measured_write_cycles`)."""
    shapes = wl.shapes
    batch = wl.training.batch_size
    t0 = time.perf_counter()
    from .learning import train

    result = train(wl, algo, data.x_train, data.y_train, data.x_test, data.y_test, progress=progress, hw=hw)
    seconds = time.perf_counter() - t0
    ideal = None
    if hw.numerics == "device":  # the same rule on ideal cells: what the device costs in accuracy
        ideal = train(wl, algo, data.x_train, data.y_train, data.x_test, data.y_test)
    if result.device_writes:  # the chip again, its arrays programmed for the pulses the training needed
        hwcost = cost_step(hw, shapes, batch, algo, steps_per_epoch=hwcost.steps_per_epoch,
                           write_cycles=measured_write_cycles(hw, result.device_writes))
    df = step_ledger(hw, shapes, batch, algo, hwcost, hw_path, result.device_writes)
    return AlgorithmRun(
        name=algo.run_name,
        config=algo,
        training=result,
        hardware=hwcost,
        costs=df,
        epoch_network=counts.epoch_counts(shapes, data.n_train, batch, algo),
        train_seconds=seconds,
        ideal=ideal,
    )


def cost_baseline(wl: Workload, hw: HwConfig, algo: AlgorithmConfig, hwcost: HardwareCost, n_train: int, *, hw_path: str = "hwconfig") -> AlgorithmRun:
    """The baseline rule costed on the same chip (counts, op graph, DES) without training it."""
    shapes = wl.shapes
    batch = wl.training.batch_size
    return AlgorithmRun(
        name=algo.run_name,
        config=algo,
        training=None,
        hardware=hwcost,
        costs=step_ledger(hw, shapes, batch, algo, hwcost, hw_path),
        epoch_network=counts.epoch_counts(shapes, n_train, batch, algo),
        train_seconds=0.0,
    )


@dataclass(frozen=True)
class CostedPlan:
    """A run whose preflight passed: every rule it costs (the baseline first), each with its
    chip cost of one step; nothing trained yet. What :func:`run` hands ``planned``."""

    workload: Workload
    hw: HwConfig
    dataset_dir: str
    n_train: int
    n_test: int
    algorithms: tuple[AlgorithmConfig, ...]
    plan: Plan
    baseline: str | None
    hw_path: str

    def result(self) -> RunResult:
        """Every rule costed as an untrained baseline is (:func:`cost_baseline`): the run's ledger,
        placement and chip figures without its training."""
        res = RunResult(workload=self.workload, hw=self.hw, dataset_dir=self.dataset_dir, n_train=self.n_train,
                        n_test=self.n_test, steps_per_epoch=self.plan.steps_per_epoch, baseline=self.baseline)
        for algo in self.algorithms:
            res.algorithms[algo.run_name] = cost_baseline(self.workload, self.hw, algo, self.plan.hwcosts[algo.run_name],
                                                          self.n_train, hw_path=self.hw_path)
        return res


def _with_baseline(wl: Workload, algorithms: list[AlgorithmConfig], baseline: str | None) -> list[AlgorithmConfig]:
    """The rules to cost: the baseline first (the workload's settings for it, else
    the rule's defaults), then the trained ones."""
    if baseline is None:
        return list(algorithms)
    trained = [a for a in algorithms if a.run_name != baseline]
    base = next((a for a in algorithms if a.run_name == baseline), None) or resolve_algorithms(wl, [baseline])[0]
    return [base, *trained]


def run(
    wl: Workload,
    hw: HwConfig,
    data: Dataset,
    algorithms: list[AlgorithmConfig],
    *,
    hw_path: str = "hwconfig",
    progress: Progress | None = None,
    out_dir: str | Path | None = None,
    wl_path: str = "workload",
    resume=None,
    baseline: str | None = BASELINE,
    planned: Callable[[CostedPlan], None] | None = None,
) -> RunResult:
    """Check the whole plan first (:func:`neurosim.preflight.preflight`: chip model,
    energy table, every rule and the ``baseline`` on this network, the dataset's
    identity, ``out_dir``), then train each algorithm in turn; the baseline is costed
    on the chip and trained only if it is one of ``algorithms``. ``resume`` (a
    :class:`neurosim.report.resume.RuleCache`) keeps each rule's result as soon as it
    finishes and hands back those of an earlier, interrupted run of the same plan
    instead of training them again. A rule whose loss turns non-finite stops at once
    and is marked diverged (``TrainResult.diverged``); the others still run. ``planned`` is
    called with the :class:`CostedPlan` once every rule's chip model has passed the
    preflight, before any training (``neurosim run`` draws the report's chip figures
    from it while the rules train)."""
    costed = _with_baseline(wl, algorithms, baseline)
    trained = {a.run_name for a in algorithms}

    def hand_out(plan: Plan) -> None:
        planned(CostedPlan(workload=wl, hw=hw, dataset_dir=data.source_dir, n_train=data.n_train, n_test=data.n_test,
                           algorithms=tuple(costed), plan=plan, baseline=baseline, hw_path=hw_path))

    plan = preflight(hw, wl, costed, out_dir, n_train=data.n_train, hw_path=hw_path, wl_path=wl_path,
                     costed=hand_out if planned is not None else None)
    check_identity(data, wl.dataset.name)
    steps = plan.steps_per_epoch
    hwcosts = plan.hwcosts
    res = RunResult(
        workload=wl,
        hw=hw,
        dataset_dir=data.source_dir,
        n_train=data.n_train,
        n_test=data.n_test,
        steps_per_epoch=steps,
        baseline=baseline,
    )
    runs: dict[str, AlgorithmRun] = {}
    for algo in costed:  # the trained rules first: an untrained baseline's ledger (pandas) waits until after training
        if algo.run_name not in trained:
            continue
        cb = (lambda *a, _n=algo.run_name: progress(_n, *a)) if progress else None
        done = resume.load(algo) if resume is not None else None
        if done is None:
            done = run_algorithm(wl, hw, algo, data, hwcosts[algo.run_name], hw_path=hw_path, progress=cb)
            if resume is not None:
                resume.save(done)
        runs[algo.run_name] = done
    for algo in costed:  # in the costed order, the baseline first
        name = algo.run_name
        if name not in trained:
            runs[name] = cost_baseline(wl, hw, algo, hwcosts[name], data.n_train, hw_path=hw_path)
        res.algorithms[name] = runs[name]
    return res
