"""The fast event engines are the SimPy model, bit for bit, on many graphs.

Every op's ready, start and end time, every delivery, the releasing dependency
and the stall sum of :func:`neurosim.sim.engine.simulate` (the numba loop) and of
:func:`neurosim.sim.replay.simulate` (the same engine in Python) must equal those of
the SimPy reference :func:`neurosim.sim.des.simulate_simpy` — on both chips,
every rule, MLPs and conv nets, one step and chained steps, and chips shrunk
so that units contend heavily (few tiles, single-ported SRAM, slow links).
The numba contention-free bound equals :func:`neurosim.sim.longest_path` on the same graphs.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from neurosim.config import hw as hwcfg
from neurosim.config.hw import HwConfig
from neurosim.sim import build_step_graph, longest_path, simulate, simulate_simpy
from neurosim.sim import replay
from neurosim.sim.engine import contention_free_makespan, simulate_window
from neurosim.sim.engine_arrays import encode

from .conftest import HW_DIGITAL, HW_RRAM
from .test_mapping import mlp, tiny_hw
from .test_sim import algo
from .test_sim_conv import SMALL


def _same(new, ref):
    assert new.step_end == ref.step_end
    assert np.array_equal(new.ready, ref.ready)
    assert np.array_equal(new.start, ref.start)
    assert np.array_equal(new.end, ref.end)
    assert new.arrivals == ref.arrivals
    assert new.critical_dep == ref.critical_dep
    # the engine reads its results back on demand: every lookup as the dict, a missing key a KeyError
    assert all(new.arrivals[key] == t for key, t in ref.arrivals.items())
    assert all(new.critical_dep[g] == pred for g, pred in ref.critical_dep.items())
    for missing in ((new.n_ops + 5, 0), (0, 10**6)):
        with pytest.raises(KeyError):
            new.arrivals[missing]
    with pytest.raises(KeyError):
        new.critical_dep[new.n_ops + 5]
    assert new.stall_cycles == ref.stall_cycles
    assert new.busy == ref.busy and new.n_ops == ref.n_ops


def _variant(path, **over) -> HwConfig:
    data = yaml.safe_load(path.read_text())
    for dotted, value in over.items():
        node = data
        keys = dotted.split(".")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return HwConfig.model_validate(data)


CHIPS = {
    "rram": lambda: hwcfg.load(HW_RRAM),
    "digital": lambda: hwcfg.load(HW_DIGITAL),
    "rram_2x2_slow_links": lambda: _variant(HW_RRAM, **{"noc.mesh": "4x4", "noc.link_cycles_per_hop.value": 3,
                                                      "sram.ports": 1, "crossbar.rows": 64, "crossbar.cols": 64}),
    "digital_3_ports": lambda: _variant(HW_DIGITAL, **{"sram.ports": 3, "noc.mesh": "4x4"}),
    "tiny": lambda: tiny_hw(),
}
NETS = {"mlp": lambda: mlp([100, 40, 10]), "conv": lambda: SMALL, "wide": lambda: mlp([64, 48, 48, 10])}


@pytest.mark.parametrize("chip", sorted(CHIPS))
@pytest.mark.parametrize("name", ["bp", "dfa", "sdfa", "drtp", "fdfa", "fa"])
def test_engine_equals_simpy(chip, name):
    hw = CHIPS[chip]()
    for net in sorted(NETS):
        shapes = NETS[net]()
        for batch, chunks in ((1, 1), (8, 4), (16, 8)):
            try:
                g = build_step_graph(hw, shapes, batch, algo(name), chunks=chunks)
            except Exception as err:  # a shrunk chip may not hold the net
                assert type(err).__name__ == "MappingError"
                continue
            assert contention_free_makespan(encode(g)) == longest_path(g).makespan
            for steps in (1, 3):
                ref = simulate_simpy(g, steps)
                _same(simulate(g, steps), ref)
                _same(replay.simulate(g, steps), ref)


def test_engine_equals_simpy_on_the_contended_reference_step():
    g = build_step_graph(hwcfg.load(HW_RRAM), mlp([784, 800, 800, 10]), 32, algo("bp"))
    ref = simulate_simpy(g, 2)
    assert ref.stall_cycles > 0  # units do contend here
    assert contention_free_makespan(encode(g)) == longest_path(g).makespan
    _same(simulate(g, 2), ref)
    _same(replay.simulate(g, 2), ref)


@pytest.mark.parametrize("chip", ["rram", "digital", "rram_2x2_slow_links"])
def test_a_lone_step_read_off_the_window_is_the_lone_step(chip):
    hw = CHIPS[chip]()
    taken = 0
    for name in ("bp", "dfa", "sdfa"):
        for batch, chunks in ((1, 1), (4, 2), (16, 8)):
            g = build_step_graph(hw, mlp([100, 40, 10]), batch, algo(name), chunks=chunks)
            window, lone = simulate_window(g, 3, encode(g))
            _same(window, simulate_simpy(g, 3))
            replay_window, replay_lone = replay.simulate_window(g, 3)
            _same(replay_window, window)
            assert (replay_lone is None) == (lone is None)
            if lone is not None:
                _same(lone, simulate_simpy(g, 1))
                _same(replay_lone, lone)
                taken += 1
    assert taken > 0  # small steps do not disturb each other's first step


def test_engine_equals_simpy_on_random_chips():
    """Seeded random chips (mesh, SRAM ports, router and link cycles, array size), nets,
    rules, batches, chunks and window lengths."""
    import random

    rng = random.Random(12)
    checked = 0
    while checked < 30:
        base = rng.choice([HW_RRAM, HW_DIGITAL])
        over = {"noc.mesh": rng.choice(["2x2", "3x3", "4x4", "8x8"]), "sram.ports": rng.choice([1, 2, 3]),
                "noc.link_cycles_per_hop.value": rng.choice([1, 2, 3]), "noc.router_cycles_per_hop.value": rng.choice([0, 1, 2])}
        if base == HW_RRAM:
            cells = rng.choice([32, 64, 128])
            over.update({"crossbar.rows": cells, "crossbar.cols": cells})
        shapes = rng.choice([mlp([100, 40, 10]), mlp([64, 48, 48, 10]), SMALL, mlp([200, 30, 10])])
        try:
            g = build_step_graph(_variant(base, **over), shapes, rng.choice([1, 4, 8, 16]),
                                 algo(rng.choice(["bp", "dfa", "sdfa", "drtp", "fdfa", "fa"])), chunks=rng.choice([1, 2, 4, 8]))
        except Exception as err:  # the net does not fit that chip
            assert type(err).__name__ == "MappingError"
            continue
        steps = rng.choice([1, 2, 3, 4])
        assert contention_free_makespan(encode(g)) == longest_path(g).makespan
        ref = simulate_simpy(g, steps)
        _same(simulate(g, steps), ref)
        _same(replay.simulate(g, steps), ref)
        checked += 1
