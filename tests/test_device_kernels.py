"""Device kernels: the counter-based C2C streams and the closed-form curve step of the pulse
update against Python/NumPy references, and the same bits on one thread and two (pulse update
and block reads through kernels.helper)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from neurosim.kernels.device import SHARED_READ_MACS, block_mvm, block_mvm_transposed, block_weights, pulse_update
from neurosim.kernels.counter_rng import normal_pair
from neurosim.kernels.device_pulse import PARALLEL_CELLS, ROWS_PER_CHUNK, pulse_key


def _set_threads(count: int) -> None:
    numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))


MASK64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    """splitmix64 in Python integers (the reference of kernels.device_pulse.splitmix64)."""
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class _Stream:
    """One chunk's C2C stream in Python integers (64-bit wrap-around): xorshift64* uniforms in
    [-1, 1), Marsaglia's polar method, both values of a pair used in turn."""

    def __init__(self, key: int, chunk: int):
        self.x = _splitmix64((key + chunk) & MASK64) | 1
        self.spare: list[float] = []

    def _uniform(self) -> float:
        x = self.x
        x ^= x >> 12
        x ^= (x << 25) & MASK64
        x ^= x >> 27
        self.x = x
        return float(((x * 2685821657736338717) & MASK64) >> 11) / 2.0**52 - 1.0

    def normal(self) -> float:
        if self.spare:
            return self.spare.pop()
        while True:
            u, v = self._uniform(), self._uniform()
            s = u * u + v * v
            if 0.0 < s < 1.0:
                f = np.sqrt(-2.0 * np.log(s) / s)
                self.spare.append(v * f)
                return u * f


def test_pulse_key_and_streams_against_python_integers() -> None:
    key = _splitmix64((_splitmix64((12345 + 3) & MASK64) + 17) & MASK64)
    assert int(pulse_key(np.uint64(12345), 3, 17)) == key
    x, z0, z1 = normal_pair(np.uint64(_splitmix64(key + 2) | 1))
    ref = _Stream(key, 2)
    assert (z0, z1) == (ref.normal(), ref.normal())
    assert int(x) % 2**64 == ref.x


def test_fill_normals_continues_the_pair_stream() -> None:
    """fill_normals draws, a batch at a time, the normals of repeated normal_pair calls: against the
    Python-integer stream, over batches that cross rejected pairs."""
    from neurosim.kernels.counter_rng import fill_normals

    key = _splitmix64(424242)
    ref = _Stream(key, 5)
    x = np.uint64(_splitmix64(key + 5) | 1)
    out, scratch = np.empty(16), np.empty((3, 8))
    drawn = []
    for _ in range(40):
        x = np.uint64(fill_normals(x, out, scratch[0], scratch[1], scratch[2]))  # back from Python as uint64
        drawn.extend(out)
    assert drawn == [ref.normal() for _ in range(len(drawn))]
    assert int(x) % 2**64 == ref.x


@pytest.mark.parametrize("per_cell", [False, True])
def test_c2c_draws_follow_each_row_chunk_in_row_major_order(per_cell: bool) -> None:
    """Nonlinear curves, C2C on, rows over several chunks: each chunk of ROWS_PER_CHUNK rows draws from
    its own stream (key, chunk) in row-major order of its written cells; cells below half a pulse draw
    nothing. Reference: the log/exp step in float64 and the streams in NumPy uint64 arithmetic."""
    rng = np.random.default_rng(5)
    shape, levels, c2c, key = (2 * ROWS_PER_CHUNK + 5, 100), 100, 0.05, 987654321
    g = rng.uniform(0.2, 0.8, (1,) + shape)
    a_ltp = rng.uniform(0.3, 0.6, g.shape) if per_cell else np.full((1, 1, 1), 0.4)
    a_ltd = -rng.uniform(0.2, 0.4, g.shape) if per_cell else np.full((1, 1, 1), -0.3)
    w_eff = (2.0 * g[0] - 1.0).astype(np.float32)  # w_max 1, reference at mid
    n = rng.choice([-3, -1, 1, 2], shape) * (rng.random(shape) < 0.15)
    w = (w_eff + n * 0.0205 + rng.uniform(-0.004, 0.004, shape) * (n == 0)).astype(np.float32)
    ref_g = g.copy()
    streams = [_Stream(key, c) for c in range(-(-shape[0] // ROWS_PER_CHUNK))]
    for j, k in zip(*np.nonzero(n)):
        ltp = n[j, k] > 0
        a = (a_ltp if ltp else a_ltd)[0, j, k] if per_cell else (a_ltp if ltp else a_ltd)[0, 0, 0]
        norm = 1 - np.exp(-1 / a)
        p = min(max(-a * np.log(1 - ref_g[0, j, k] * norm) + n[j, k] / levels, 0.0), 1.0)
        noisy = (1 - np.exp(-p / a)) / norm + c2c * np.sqrt(abs(n[j, k])) * streams[j // ROWS_PER_CHUNK].normal()
        ref_g[0, j, k] = min(max(noisy, 0.0), 1.0)
    pulses = np.zeros(g.shape, dtype=np.int32)
    pulse_update(w, w_eff, block_weights(w_eff, 128), g, a_ltp, a_ltd, np.zeros((1, 1, 1), np.bool_), pulses,
                 levels, levels, 1.0, c2c, False, 0, np.zeros((shape[1], 2), dtype=np.int64), key)
    np.testing.assert_array_equal(pulses[0], np.abs(n))
    np.testing.assert_allclose(g, ref_g, rtol=0, atol=2e-6)  # float32 step (per cell) / float64 closed form


def _random_update(shape: tuple[int, int], seed: int, per_cell: bool):
    rng = np.random.default_rng(seed)
    g = rng.uniform(0.05, 0.95, (1,) + shape)
    a_ltp = rng.uniform(0.3, 2.0, g.shape) if per_cell else np.full((1, 1, 1), 0.5)
    a_ltd = -rng.uniform(0.1, 1.0, g.shape) if per_cell else np.full((1, 1, 1), -0.2)
    w_eff = (0.25 * (2 * g[0] - 2 / 3)).astype(np.float32)
    w = (w_eff + rng.normal(0, 0.01, shape) * (rng.random(shape) < 0.3)).astype(np.float32)
    return w, w_eff, g, a_ltp, a_ltd


@pytest.mark.parametrize("per_cell", [False, True])
def test_pulse_update_same_bits_on_one_thread_and_two(per_cell: bool) -> None:
    """Above PARALLEL_CELLS the chunks are shared with a second thread: the same bits as the
    serial loop, with numba's thread count 1 or 2, and whichever thread ran which chunk."""
    shape = (300, 250)
    assert shape[0] * shape[1] >= PARALLEL_CELLS
    w0, eff0, g0, a_ltp, a_ltd = _random_update(shape, 9, per_cell)
    results = []
    threads = numba.get_num_threads()
    for parallel, count in ((False, 1), (True, 2), (None, 1), (None, 2), (True, 2)):
        _set_threads(count)
        w, eff, g = w0.copy(), eff0.copy(), g0.copy()
        blocks, pulses, row_max = block_weights(eff, 128), np.zeros(g.shape, np.int32), np.zeros((shape[1], 2), np.int64)
        counts = pulse_update(w, eff, blocks, g, a_ltp, a_ltd, np.zeros((1, 1, 1), np.bool_), pulses, 97, 100, 0.25, 0.035,
                              False, 0, row_max, 4242, 1 / 3, parallel=parallel)
        results.append((counts, w, eff, blocks, g, pulses, row_max))
    numba.set_num_threads(threads)
    assert results[0][0][2] > 1000  # many cells written
    for other in results[1:]:
        assert other[0] == results[0][0]
        for a, b in zip(other[1:], results[0][1:]):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(results[0][3], block_weights(results[0][2], 128))
    np.testing.assert_array_equal(results[0][6], np.stack([np.where(w0 > eff0, results[0][5][0], 0).max(axis=0),
                                                            np.where(w0 < eff0, results[0][5][0], 0).max(axis=0)], axis=1))


def test_normal_pair_moments() -> None:
    x, draws = np.uint64(987654321), []
    for _ in range(20000):
        x, z0, z1 = normal_pair(np.uint64(x))
        draws += [z0, z1]
    draws = np.array(draws)
    assert abs(draws.mean()) < 0.02 and draws.std() == pytest.approx(1.0, abs=0.02)
    assert abs(np.mean(draws**3)) < 0.05 and np.mean(draws**4) == pytest.approx(3.0, abs=0.15)
    assert abs(np.corrcoef(draws[0::2], draws[1::2])[0, 1]) < 0.02  # the two values of a pair


@pytest.mark.parametrize("transposed", [False, True])
def test_large_block_reads_same_bits_on_one_thread_and_two(transposed: bool) -> None:
    """Reads of SHARED_READ_MACS or more share their blocks with the helper thread: the same bits
    as on one thread, and the NumPy reference (each block's sums ADC-quantised, then added)."""
    rng = np.random.default_rng(11)
    batch, n_out, n_in, bits = 16, 300, 400, 6
    assert batch * n_out * n_in >= SHARED_READ_MACS
    w = rng.uniform(-0.1, 0.1, (n_out, n_in)).astype(np.float32)
    lsb = rng.uniform(0.05, 0.2, batch).astype(np.float32)
    x = rng.uniform(-1, 1, (batch, n_out if transposed else n_in)).astype(np.float32)
    threads = numba.get_num_threads()
    outs = []
    for count in (1, 2, 1, 2):
        _set_threads(count)
        outs.append(block_mvm_transposed(x, w, 128, lsb, bits) if transposed else block_mvm(x, block_weights(w, 128), lsb, bits))
    numba.set_num_threads(threads)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    ref = np.zeros((batch, n_in if transposed else n_out))
    for start in range(0, n_out if transposed else n_in, 128):
        if transposed:
            part = x[:, start : start + 128].astype(np.float64) @ w[start : start + 128]
        else:
            part = x[:, start : start + 128].astype(np.float64) @ w[:, start : start + 128].T
        ref += np.clip(np.floor(part / lsb[:, None] + 0.5), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1) * lsb[:, None]
    np.testing.assert_allclose(outs[0], ref, rtol=1e-5, atol=lsb.max() * 1.01)  # a sum on a code edge may round either way


def test_pulse_slots_against_numpy() -> None:
    from neurosim.kernels.device import pulse_slots

    row_max = np.random.default_rng(12).integers(0, 9, (300, 2))
    ref = np.add.reduceat(row_max.sum(axis=1), np.arange(0, 300, 128)).max()
    assert pulse_slots(row_max, 128) == ref
    assert not row_max.any()  # reset for the next update


def test_background_update_same_bits_as_the_serial_loop() -> None:
    """A serial-sized update run whole on the helper thread (``background``) while the caller
    works on: the same bits as running it on the calling thread."""
    from neurosim.kernels.device_pulse import BACKGROUND_CELLS
    from neurosim.kernels.pulse_threads import start_pulse_update

    shape = (20, 300)
    assert BACKGROUND_CELLS <= shape[0] * shape[1] < PARALLEL_CELLS
    w0, eff0, g0, a_ltp, a_ltd = _random_update(shape, 5, False)
    results = []
    threads = numba.get_num_threads()
    for background, count in ((False, 2), (True, 2), (True, 1)):
        _set_threads(count)
        w, eff, g = w0.copy(), eff0.copy(), g0.copy()
        blocks, pulses, row_max = block_weights(eff, 128), np.zeros(g.shape, np.int32), np.zeros((shape[1], 2), np.int64)
        update = start_pulse_update(w, eff, blocks, g, a_ltp, a_ltd, np.zeros((1, 1, 1), np.bool_), pulses, 97, 100, 0.25,
                                    0.035, False, 0, row_max, 777, 1 / 3, background=background)
        results.append((update.join(), w, eff, blocks, g, pulses, row_max))
    numba.set_num_threads(threads)
    assert results[0][0][2] > 100
    for other in results[1:]:
        assert other[0] == results[0][0]
        for a, b in zip(other[1:], results[0][1:]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(300, 250), (20, 300)])
def test_update_with_a_step_before_it(shape) -> None:
    """start_pulse_update(before=step): the step (which sets ``w``) runs first — on the helper with
    the chunks after it there for a parallel-sized update, here otherwise — and the update gives
    the bits of stepping first and then starting it; an error in the step is raised by wait_before."""
    from neurosim.kernels.pulse_threads import start_pulse_update

    w0, eff0, g0, a_ltp, a_ltd = _random_update(shape, 9, False)
    step = np.random.default_rng(4).normal(0, 0.02, shape).astype(np.float32)
    results = []
    for before in (False, True):
        w, eff, g = w0.copy(), eff0.copy(), g0.copy()
        blocks, pulses, row_max = block_weights(eff, 128), np.zeros(g.shape, np.int32), np.zeros((shape[1], 2), np.int64)
        if not before:
            w += step
        update = start_pulse_update(w, eff, blocks, g, a_ltp, a_ltd, np.zeros((1, 1, 1), np.bool_), pulses, 97, 100, 0.25,
                                    0.035, False, 0, row_max, 4242, 1 / 3, before=(lambda w=w: w.__iadd__(step)) if before else None)
        update.wait_before()
        results.append((update.join(), w, eff, blocks, g, pulses, row_max))
    assert results[0][0][2] > 100
    assert results[1][0] == results[0][0]
    for a, b in zip(results[1][1:], results[0][1:]):
        np.testing.assert_array_equal(a, b)

    def fails() -> None:
        raise ValueError("in the step")

    w, eff, g = w0.copy(), eff0.copy(), g0.copy()
    with pytest.raises(ValueError, match="in the step"):
        start_pulse_update(w, eff, block_weights(eff, 128), g, a_ltp, a_ltd, np.zeros((1, 1, 1), np.bool_),
                           np.zeros(g.shape, np.int32), 97, 100, 0.25, 0.035, False, 0, np.zeros((shape[1], 2), np.int64),
                           4242, 1 / 3, before=fails).wait_before()


@pytest.mark.parametrize("batch", [1, 2, 7, 32])
def test_input_major_blocks_read_the_same_bits(batch: int) -> None:
    """Input-major weight blocks (``block_weights(..., transposed=True)``, the faster sgemm operand)
    read the same bits as output-major ones (one sample: through a copy back), with a short last
    block; both against the NumPy reference of the per-block ADC and the sum in block order."""
    from neurosim.kernels.device import adc_sum

    rng = np.random.default_rng(13)
    n_out, n_in, bits = 50, 300, 6  # blocks of 128, 128, 44 inputs
    w = rng.uniform(-0.1, 0.1, (n_out, n_in)).astype(np.float32)
    x = rng.uniform(-1, 1, (batch, n_in)).astype(np.float32)
    lsb = rng.uniform(0.05, 0.2, batch).astype(np.float32)
    rows = block_mvm(x, block_weights(w, 128), lsb, bits)
    inputs = block_weights(w, 128, transposed=True)
    assert inputs.shape == (3, 128, n_out)
    np.testing.assert_array_equal(inputs.transpose(0, 2, 1), block_weights(w, 128))
    np.testing.assert_array_equal(block_mvm(x, inputs, lsb, bits, transposed=True), rows)
    parts = rng.uniform(-3, 3, (4, batch, 9)).astype(np.float32)
    codes = np.clip(np.floor(parts / lsb[None, :, None] + 0.5), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    ref = np.zeros((batch, 9), dtype=np.float32)
    for blk in range(4):  # float32, in block order
        ref += (codes[blk] * lsb[:, None]).astype(np.float32)
    np.testing.assert_array_equal(adc_sum(parts, lsb, bits), ref)


def test_pulse_update_writes_input_major_blocks() -> None:
    """The pulse update given input-major blocks (indexed by output through a transposed view)
    keeps them equal to ``block_weights(w_eff, transposed=True)``, everything else as with output-major ones."""
    shape = (70, 300)
    w0, eff0, g0, a_ltp, a_ltd = _random_update(shape, 21, False)
    results = []
    for transposed in (False, True):
        w, eff, g = w0.copy(), eff0.copy(), g0.copy()
        blocks = block_weights(eff, 128, transposed)
        view = blocks.transpose(0, 2, 1) if transposed else blocks
        pulses, row_max = np.zeros(g.shape, np.int32), np.zeros((shape[1], 2), np.int64)
        counts = pulse_update(w, eff, view, g, a_ltp, a_ltd, np.zeros((1, 1, 1), np.bool_), pulses, 97, 100, 0.25, 0.035,
                              False, 0, row_max, 99, 1 / 3)
        np.testing.assert_array_equal(blocks, block_weights(eff, 128, transposed))
        results.append((counts, w, eff, g, pulses, row_max))
    assert results[0][0][2] > 1000
    assert results[1][0] == results[0][0]
    for a, b in zip(results[1][1:], results[0][1:]):
        np.testing.assert_array_equal(a, b)
