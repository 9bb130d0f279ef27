"""A run folder is written whole or not at all, and read only when whole.

Writing (:func:`staged`): every file of a run goes into a fresh hidden folder
next to the target (``.<name>.stage-XXXX``); only when all are written is it
swapped in for the target (``renameat2(RENAME_EXCHANGE)`` where the kernel has
it, else two renames), and the old folder is removed. A process killed at any
moment leaves either the old folder or the new one under the target name, never
a mix; a leftover stage folder starts with ``.`` and is removed by the next run.

Reading (:func:`read_run`): ``summary.json`` is written last and records the
sha256 of ``costs.csv``, ``training.csv`` and ``placement.csv``; a folder whose
files do not match it (mixed from two runs, truncated, edited) or whose summary
is not valid JSON of the expected shape is refused with one line.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..data.identity import sha256_file
from ..errors import NeurosimError

__all__ = ["staged", "read_run", "sha256_file", "RunDirError"]

_DATA = ("costs.csv", "training.csv", "placement.csv", "alignment.csv")
#: Data files only some runs write (numerics: device: cells.csv); when summary.json lists one, it must be there.
_OPTIONAL = ("cells.csv",)


class RunDirError(NeurosimError):
    """A run folder that is not whole: missing, damaged or mixed files."""


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange)
    return rc == 0


def _swap_in(stage: Path, out: Path) -> None:
    if not out.exists():
        os.rename(stage, out)
        return
    if _exchange(stage, out):  # stage now holds the old run
        shutil.rmtree(stage, ignore_errors=True)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.rename(out, old)
    os.rename(stage, out)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """Yield a fresh folder to write a whole run into; swap it in for ``out`` on success."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for left in out.parent.glob(f".{out.name}.stage-*"):  # a killed run's stage
        shutil.rmtree(left, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.stage-", dir=out.parent))
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(stage, 0o777 & ~mask)
    try:
        yield stage
        _swap_in(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def read_run(run_dir: Path) -> dict[str, Any]:
    """The summary of a whole run folder; RunDirError (one line) otherwise."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a folder")
    missing = [f for f in ("summary.json", *_DATA) if not (run_dir / f).is_file()]
    if missing:
        raise RunDirError(f"{run_dir}: not a run directory (missing {', '.join(missing)})")
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunDirError(f"{run_dir}/summary.json: damaged, not valid JSON ({type(exc).__name__})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("algorithms"), dict) or not summary["algorithms"]:
        raise RunDirError(f"{run_dir}/summary.json: damaged, expected an object with an 'algorithms' table")
    sums = summary.get("data_files")
    optional = {name for name in _OPTIONAL if isinstance(sums, dict) and name in sums}
    if not isinstance(sums, dict) or set(sums) != set(_DATA) | optional:
        raise RunDirError(f"{run_dir}/summary.json: no record of its data files (written by an older neurosim, or damaged); rerun")
    for name in (*_DATA, *sorted(optional)):
        if not (run_dir / name).is_file():
            raise RunDirError(f"{run_dir}: not a whole run directory (missing {name})")
        if sha256_file(run_dir / name) != sums[name]:
            raise RunDirError(f"{run_dir}/{name}: does not belong to this summary.json (mixed from another run, truncated or edited)")
    return summary
