"""The output contract of a run: fixed file names, written atomically.

``summary.json``, ``costs.csv``, ``training.csv`` and ``placement.csv`` (and, with
``numerics: device``, ``cells.csv``: :mod:`neurosim.report.cells`) are the run's data; plots and ``report.html`` are drawn from these files only
(:mod:`neurosim.report.plots`, :mod:`neurosim.report.html`).
"""

from __future__ import annotations

from dataclasses import asdict

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from .. import ledger
from ..pipeline import RunResult
from .cells import CELLS, cells_frame
from .summary import summarize

__all__ = [
    "SUMMARY",
    "COSTS",
    "TRAINING",
    "PLACEMENT",
    "ALIGNMENT",
    "CELLS",
    "alignment_frame",
    "atomic_write_text",
    "atomic_write_bytes",
    "csv_text",
    "finite_json",
    "dumps_json",
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
#: Error-signal alignment (Launay et al.) and estimator quality per (algorithm, step, layer).
ALIGNMENT = "alignment.csv"


def _file_mode() -> int:
    """0666 less the process umask: what ``open()`` would give (mkstemp gives 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``
    (mode as the umask says, e.g. 0644 under umask 022)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
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


def finite_json(obj: Any) -> Any:
    """``obj`` with every NaN / infinity replaced by None (JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def dumps_json(obj: Any) -> str:
    """Strict JSON text: non-finite numbers become null, never ``NaN`` / ``Infinity``."""
    return json.dumps(finite_json(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"


def _error_angles_by_epoch(alignment) -> dict[int, dict[str, float]]:
    """Per epoch, each layer's error-signal angle (Launay et al.) at the epoch's last measure."""
    last: dict[int, dict[str, tuple[int, float]]] = {}
    for a in alignment:
        seen = last.setdefault(a.epoch, {})
        if a.layer not in seen or a.step >= seen[a.layer][0]:
            seen[a.layer] = (a.step, a.angle_deg)
    return {epoch: {layer: angle for layer, (_, angle) in layers.items()} for epoch, layers in last.items()}


def training_frame(res: RunResult) -> pd.DataFrame:
    """One row per (algorithm, epoch): loss, accuracies, the weight-update angle per layer
    (``alignment_deg_<layer>``) and the error-signal angle at the epoch's last alignment
    measure (``error_angle_deg_<layer>``; every measure is in alignment.csv)."""
    rows = []
    for name, r in res.algorithms.items():
        angles = _error_angles_by_epoch(r.training.alignment) if r.training is not None else {}
        for h in r.training.history if r.training is not None else ():
            row = {
                "algorithm": name,
                "epoch": h.epoch,
                "loss": h.loss,
                "train_accuracy": h.train_accuracy,
                "test_accuracy": h.test_accuracy,
            }
            row.update({f"alignment_deg_{k}": v for k, v in sorted(h.alignment_deg.items())})
            row.update({f"error_angle_deg_{k}": v for k, v in sorted(angles.get(h.epoch, {}).items())})
            rows.append(row)
    return pd.DataFrame(rows)


def alignment_frame(res: RunResult) -> pd.DataFrame:
    """One row per (algorithm, step, layer) of each trained rule's error-signal alignment."""
    rows = [{"algorithm": name, **asdict(a)}
            for name, r in res.algorithms.items() if r.training is not None for a in r.training.alignment]
    return pd.DataFrame(rows, columns=["algorithm", "step", "epoch", "layer", "angle_deg", "grad_cosine",
                                       "grad_rel_variance", "grad_rel_mse"])


def costs_frame(res: RunResult) -> pd.DataFrame:
    return pd.concat([r.costs for r in res.algorithms.values()], ignore_index=True)[ledger.COLUMNS]


def placement_frame(res: RunResult) -> pd.DataFrame:
    frames = []
    for name, r in res.algorithms.items():
        p = r.hardware.placement.frame().copy()
        p.insert(0, "algorithm", name)
        frames.append(p)
    return pd.concat(frames, ignore_index=True)


def csv_text(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format="%.10g", lineterminator="\n")


def write_run(res: RunResult, out: Path, *, hw_path: str, workload_path: str) -> dict[str, Any]:
    """Write the data files of the output contract into ``out``; return the summary.

    ``summary.json`` is written last and records the sha256 of the other data files
    (``data_files``), so a reader can tell a whole run from a mixed or damaged one
    (:func:`neurosim.report.rundir.read_run`).
    """
    from .rundir import sha256_file

    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(res, hw_path=hw_path, workload_path=workload_path)
    atomic_write_text(out / COSTS, csv_text(costs_frame(res)))
    atomic_write_text(out / TRAINING, csv_text(training_frame(res)))
    atomic_write_text(out / PLACEMENT, csv_text(placement_frame(res)))
    atomic_write_text(out / ALIGNMENT, csv_text(alignment_frame(res)))
    names = [COSTS, TRAINING, PLACEMENT, ALIGNMENT]
    cells = cells_frame(res)
    if len(cells):  # numerics: device: each rule on ideal and on real cells
        atomic_write_text(out / CELLS, csv_text(cells))
        names.append(CELLS)
    summary["data_files"] = {name: sha256_file(out / name) for name in names}
    atomic_write_text(out / SUMMARY, dumps_json(summary))
    return summary
