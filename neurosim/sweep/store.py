"""The sweep folder: what is on disk, and how each piece gets there atomically.

::

    DIR/sweep.json             the spec, its base fingerprint and parameters
    DIR/points/<point_id>.json one file per finished point (all its algorithms' rows)
    DIR/numerics/<key>.json    one file per trained (workload, algorithm)
    DIR/results.csv            the merged table (rebuilt from points/, never appended)
    DIR/sweep_*.png, sweep.html
    DIR/timing.json            where the last run's time went (not a result)
    DIR/.lock                  held (flock) while a sweep runs here

Why one small file per point rather than appending to results.csv: each file is
written to a temp name, fsynced and renamed, so a point is either wholly on disk
or absent whatever kills the process (SIGKILL, power loss), with no torn last
line to repair; a retried point replaces its own file instead of leaving two rows
to reconcile; and results.csv is a pure function of the point files, rebuilt in a
deterministic order (grid order, then algorithm order) whichever executor or
completion order produced them.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
from filelock import FileLock, Timeout

from ..report.files import atomic_write_text, finite_json
from .keys import SweepError

__all__ = ["RESULTS", "MANIFEST", "HTML", "SweepDir"]

RESULTS = "results.csv"
MANIFEST = "sweep.json"
HTML = "sweep.html"
POINTS = "points"
NUMERICS = "numerics"
LOCK = ".lock"
TIMING = "timing.json"


def _dumps(obj: Any) -> str:
    return json.dumps(finite_json(obj), indent=1, sort_keys=False, allow_nan=False) + "\n"


class SweepDir:
    def __init__(self, path: Path):
        self.path = Path(path)

    # ----------------------------------------------------------- checks, lock

    def check_usable(self) -> None:
        """A new folder, an empty one, or one holding a sweep (to resume)."""
        p = self.path
        if p.exists() and not p.is_dir():
            raise SweepError(f"{p}: --out must be a directory, found a file")
        if p.is_dir() and any(p.iterdir()) and not (p / MANIFEST).is_file():
            raise SweepError(f"{p}: not a sweep folder (no {MANIFEST}); choose another --out")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the folder (released by the OS even on SIGKILL)."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / POINTS).mkdir(exist_ok=True)
        (self.path / NUMERICS).mkdir(exist_ok=True)
        lock = FileLock(self.path / LOCK, timeout=0)  # flock on POSIX, msvcrt on Windows
        try:
            lock.acquire()
        except Timeout:
            raise SweepError(f"{self.path}: another sweep is running in this folder") from None
        try:
            self._clean_temp()
            yield
        finally:
            lock.release()

    def _clean_temp(self) -> None:
        """Temp files of a killed writer (never mistaken for data: they start with '.')."""
        for d in (self.path, self.path / POINTS, self.path / NUMERICS):
            for t in d.glob(".*.tmp"):
                try:
                    t.unlink()
                except OSError:
                    pass

    # ----------------------------------------------------------- files

    #: Manifest entries that make two sweeps the same sweep.
    IDENTITY = ("grid", "points", "algorithms", "epochs", "base_fingerprint")

    def check_same_sweep(self, manifest: dict, *, force: bool) -> None:
        """Refuse to mix this sweep into a folder that holds another one (unless ``force``,
        which removes the other sweep's points; trained numerics are kept: their keys say what they are)."""
        try:
            old = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            old = {}
        differ = [k for k in self.IDENTITY if json.dumps(old.get(k), sort_keys=True) != json.dumps(manifest.get(k), sort_keys=True)]
        if not differ:
            return
        if not force:
            raise SweepError(f"{self.path}: holds another sweep ({', '.join(differ)} differ); pass --force to replace it, "
                             "or --out to choose another folder")
        for f in (self.path / POINTS).glob("*.json"):
            f.unlink()
        (self.path / RESULTS).unlink(missing_ok=True)

    def write_manifest(self, manifest: dict) -> None:
        atomic_write_text(self.path / MANIFEST, _dumps(manifest))

    def load_points(self) -> dict[str, dict]:
        out = {}
        for f in sorted((self.path / POINTS).glob("*.json")):
            try:
                rec = json.loads(f.read_text())
            except (OSError, ValueError):
                continue  # unreadable: the point is simply recomputed
            if isinstance(rec, dict) and rec.get("point_id") == f.stem:
                out[f.stem] = rec
        return out

    def save_point(self, rec: dict) -> None:
        atomic_write_text(self.path / POINTS / f"{rec['point_id']}.json", _dumps(rec))

    def load_numerics(self, key: str) -> dict | None:
        f = self.path / NUMERICS / f"{key}.json"
        try:
            rec = json.loads(f.read_text())
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) and rec.get("key") == key else None

    def save_numerics(self, key: str, rec: dict) -> None:
        atomic_write_text(self.path / NUMERICS / f"{key}.json", _dumps({"key": key, **rec}))

    def write_timing(self, timing: dict) -> None:
        atomic_write_text(self.path / TIMING, _dumps(timing))

    def write_results(self, df: pd.DataFrame) -> bool:
        """Write results.csv if its content changed; return whether it did."""
        text = df.to_csv(index=False, float_format="%.10g", lineterminator="\n")
        f = self.path / RESULTS
        try:
            if f.read_text(encoding="utf-8") == text:
                return False
        except OSError:
            pass
        atomic_write_text(f, text)
        return True
