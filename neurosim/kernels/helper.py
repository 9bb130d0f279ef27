"""A second thread for the device model's kernels: work split into items that either thread takes.

The device kernels (:mod:`.device`, :mod:`.pulse_threads`) split a call into
independent items (blocks of a read, chunks of rows of a pulse update), each
writing only its own outputs. The calling thread puts the call on the helper's
queue and starts taking items itself; the helper takes items too when it wakes.
Items are claimed one at a time from a shared counter (dynamic: a thread the OS
has descheduled, on a loaded machine, takes fewer), and the caller never waits
for the helper to wake — a late helper finds nothing left and goes back to its
queue; the caller only waits for items the helper took and is still running.
Which thread ran an item changes no bit of the result.

Used only when ``numba.get_num_threads() > 1`` (``NUMBA_NUM_THREADS=1``, as the
sweep's workers set it, or ``numba.set_num_threads(1)`` keeps everything on the
calling thread); one helper per process, started on first use (a forked child
starts its own).
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable

import numba
from numba.np.ufunc import parallel as _threading_layer

__all__ = ["two_threads", "submit", "Job", "run_items"]


class _Helper:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name="neurosim-device-helper", daemon=True).start()

    def _run(self) -> None:
        while True:
            job, args = self.jobs.get()
            job(*args)


_helper: _Helper | None = None


def two_threads() -> bool:
    """Whether the kernels may use the helper thread (numba's thread count is above 1).

    ``numba.get_num_threads`` takes two locks on every call (~15 µs, ~9 times a training
    step); once numba's threading layer is up its own counter answers the same directly."""
    if _threading_layer._is_initialized:
        return _threading_layer._get_num_threads() > 1
    return numba.get_num_threads() > 1


def submit(job: Callable, *args) -> None:
    """Run ``job(*args)`` on the helper thread, after the jobs submitted before it (a job that shares
    items with the caller must only take the items that are left)."""
    global _helper
    if _helper is None or _helper.pid != os.getpid():
        _helper = _Helper()
    _helper.jobs.put((job, args))


class Job:
    """``job(*args)`` run on the helper thread (after the jobs submitted before it) while the
    caller goes on; :meth:`wait` waits for it, re-raises its error, returns its result. A job
    the helper has not started by then (busy with earlier jobs, or its core taken by another
    process) runs on the calling thread in :meth:`wait` instead, and the helper skips it."""

    def __init__(self, job: Callable, *args):
        self.job, self.args = job, args
        self.claim = threading.Lock()  # whichever thread takes it first runs the job
        self.finished = threading.Event()
        self.result = None
        self.error: BaseException | None = None
        submit(self.run_here)

    def run_here(self) -> bool:
        """Run the job on this thread if no thread has taken it yet (True); False if one has."""
        if self.claim.acquire(blocking=False):
            self._run()
            return True
        return False

    def _run(self) -> None:
        try:
            self.result = self.job(*self.args)
        except BaseException as error:  # re-raised on the calling thread
            self.error = error
        finally:
            self.finished.set()

    def wait(self):
        self.run_here()
        self.finished.wait()
        if self.error is not None:
            raise self.error
        return self.result


def run_items(task: Callable[[int], None], items: int) -> None:
    """``task(i)`` for ``i`` in ``range(items)``, each exactly once, on this thread and the helper.

    ``task`` should release the GIL for most of its time (a BLAS product, a ``nogil`` kernel).
    """
    if items <= 0:
        return
    counter = itertools.count()  # next() on it is atomic under the GIL
    lock = threading.Lock()
    finished = [0]
    errors: list[BaseException] = []
    all_done = threading.Event()

    def work() -> None:
        while (i := next(counter)) < items:
            try:
                task(i)
            except BaseException as error:  # re-raised on the calling thread
                errors.append(error)
            finally:
                with lock:
                    finished[0] += 1
                    if finished[0] == items:
                        all_done.set()

    submit(work)
    work()
    all_done.wait()
    if errors:
        raise errors[0]
