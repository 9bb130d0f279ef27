"""Draw independent figures in two processes: half in a forked child, half here.

Each job is ``(function, arguments)`` and writes its own file atomically, so the
files are the same bytes whichever process draws them (tests/test_report.py). A
child that fails leaves its jobs to the parent, which draws them itself and so
raises any error there, with its traceback.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence

__all__ = ["draw_jobs"]

Job = tuple[Callable[..., object], tuple]


def _draw(jobs: Sequence[Job]) -> None:
    for function, args in jobs:
        function(*args)


def _draw_in_child(jobs: Sequence[Job]) -> None:
    """A forked child's body: draw ``jobs``, then leave without the parent's exit handlers."""
    code = 1
    try:
        _draw(jobs)
        code = 0
    finally:
        os._exit(code)


def draw_jobs(jobs: Sequence[Job], workers: int | None = None) -> None:
    """Run every job; with ``workers`` ≥ 2 (default: 2 where the machine has two cores
    and can fork) the odd-numbered jobs run in a forked child at the same time."""
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if workers < 2 or len(jobs) < 2 or "fork" not in mp.get_all_start_methods():
        _draw(jobs)
        return
    theirs, ours = jobs[1::2], jobs[0::2]
    child = mp.get_context("fork").Process(target=_draw_in_child, args=(theirs,), daemon=True)
    child.start()
    try:
        _draw(ours)
    finally:
        child.join()
    if child.exitcode != 0:
        _draw(theirs)
