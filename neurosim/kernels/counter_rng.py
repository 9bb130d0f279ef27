"""Counter-based random streams for the device model's cycle-to-cycle draws.

A stream is a function of integers only, never of the order work is done in: a
pulse update's key is ``pulse_key(seed, stream, call)`` (the device seed, the
cells' stream number, the update's count), a chunk of rows seeds its own
xorshift64* state with ``splitmix64(key + chunk) | 1``, and its written cells
draw from it in row-major order. So the draws are the same on one thread or two
(:mod:`.device_pulse`). ``tests/test_device_kernels.py`` restates every function
here in Python integers.

==============  ==============================================================
splitmix64      ``z += 0x9E3779B97F4A7C15``; ``z = (z ⊕ z≫30)·0xBF58476D1CE4E5B9``;
                ``z = (z ⊕ z≫27)·0x94D049BB133111EB``; ``z ⊕ z≫31`` (mod 2⁶⁴)
xorshift64*     ``x ⊕= x≫12``, ``x ⊕= x≪25``, ``x ⊕= x≫27``; output ``x·2685821657736338717``
uniform         top 53 bits of the output, scaled to [-1, 1)
normal pair     Marsaglia's polar method: ``u, v`` uniform, ``s = u² + v²`` in (0, 1),
                ``u·√(-2 ln s / s)`` and ``v·√(-2 ln s / s)``
==============  ==============================================================

:func:`fill_normals` draws the same normals as repeated :func:`normal_pair` calls, a batch
at a time: first the candidate pairs (the xorshift chain and the acceptance test, the
accepted ones kept without a branch), then the ``log``/``sqrt`` of every accepted pair in a
loop whose iterations do not depend on each other (a rejected pair no longer stalls the
pipeline in the middle of the per-cell work).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["splitmix64", "pulse_key", "normal_pair", "fill_normals"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True)
def splitmix64(z: np.uint64) -> np.uint64:
    """One splitmix64 output for input ``z`` (Steele, Lea, Flood, OOPSLA 2014)."""
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def pulse_key(seed: np.uint64, stream: int, call: int) -> np.uint64:
    """Key of one :func:`pulse_update` call: ``splitmix64(splitmix64(seed + stream) + call)``."""
    return splitmix64(splitmix64(seed + np.uint64(stream)) + np.uint64(call))


@njit(cache=True, nogil=True)
def _uniform(x: np.uint64) -> tuple[np.uint64, float]:
    """Next xorshift64* state and a uniform in [-1, 1) from its 53 top bits."""
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    u = float((x * np.uint64(2685821657736338717)) >> np.uint64(11)) / 4503599627370496.0 - 1.0
    return x, u


@njit(cache=True, nogil=True)
def normal_pair(x: np.uint64) -> tuple[np.uint64, float, float]:
    """Two independent N(0, 1) draws by Marsaglia's polar method on xorshift64* state ``x`` (nonzero)."""
    while True:
        x, u = _uniform(x)
        x, v = _uniform(x)
        s = u * u + v * v
        if 0.0 < s < 1.0:
            f = np.sqrt(-2.0 * np.log(s) / s)
            return x, u * f, v * f


@njit(cache=True, nogil=True)
def fill_normals(x: np.uint64, out: np.ndarray, u: np.ndarray, v: np.ndarray, s: np.ndarray) -> np.uint64:
    """``out`` (even size) filled with the next ``out.size`` normals of state ``x`` in the order of
    repeated :func:`normal_pair` calls (both values of a pair, in turn); returns the new state.
    ``u``, ``v``, ``s``: scratch of ``out.size // 2`` values each."""
    pairs = out.size // 2
    accepted = 0
    while accepted < pairs:
        x, a = _uniform(x)
        x, b = _uniform(x)
        r = a * a + b * b
        u[accepted] = a
        v[accepted] = b
        s[accepted] = r
        accepted += (0.0 < r) & (r < 1.0)  # a rejected pair is overwritten by the next
    for i in range(pairs):
        f = np.sqrt(-2.0 * np.log(s[i]) / s[i])
        out[2 * i] = u[i] * f
        out[2 * i + 1] = v[i] * f
    return x
