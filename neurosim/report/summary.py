"""``summary.json``: what a run measured, per algorithm, in one shape.

Every additive metric has the same three levels with the same keys:

==================  ===================  =====================================
key                 breakdown            per_epoch / run
==================  ===================  =====================================
``macs``            by phase             exact epoch counts (partial last batch
                                         included) / x epochs
``bytes``           by level             per step x steps per epoch / x epochs
``energy_pj``       by component         per step x steps per epoch / x epochs
``totals``          macs, energy_pj,     cycles per epoch from the DES window
                    cycles, latency_s    (see docs/hardware.md) / x epochs
==================  ===================  =====================================

Whole counts (MACs, bytes) are integers; paths are absolute. A baseline that was
costed but not trained has ``"trained": false`` and ``null`` accuracies.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import __version__, ledger
from ..pipeline import AlgorithmRun, RunResult
from ..records import PHASES
from .cells import cells_summary
from .layers import layer_summary

__all__ = ["LEVEL_KEYS", "summarize"]

#: The levels of every metric.
LEVEL_KEYS = ("per_step", "per_epoch", "run")


def _num(v: float) -> int | float:
    v = float(v)
    return int(v) if v.is_integer() else v


def _counts(d: dict[str, float]) -> dict[str, int | float]:
    return {k: _num(v) for k, v in d.items()}


def _by_phase(records, action: str) -> dict[str, float]:
    out = {p: 0.0 for p in PHASES}
    for r in records:
        if r.component == "network" and r.action == action:
            out[r.phase] += r.count
    return {p: v for p, v in out.items() if v or p != "feedback_learning"}


def _levels(per_step: dict[str, float], steps: int, epochs: int, per_epoch: dict[str, float] | None = None,
            counts: bool = True) -> dict[str, dict]:
    """``{per_step, per_epoch, run}`` of one breakdown (same keys at every level)."""
    epoch = per_epoch if per_epoch is not None else {k: v * steps for k, v in per_step.items()}
    fmt = _counts if counts else (lambda d: {k: float(v) for k, v in d.items()})
    return {"per_step": fmt(per_step), "per_epoch": fmt(epoch), "run": fmt({k: v * epochs for k, v in epoch.items()})}


def _training(run: AlgorithmRun) -> dict[str, Any]:
    if run.training is None:
        return {"trained": False, "test_accuracy": None, "train_accuracy": None, "final_loss": None,
                "diverged": None, "alignment_deg": {}, "train_seconds": 0.0}
    history = run.training.history
    last = history[-1] if history else None
    div = getattr(run.training, "diverged", None)  # a non-finite loss stopped the rule (reliability)
    ok = div is None and last is not None
    return {
        "trained": True,
        "test_accuracy": run.training.final_test_accuracy if div is None else None,
        "train_accuracy": last.train_accuracy if ok else None,
        "final_loss": last.loss if ok else None,
        "diverged": None if div is None else {"epoch": div.epoch, "step": div.step},
        "alignment_deg": dict(last.alignment_deg) if last is not None else {},
        "train_seconds": round(run.train_seconds, 3),
    }


def _algorithm_summary(run: AlgorithmRun, res: RunResult) -> dict[str, Any]:
    hw = run.hardware
    epochs = res.workload.training.epochs
    steps = res.steps_per_epoch
    clock_hz = res.hw.clock_hz
    df = run.costs
    energy = _levels(ledger.energy_by_component(df), steps, epochs, counts=False)
    step_macs, epoch_macs = ledger.macs_by_phase(df), _by_phase(run.epoch_network, "mac")
    phases = [p for p in PHASES if p in step_macs or p in epoch_macs]
    macs = _levels({p: step_macs.get(p, 0.0) for p in phases}, steps, epochs, per_epoch={p: epoch_macs.get(p, 0.0) for p in phases})
    cycles = {"per_step": hw.cycles_per_step, "per_epoch": hw.cycles_per_epoch, "run": hw.cycles_per_epoch * epochs}
    net = df[df["component"] == "network"]
    neuron = {a: _num(net.loc[net["action"] == a, "bytes"].sum()) for a in ("deliver_error", "deliver_feedback")}
    return {
        "config": run.config.model_dump(mode="json"),
        **_training(run),
        "macs": macs,
        "bytes": _levels(dict(hw.bytes_by_level), steps, epochs),
        "energy_pj": energy,
        "totals": {
            level: {
                "macs": _num(sum(macs[level].values())),
                "energy_pj": float(sum(energy[level].values())),
                "cycles": _num(cycles[level]),
                "latency_s": cycles[level] / clock_hz,
            }
            for level in LEVEL_KEYS
        },
        "phase_cycles_per_step": dict(hw.phase_cycles),
        "stall_cycles_per_step": _num(hw.stall_cycles),
        "neuron_level_bytes_per_step": neuron,
        "per_layer": layer_summary(df).get(run.name, {}),
        "utilisation": dict(hw.utilisation),
        "rram_writes_per_cell_per_epoch": dict(hw.rram_writes_per_cell_per_epoch),
        "spills": list(hw.spills),
        # numerics: device only: the cells' programming per weight layer (docs/device.md)
        "device_writes": {w.layer: asdict(w) for w in run.training.device_writes} if run.training is not None else {},
        # numerics: device only: the same rule on ideal cells, and the programming energy (report.cells)
        **cells_summary(run),
    }


def _abs(path: str) -> str:
    return str(Path(path).resolve()) if path else ""


def summarize(res: RunResult, *, hw_path: str, workload_path: str) -> dict[str, Any]:
    """The content of summary.json (see the module docstring)."""
    return {
        "neurosim_version": __version__,
        "hwconfig_path": _abs(hw_path),
        "workload_path": _abs(workload_path),
        "dataset_dir": _abs(res.dataset_dir),
        "n_train": res.n_train,
        "n_test": res.n_test,
        "batch_size": res.workload.training.batch_size,
        "epochs": res.workload.training.epochs,
        "steps_per_epoch": res.steps_per_epoch,
        "clock_hz": res.hw.clock_hz,
        "baseline": res.baseline if res.baseline in res.algorithms else None,
        "algorithms": {name: _algorithm_summary(r, res) for name, r in res.algorithms.items()},
        "workload": res.workload.model_dump(mode="json"),
        "hwconfig": res.hw.model_dump(mode="json"),
    }
