"""Under ``numerics: device`` the op graph holds a layer's weight arrays for the programming time
the device model measured (``cost_step(..., write_cycles=...)``), so ``cycles_per_step`` and the
phase cycles follow the pulses the training needed."""

from __future__ import annotations

import pytest

from neurosim.config.base import load_model
from neurosim.config.hw import HwConfig
from neurosim.config.workload import Workload
from neurosim.counts import layer_names
from neurosim.data import load_dataset
from neurosim.pipeline import device_write_records, measured_write_cycles, run_algorithm
from neurosim.sim import cost_step

from .conftest import REPO

HW = load_model(REPO / "hwconfigs" / "rram_tile_device.yaml", HwConfig)


def _workload() -> Workload:
    return Workload.model_validate({
        "name": "measured-writes", "seed": 0,
        "dataset": {"name": "mnist", "train_limit": 256, "test_limit": 128},
        "network": {"layers": [784, 32, 10], "activation": "tanh"},
        "training": {"epochs": 1, "batch_size": 8, "optimizer": {"name": "sgd", "learning_rate": 0.1}},
        "algorithms": ["bp", "dfa"],
    })


def _counts(cost) -> list[tuple]:
    return sorted((r.layer, r.phase, r.component, r.action, r.count) for r in cost.records)


@pytest.mark.parametrize("rule", ["bp", "dfa"])
def test_a_measured_programming_time_holds_the_layers_arrays(rule: str) -> None:
    """Closed form: once the first layer's programming outlasts the rest of the step, the step
    ends when it does, so lengthening it by Δ lengthens the step by exactly Δ; the counts stay."""
    wl = _workload()
    algo, first = wl.algorithm(rule), layer_names(wl.shapes)[0]
    base = cost_step(HW, wl.shapes, 8, algo, steps_per_epoch=32)
    long = 10.0 * base.cycles_per_step
    slow = cost_step(HW, wl.shapes, 8, algo, steps_per_epoch=32, write_cycles={first: long})
    slower = cost_step(HW, wl.shapes, 8, algo, steps_per_epoch=32, write_cycles={first: long + 1000.0})
    assert slower.cycles_per_step - slow.cycles_per_step == 1000.0
    assert slow.cycles_per_step > long and slow.phase_cycles["weight_update"] >= long
    assert _counts(slow) == _counts(base)


def test_a_device_run_is_costed_with_its_measured_programming(mnist_dir) -> None:
    wl = _workload()
    algo = wl.algorithm("bp")
    data = load_dataset(wl.dataset)
    preflight = cost_step(HW, wl.shapes, 8, algo, steps_per_epoch=32)
    run = run_algorithm(wl, HW, algo, data, preflight)
    writes = run.training.device_writes
    cycles = measured_write_cycles(HW, writes)
    assert sorted(cycles) == layer_names(wl.shapes)
    assert all(cycles[s.layer] == s.pulse_slots_per_step * HW.crossbar.write_pulse_cycles.value for s in writes)
    again = cost_step(HW, wl.shapes, 8, algo, steps_per_epoch=32, write_cycles=cycles)
    assert run.hardware.cycles_per_step == again.cycles_per_step
    assert run.hardware.phase_cycles == again.phase_cycles
    assert [r.cycles for r in device_write_records(HW, writes) if r.action == "cell_write"] == [cycles[s.layer] for s in writes]
    model = cost_step(HW, wl.shapes, 8, algo, steps_per_epoch=32)
    assert model.cycles_per_step == preflight.cycles_per_step  # the preflight's chip is the model's own


def test_a_device_runs_trace_shows_its_measured_programming(mnist_dir, tmp_path) -> None:
    """trace.json simulates the step as the run costed it: it ends at the run's cycles per step."""
    import json

    from neurosim.pipeline import run
    from neurosim.report.trace import write_trace

    wl = _workload()
    res = run(wl, HW, load_dataset(wl.dataset), [wl.algorithm("dfa")], baseline=None)
    write_trace(res, tmp_path)
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    end = max(e["args"]["end_cycle"] for e in events if e["ph"] == "X")
    assert res.algorithms["dfa"].training.device_writes
    assert end == res.algorithms["dfa"].hardware.cycles_per_step
