"""The output contract of a run: fixed file names, written atomically.

``summary.json``, ``costs.csv``, ``training.csv`` and ``placement.csv`` are the
run's data; plots and ``report.html`` are drawn from these files only
(:mod:`neurosim.report.plots`, :mod:`neurosim.report.html`).
"""

from __future__ import annotations

from dataclasses import asdict

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__, ledger
from ..pipeline import AlgorithmRun, RunResult
from ..records import PHASES

__all__ = [
    "SUMMARY",
    "COSTS",
    "TRAINING",
    "PLACEMENT",
    "atomic_write_text",
    "atomic_write_bytes",
    "summarize",
    "training_frame",
    "costs_frame",
    "placement_frame",
    "write_run",
]

SUMMARY = "summary.json"
COSTS = "costs.csv"
TRAINING = "training.csv"
PLACEMENT = "placement.csv"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _by_phase(records, action: str) -> dict[str, float]:
    out = {p: 0.0 for p in PHASES}
    for r in records:
        if r.component == "network" and r.action == action:
            out[r.phase] += r.count
    return {p: v for p, v in out.items() if v or p != "feedback_learning"}


def _algorithm_summary(run: AlgorithmRun, res: RunResult) -> dict[str, Any]:
    hw = run.hardware
    epochs = len(run.training.history)
    steps_epoch = res.steps_per_epoch
    clock_hz = res.hw.clock_hz
    df = run.costs
    energy_step = ledger.energy_by_component(df)
    energy_step_total = sum(energy_step.values())
    last = run.training.history[-1]
    net = df[df["component"] == "network"]
    neuron = {a: float(net.loc[net["action"] == a, "bytes"].sum()) for a in ("deliver_error", "deliver_feedback")}
    macs_epoch = _by_phase(run.epoch_network, "mac")
    return {
        "config": run.config.model_dump(mode="json"),
        "test_accuracy": run.training.final_test_accuracy,
        "train_accuracy": last.train_accuracy,
        "final_loss": last.loss,
        "alignment_deg": dict(last.alignment_deg),
        "train_seconds": round(run.train_seconds, 3),
        "macs": {
            "per_step": ledger.macs_by_phase(df),
            "per_epoch": macs_epoch,
            "run": {p: v * epochs for p, v in macs_epoch.items()},
        },
        "neuron_level_bytes_per_step": neuron,
        "bytes": {
            "per_step": dict(hw.bytes_by_level),
            "per_epoch": {k: v * steps_epoch for k, v in hw.bytes_by_level.items()},
        },
        "energy_pj": {
            "per_step": energy_step,
            "per_step_total": energy_step_total,
            "per_epoch_total": energy_step_total * steps_epoch,
            "run_total": energy_step_total * steps_epoch * epochs,
        },
        "cycles": {
            "per_step": hw.cycles_per_step,
            "per_epoch": hw.cycles_per_epoch,
            "run": hw.cycles_per_epoch * epochs,
            "phase_critical_path": dict(hw.phase_cycles),
            "stall": hw.stall_cycles,
        },
        "latency_s": {
            "per_step": hw.cycles_per_step / clock_hz,
            "per_epoch": hw.cycles_per_epoch / clock_hz,
            "run": hw.cycles_per_epoch * epochs / clock_hz,
        },
        "utilisation": dict(hw.utilisation),
        "rram_writes_per_cell_per_epoch": dict(hw.rram_writes_per_cell_per_epoch),
        "spills": list(hw.spills),
        # numerics: device only: the cells' programming per weight layer (docs/device.md)
        "device_writes": {w.layer: asdict(w) for w in run.training.device_writes},
    }


def summarize(res: RunResult, *, hw_path: str, workload_path: str) -> dict[str, Any]:
    return {
        "neurosim_version": __version__,
        "hwconfig_path": hw_path,
        "workload_path": workload_path,
        "dataset_dir": res.dataset_dir,
        "n_train": res.n_train,
        "n_test": res.n_test,
        "batch_size": res.workload.training.batch_size,
        "epochs": res.workload.training.epochs,
        "steps_per_epoch": res.steps_per_epoch,
        "clock_hz": res.hw.clock_hz,
        "algorithms": {name: _algorithm_summary(r, res) for name, r in res.algorithms.items()},
        "workload": res.workload.model_dump(mode="json"),
        "hwconfig": res.hw.model_dump(mode="json"),
    }


def training_frame(res: RunResult) -> pd.DataFrame:
    rows = []
    for name, r in res.algorithms.items():
        for h in r.training.history:
            row = {
                "algorithm": name,
                "epoch": h.epoch,
                "loss": h.loss,
                "train_accuracy": h.train_accuracy,
                "test_accuracy": h.test_accuracy,
            }
            row.update({f"alignment_deg_{k}": v for k, v in sorted(h.alignment_deg.items())})
            rows.append(row)
    return pd.DataFrame(rows)


def costs_frame(res: RunResult) -> pd.DataFrame:
    return pd.concat([r.costs for r in res.algorithms.values()], ignore_index=True)[ledger.COLUMNS]


def placement_frame(res: RunResult) -> pd.DataFrame:
    frames = []
    for name, r in res.algorithms.items():
        p = r.hardware.placement.frame().copy()
        p.insert(0, "algorithm", name)
        frames.append(p)
    return pd.concat(frames, ignore_index=True)


def _csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format="%.10g", lineterminator="\n")


def write_run(res: RunResult, out: Path, *, hw_path: str, workload_path: str) -> dict[str, Any]:
    """Write the data files of the output contract into ``out``; return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(res, hw_path=hw_path, workload_path=workload_path)
    atomic_write_text(out / COSTS, _csv(costs_frame(res)))
    atomic_write_text(out / TRAINING, _csv(training_frame(res)))
    atomic_write_text(out / PLACEMENT, _csv(placement_frame(res)))
    atomic_write_text(out / SUMMARY, json.dumps(summary, indent=2, sort_keys=False) + "\n")
    return summary
