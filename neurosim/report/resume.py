"""Finished rules of an unfinished run, kept until the run folder is written.

Each rule's result is saved as soon as that rule finishes, in a hidden folder
beside the run folder (``.<name>.rules/<key>.pkl``, written atomically). A rerun
of the same command finds it and does not train that rule again; a different run
(other hwconfig, workload, data, rule settings or neurosim version) has other
keys and never sees it. The folder is removed once the run folder is in place.

The files are pickles written by this process's own run for this folder; they
are read only under a key that hashes everything the result depends on.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

from .. import __version__

__all__ = ["RuleCache"]


class RuleCache:
    """Per-rule results of the run that will be written to ``out``."""

    def __init__(self, out: Path, *, hw: Any, workload: Any, dataset: dict[str, Any]):
        out = Path(out)
        self.folder = out.parent / f".{out.name}.rules"
        self._base = {
            "hw": hw.model_dump(mode="json"),
            "workload": workload.model_dump(mode="json"),
            "dataset": dataset,
            "version": __version__,
        }

    def _path(self, algo: Any) -> Path:
        blob = json.dumps({**self._base, "algorithm": algo.model_dump(mode="json")}, sort_keys=True, default=str)
        return self.folder / f"{algo.run_name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.pkl"

    def load(self, algo: Any) -> Any | None:
        """The saved result of ``algo`` for exactly this run, or None."""
        try:
            data = self._path(algo).read_bytes()
        except OSError:
            return None
        try:
            return pickle.loads(data)
        except Exception:  # noqa: BLE001 - a damaged file: train the rule again
            return None

    def save(self, run: Any) -> None:
        from .files import atomic_write_bytes  # pandas: loaded once a rule has trained, not before the preflight

        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self._path(run.config), pickle.dumps(run, protocol=pickle.HIGHEST_PROTOCOL))

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
