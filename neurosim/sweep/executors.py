"""Where sweep tasks run: a local process pool, a Dask cluster, or this process.

All three offer the same four calls (``submit``, ``wait``, ``result``, ``close``),
so the driver in :mod:`neurosim.sweep.runner` does not know which it drives.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
from typing import Any, Callable, Iterable

from .keys import SweepError

__all__ = ["Executor", "SerialExecutor", "LocalExecutor", "DaskExecutor", "make_executor"]


class Executor:
    name = "executor"

    def submit(self, fn: Callable, *args: Any) -> Any:
        raise NotImplementedError

    def wait(self, futures: Iterable[Any]) -> set:
        """Block until at least one of ``futures`` is done; return the done ones."""
        raise NotImplementedError

    def result(self, fut: Any) -> Any:
        return fut.result()

    def close(self, *, cancel: bool = False) -> None:
        pass

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel=exc_type is not None)


class SerialExecutor(Executor):
    """Runs each task at ``submit`` in this process (debugging, tests)."""

    name = "serial"

    def submit(self, fn: Callable, *args: Any) -> cf.Future:
        f: cf.Future = cf.Future()
        try:
            f.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - Ctrl-C propagates at once
            f.set_exception(exc)
        return f

    def wait(self, futures: Iterable[Any]) -> set:
        return {f for f in futures if f.done()}


#: One BLAS thread per worker (the processes are the parallelism): the same
#: environment Dask's nanny gives its workers. (Training pins its own BLAS to one
#: thread anyway, see neurosim.kernels.blas; this keeps the rest from oversubscribing.)
#: NUMBA_NUM_THREADS=1 keeps the device model's kernels off their helper thread
#: (neurosim.kernels.helper); their results are the same either way.
PINNED_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


class LocalExecutor(Executor):
    """``concurrent.futures.ProcessPoolExecutor`` with forkserver workers that
    import neurosim once (in the fork server), run BLAS on one thread
    (:data:`PINNED_ENV`) and ignore Ctrl-C: the driver stops them."""

    name = "local"

    def __init__(self, workers: int):
        from .tasks import worker_init

        # Worker processes (and the fork server) start while the executor lives,
        # and read these when they load BLAS; this process's BLAS is loaded already.
        self._saved_env = {k: os.environ.get(k) for k in PINNED_ENV}
        os.environ.update(PINNED_ENV)
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["neurosim.sweep.tasks"])
        # workers watch this process and exit when it does, even on kill -9 (see tasks.worker_init)
        self.pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init, initargs=(os.getpid(),))

    def _restore_env(self) -> None:
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def submit(self, fn: Callable, *args: Any) -> cf.Future:
        return self.pool.submit(fn, *args)

    def wait(self, futures: Iterable[Any]) -> set:
        done, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
        return done

    def result(self, fut: cf.Future) -> Any:
        try:
            return fut.result()
        except cf.process.BrokenProcessPool:
            raise SweepError("a worker process died (out of memory, or killed); finished points are saved, rerun to resume") from None

    def close(self, *, cancel: bool = False) -> None:
        try:
            if cancel:
                # Stop running tasks now: the pool's own shutdown would wait for them.
                procs = list((getattr(self.pool, "_processes", None) or {}).values())
                self.pool.shutdown(wait=False, cancel_futures=True)
                for p in procs:
                    if p.is_alive():
                        p.terminate()
                for p in procs:
                    p.join(timeout=5)
            else:
                self.pool.shutdown(wait=True)
        finally:
            self._restore_env()


class DaskExecutor(Executor):
    """A ``distributed.Client`` on a fresh ``LocalCluster`` (``workers`` workers,
    one thread each) or on the existing scheduler at ``scheduler``."""

    name = "dask"

    def __init__(self, workers: int, scheduler: str | None = None, processes: bool = True):
        try:
            import distributed
        except ImportError:
            raise SweepError("--executor dask needs dask.distributed: pip install 'neurosim[distributed]'") from None
        self._distributed = distributed
        self.cluster = None
        try:
            if scheduler:
                self.client = distributed.Client(scheduler, timeout="20s")
            else:
                self.cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=processes,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = distributed.Client(self.cluster)
        except OSError as exc:
            if self.cluster is not None:
                self.cluster.close()
            where = scheduler or "a LocalCluster"
            raise SweepError(f"--scheduler: cannot connect to {where}: {' '.join(str(exc).split())}") from None
        self._futures: list = []

    def submit(self, fn: Callable, *args: Any) -> Any:
        f = self.client.submit(fn, *args, pure=False)
        self._futures.append(f)
        return f

    def wait(self, futures: Iterable[Any]) -> set:
        return set(self._distributed.wait(list(futures), return_when="FIRST_COMPLETED").done)

    def close(self, *, cancel: bool = False) -> None:
        try:
            if cancel:
                pending = [f for f in self._futures if not f.done()]
                if pending:
                    self.client.cancel(pending)
            self._futures.clear()
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def make_executor(kind: str, workers: int, scheduler: str | None = None, dask_processes: bool = True) -> Executor:
    if kind == "serial":
        return SerialExecutor()
    if kind == "dask":
        return DaskExecutor(workers, scheduler, processes=dask_processes)
    if kind == "local":
        return LocalExecutor(workers)
    raise SweepError(f"executor: expected local, dask or serial; got {kind!r}")
