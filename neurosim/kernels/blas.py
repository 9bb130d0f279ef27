"""One BLAS thread for the numeric core, so results do not depend on the machine.

The kernels' matrix products go to BLAS: the dense and conv ones to NumPy's OpenBLAS
(:func:`neurosim.kernels.dense.blas_dot`, called from Python between the numba loops),
the plain-SGD weight step to the OpenBLAS that SciPy ships
(:func:`neurosim.kernels.dense.dense_sgd_update`: its ``sgemm``, which takes ``β``,
called from numba by :mod:`.sgemm`); the limit below reaches both libraries. OpenBLAS picks
its blocking by thread count, and the float32 sums then round differently: on
784-800-800-10, 20 epochs of DFA ended at 95.70 % with two threads and 95.90 % with
one (measured before the SGD step became one sgemm, which rounds differently again:
95.55 % with one thread now). Training under :func:`single_threaded_blas` makes the same seed give the same
bits on any machine and in any process (a ``neurosim run`` and a sweep worker
agree). At batch 32 the products are too small to gain from a second thread
(measured: 14.8 s vs 14.7 s for 20 epochs of DFA on this 2-core machine);
sweeps get their parallelism from running points side by side.
"""

from __future__ import annotations

from functools import cache

import scipy.linalg.blas  # noqa: F401  (loads SciPy's OpenBLAS, which the SGD step calls, so the limit reaches it)
from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded_blas"]


@cache
def _controller() -> ThreadpoolController:
    """The process's BLAS libraries, found once: scanning the loaded libraries takes ~2 ms, which
    every ``train`` call paid. NumPy's and SciPy's OpenBLAS are loaded by this module's imports,
    before the first call."""
    return ThreadpoolController()


def single_threaded_blas():
    """A context manager limiting every BLAS library of :func:`_controller` to one thread."""
    return _controller().limit(limits=1, user_api="blas")
