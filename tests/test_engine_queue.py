"""The event queue's table of pending times is sized for the common case and grown by
running again: a run that finds it full gives the same result as SimPy all the same."""

from __future__ import annotations

from neurosim.config import hw as hwcfg
from neurosim.sim import build_step_graph, simulate_simpy
from neurosim.sim import engine
from neurosim.sim.engine import simulate
from neurosim.sim.engine_arrays import encode, make_arena, results
from neurosim.kernels.des_arena import TABLE_FULL
from neurosim.kernels.des_loop import run_events

from .conftest import HW_RRAM
from .test_engine import _same
from .test_mapping import mlp
from .test_sim import algo


def test_a_full_time_table_stops_the_run_and_a_larger_one_finishes_it(monkeypatch):
    g = build_step_graph(hwcfg.load(HW_RRAM), mlp([100, 40, 10]), 16, algo("bp"), chunks=8)
    enc = encode(g)
    arena = make_arena(enc.ints, enc.floats, enc.unit_cap, enc.rem0, enc.carry_cnt, enc.head_cycles, 2, enc.n_keys, 2)
    run_events(*arena)
    assert results(*arena)[7] == TABLE_FULL  # two slots admit one pending time: too few
    monkeypatch.setattr(engine, "TABLE_SLOTS", 2)
    _same(simulate(g, 2), simulate_simpy(g, 2))
