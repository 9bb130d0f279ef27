"""The DES's fast exact path: where no unit contends, the analytic schedule is the DES result."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.config import hw as hwcfg
from neurosim.sim import build_step_graph, simulate
from neurosim.sim.fastpath import fast_simulate

from .conftest import HW_DIGITAL, HW_RRAM
from .test_mapping import mlp
from .test_sim import algo
from .test_sim_conv import SMALL


def _same(fast, des):
    assert fast.makespan == des.makespan
    assert fast.step_end == des.step_end
    assert np.array_equal(fast.start, des.start) and np.array_equal(fast.end, des.end)
    assert np.array_equal(fast.ready, des.ready)
    assert fast.arrivals == des.arrivals
    assert des.stall_cycles == 0 and fast.busy == des.busy


CASES = [(net, batch, chunks) for net in ("mlp", "conv", "tiny") for batch, chunks in ((1, 1), (4, 1), (4, 4))]


@pytest.mark.parametrize("chip", [HW_RRAM, HW_DIGITAL])
@pytest.mark.parametrize("name", ["bp", "dfa", "sdfa", "drtp", "fdfa", "fa"])
def test_fast_path_is_taken_exactly_when_the_des_never_queues(chip, name):
    hw = hwcfg.load(chip)
    taken = 0
    for net, batch, chunks in CASES:
        shapes = {"mlp": mlp([100, 40, 10]), "conv": SMALL, "tiny": mlp([7, 10])}[net]
        g = build_step_graph(hw, shapes, batch, algo(name), chunks=chunks)
        des, fast = simulate(g), fast_simulate(g)
        if des.stall_cycles == 0:
            assert fast is not None, (net, batch, chunks)
            _same(fast, des)
            taken += 1
        else:
            assert fast is None, (net, batch, chunks)
    if chip == HW_RRAM:
        assert taken > 0  # on rram_tile the batch-of-one steps never queue


def test_a_contended_graph_falls_back_to_the_des():
    g = build_step_graph(hwcfg.load(HW_RRAM), mlp([784, 800, 800, 10]), 32, algo("bp"))
    assert simulate(g).stall_cycles > 0
    assert fast_simulate(g) is None
