"""LLVM operations numba does not expose, for the device kernels.

==================  =====================================================================
``trailing_zeros``  index of the lowest set bit of a nonzero int64 (LLVM ``cttz``)
``fetch_add``       ``counter[0] += value`` atomically (sequentially consistent), the old value
``prefetch_write``  a hint to bring the cache line of ``array[i, j, k]`` in for writing
                    (``llvm.prefetch``, write, high locality, data cache); it changes no value
==================  =====================================================================
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["trailing_zeros", "fetch_add", "prefetch_write"]


@intrinsic
def trailing_zeros(typingctx, value):
    """Index of the lowest set bit of a nonzero int64 (LLVM ``cttz``)."""
    if value != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.int64(types.int64), codegen


@intrinsic
def fetch_add(typingctx, counter, value):
    """``counter[0] += value`` atomically (sequentially consistent); returns the old value."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], array, [context.get_constant(types.intp, 0)])
        return builder.atomic_rmw("add", ptr, args[1], "seq_cst")

    return types.int64(counter, types.int64), codegen


@intrinsic
def prefetch_write(typingctx, array, i, j, k):
    """Bring the cache line of ``array[i, j, k]`` (a 3-d array, non-negative indices in range) towards
    the core for a coming write; only a hint: no value changes, and the CPU may ignore it."""
    if not (isinstance(array, types.Array) and array.ndim == 3 and all(isinstance(t, types.Integer) for t in (i, j, k))):
        return None

    def codegen(context, builder, signature, args):
        view = context.make_array(signature.args[0])(context, builder, args[0])
        indices = [context.cast(builder, value, kind, types.intp) for value, kind in zip(args[1:], signature.args[1:])]
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], view, indices, wraparound=False)
        int32 = ir.IntType(32)
        hint = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), int32, int32, int32])
        )
        builder.call(hint, [builder.bitcast(ptr, ir.IntType(8).as_pointer()), ir.Constant(int32, 1), ir.Constant(int32, 3),
                            ir.Constant(int32, 1)])  # fmt: skip
        return context.get_dummy_value()

    return types.void(array, i, j, k), codegen
