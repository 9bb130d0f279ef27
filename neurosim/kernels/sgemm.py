"""``C ← C + α A Bᵀ`` through SciPy's OpenBLAS ``sgemm``, called from numba without the GIL.

SciPy's f2py wrapper (``scipy.linalg.blas.sgemm``) holds the GIL for the whole product,
so no other Python thread (the device kernels' helper, :mod:`.helper`) can start
meanwhile. The same Fortran routine is exported by ``scipy.linalg.cython_blas`` as a
C function pointer; :func:`sgemm_accumulate` calls it from a ``nogil`` numba kernel
with the arguments the wrapper would pass, so the result is the same bits
(``tests/test_trainer_kernels.py`` compares the two) and it runs under the same
:func:`~.blas.single_threaded_blas` limit (it is the same library).

=========================  ===========================================================
call (column-major BLAS)   ``sgemm('N', 'T', M, N, K, α, A, lda, B, ldb, 1, C, ldc)``
row-major arrays           ``a`` (K, M), ``b`` (K, N), ``c`` (N, M), C-contiguous float32:
                           as column-major they are ``A`` (M × K, lda = M), ``B`` (N × K,
                           ldb = N), ``C`` (M × N, ldc = M)
so                         ``c ← c + α bᵀ a`` in row-major terms
=========================  ===========================================================

The routine's address comes from the module's ``__pyx_capi__`` capsule and is passed
to the kernel as an integer (a cached kernel cannot hold a process's pointer).
"""

from __future__ import annotations

import ctypes
from functools import cache

import numpy as np
import scipy.linalg.cython_blas
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["sgemm_accumulate"]


@cache
def _address() -> int:
    """Address of ``scipy.linalg.cython_blas.sgemm`` (the Fortran ``sgemm`` SciPy links)."""
    capsule = scipy.linalg.cython_blas.__pyx_capi__["sgemm"]
    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype = ctypes.c_char_p
    api.PyCapsule_GetName.argtypes = [ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return int(api.PyCapsule_GetPointer(capsule, api.PyCapsule_GetName(capsule)))


@intrinsic
def _call13(typingctx, address, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13):
    """Call the ``void f(void *, … 13 pointers)`` at ``address`` (every argument an integer address)."""
    pointers = (p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13)
    if not all(isinstance(t, types.Integer) for t in (address, *pointers)):
        return None

    def codegen(context, builder, signature, args):
        byte_pointer = ir.IntType(8).as_pointer()
        function_type = ir.FunctionType(ir.VoidType(), [byte_pointer] * 13)
        function = builder.inttoptr(args[0], function_type.as_pointer())
        builder.call(function, [builder.inttoptr(value, byte_pointer) for value in args[1:]])
        return context.get_dummy_value()

    return types.none(address, *pointers), codegen


@njit(cache=True, nogil=True)
def _sgemm_nt(address: int, alpha: float, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    m = a.shape[1]
    n = b.shape[1]
    k = a.shape[0]
    sizes = np.empty(6, dtype=np.int32)  # M, N, K, lda, ldb, ldc
    sizes[0] = m
    sizes[1] = n
    sizes[2] = k
    sizes[3] = m
    sizes[4] = n
    sizes[5] = m
    flags = np.empty(2, dtype=np.uint8)
    flags[0] = 78  # 'N'
    flags[1] = 84  # 'T'
    scalars = np.empty(2, dtype=np.float32)
    scalars[0] = alpha
    scalars[1] = 1.0
    s = sizes.ctypes.data
    f = scalars.ctypes.data
    _call13(address, flags.ctypes.data, flags.ctypes.data + 1, s, s + 4, s + 8, f, a.ctypes.data, s + 12,
            b.ctypes.data, s + 16, f + 4, c.ctypes.data, s + 20)


def sgemm_accumulate(alpha: np.float32, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    """``c ← c + α bᵀ a`` in place (row-major ``a`` (K, M), ``b`` (K, N), ``c`` (N, M); module docstring),
    without holding the GIL."""
    for name, array in (("a", a), ("b", b), ("c", c)):
        if array.dtype != np.float32 or not array.flags.c_contiguous:
            raise ValueError(f"sgemm_accumulate needs C-contiguous float32 arrays ({name}: {array.dtype}, "
                             f"C-contiguous {array.flags.c_contiguous})")
    if a.shape[0] != b.shape[0] or c.shape != (b.shape[1], a.shape[1]):
        raise ValueError(f"sgemm_accumulate shapes do not chain: a {a.shape}, b {b.shape}, c {c.shape}")
    if a.shape[0] == 0 or c.size == 0:
        return
    _sgemm_nt(_address(), np.float32(alpha), a, b, c)
