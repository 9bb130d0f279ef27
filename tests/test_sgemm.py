"""kernels.sgemm: SciPy's sgemm called from numba without the GIL — the same bits as SciPy's
f2py wrapper with the same arguments, and the product against a float64 NumPy reference."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from scipy.linalg.blas import sgemm

from neurosim.kernels.blas import single_threaded_blas
from neurosim.kernels.sgemm import sgemm_accumulate


@pytest.mark.parametrize("shape", [(32, 784, 800), (1, 400, 100), (7, 13, 5), (32, 800, 10)])
def test_same_bits_as_the_f2py_wrapper(shape) -> None:
    batch, n_in, n_out = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((batch, n_in)).astype(np.float32)
    delta = rng.standard_normal((batch, n_out)).astype(np.float32)
    w = rng.standard_normal((n_out, n_in)).astype(np.float32)
    alpha = np.float32(-0.0123)
    with single_threaded_blas():
        ours = w.copy()
        sgemm_accumulate(alpha, x, delta, ours)
        theirs = w.copy()
        sgemm(alpha, x.T, delta.T, 1.0, theirs.T, trans_b=1, overwrite_c=1)
    np.testing.assert_array_equal(ours, theirs)
    reference = w.astype(np.float64) + float(alpha) * delta.astype(np.float64).T @ x.astype(np.float64)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_bad_arrays_are_refused() -> None:
    x = np.ones((4, 6), np.float32)
    delta = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="C-contiguous float32"):
        sgemm_accumulate(np.float32(1), x, delta, np.ones((6, 3), np.float32).T)
    with pytest.raises(ValueError, match="C-contiguous float32"):
        sgemm_accumulate(np.float32(1), x.astype(np.float64), delta, np.ones((3, 6), np.float32))
    with pytest.raises(ValueError, match="shapes do not chain"):
        sgemm_accumulate(np.float32(1), x, delta, np.ones((6, 3), np.float32))


def _progress_during(product) -> int:
    """How often a Python thread appends to a list while ``product()`` runs (after one warm-up run)."""
    ticks: list[int] = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            ticks.append(0)

    product()
    thread = threading.Thread(target=count)
    thread.start()
    while not ticks:
        time.sleep(0.001)
    before = len(ticks)
    product()
    during = len(ticks) - before
    stop.set()
    thread.join()
    return during


def test_the_gil_is_free_during_the_product() -> None:
    """A Python thread makes progress while a long product runs; with SciPy's f2py wrapper, which
    holds the GIL, it makes next to none (measured here: ~35x less)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 1500)).astype(np.float32)
    delta = rng.standard_normal((2000, 1500)).astype(np.float32)
    w = np.zeros((1500, 1500), np.float32)
    with single_threaded_blas():
        ours = _progress_during(lambda: sgemm_accumulate(np.float32(1), x, delta, w))
        held = _progress_during(lambda: sgemm(1.0, x.T, delta.T, 1.0, w.T, trans_b=1, overwrite_c=1))
    assert ours > 5 * held
