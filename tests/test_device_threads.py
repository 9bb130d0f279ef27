"""The device model's second thread (kernels.helper): items taken once by either thread, a job's
result and error passed to its caller, a job not yet started run on the caller; and the write
hook that runs each layer's optimizer step inside the write, beside the pulses, against
stepping first."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from neurosim.kernels.helper import Job, run_items, two_threads


def test_helper_runs_each_item_once_and_passes_errors_on() -> None:
    seen = np.zeros(200, dtype=np.int64)

    def task(i: int) -> None:
        np.dot(np.ones((50, 50)), np.ones((50, 50)))  # releases the GIL: the helper gets items too
        seen[i] += 1

    run_items(task, 200)
    assert (seen == 1).all()
    run_items(task, 0)

    def failing(i: int) -> None:
        if i == 3:
            raise ValueError("item 3")

    with pytest.raises(ValueError, match="item 3"):
        run_items(failing, 10)


def test_helper_job_returns_its_result_and_passes_errors_on() -> None:
    assert Job(lambda a, b: a * b, 6, 7).wait() == 42
    if two_threads():  # started by the helper before the wait: it ran there
        ran_on = Job(threading.get_ident)
        while not ran_on.finished.is_set():
            ran_on.finished.wait(0.01)
        assert ran_on.wait() != threading.get_ident()

    def fails() -> None:
        raise ValueError("on the helper")

    with pytest.raises(ValueError, match="on the helper"):
        Job(fails).wait()


def test_helper_job_not_started_runs_on_the_caller_once() -> None:
    """A job the helper has not started when the caller waits for it (the helper busy with an
    earlier job) runs on the calling thread, and the helper skips it when it gets there."""
    if not two_threads():
        pytest.skip("no helper thread (numba's thread count is 1)")
    release = threading.Event()
    busy = Job(release.wait)  # holds the helper until released
    runs: list[int] = []
    job = Job(lambda: runs.append(threading.get_ident()) or len(runs))
    assert job.wait() == 1 and runs == [threading.get_ident()]
    release.set()
    after = Job(len, runs)  # behind the claimed job in the helper's queue: once it has run there,
    while not after.finished.is_set():  # the helper has passed the claimed job without running it
        after.finished.wait(0.01)
    assert after.wait() == 1 and busy.wait() is True


class _Layer:
    def __init__(self, name: str, weight: np.ndarray):
        self.name, self.weight = name, weight
        self.shape = type("S", (), {"kind": "dense"})()


def test_write_with_each_layer_step_inside_equals_steps_then_write() -> None:
    """CrossbarDevice.write(weights, update): each layer's step run inside the write, its pulses
    beside the next step and still running when the write returns (a parallel, a background and
    a serial-sized layer; the next write, a read or settle() waits for them) — the same bits as
    stepping every layer first and then writing, over several steps."""
    from neurosim.config.base import load_model
    from neurosim.config.hw import HwConfig
    from neurosim.learning.device import CrossbarDevice

    from .conftest import REPO

    hw = load_model(REPO / "hwconfigs" / "rram_tile_device.yaml", HwConfig)
    shapes = [(300, 250), (20, 300), (10, 20)]
    rng = np.random.default_rng(3)
    start = [rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in shapes]
    steps = [[rng.normal(0, 0.02, s).astype(np.float32) for s in shapes] for _ in range(3)]
    outcomes = []
    threads: dict[int, int] = {}
    for inside in (False, True):
        device = CrossbarDevice(hw, np.random.SeedSequence(11))
        layers = [_Layer(f"fc{i + 1}", w.copy()) for i, w in enumerate(start)]
        device.program_weights(type("Net", (), {"weight_layers": layers})())
        weights = [layer.weight for layer in layers]
        for deltas in steps:
            def step(index: int, deltas=deltas) -> None:
                weights[index] += deltas[index]
                threads[index] = threading.get_ident()

            if inside:
                device.write(weights, step)  # returns with the pulses still running
            else:
                for index in range(len(weights)):
                    step(index)
                device.write(weights)
        device.settle()
        outcomes.append(([w.copy() for w in weights], [(c.g.copy(), c.pulses.copy(), c.totals.copy()) for c in device.layers]))
    for a, b in zip(outcomes[0][0], outcomes[1][0]):
        np.testing.assert_array_equal(a, b)
    for cells_a, cells_b in zip(outcomes[0][1], outcomes[1][1]):
        for a, b in zip(cells_a, cells_b):
            np.testing.assert_array_equal(a, b)
    assert outcomes[0][1][0][2][2] > 0  # cells were written
    # the second layer's step ran here; the first on the helper beside it, or here too when the helper
    # had not started it by then (helper.Job: the tiny steps of this test are done before it wakes)
    assert threads[1] == threading.get_ident()
