"""Hardware components: shipped hwconfigs, closed-form block counts, units, mesh routes.

Expected figures are worked out by hand in the comments, not with the code under test.
"""

from __future__ import annotations

import re

import pytest
import simpy
import yaml

from neurosim.config import hw as hwcfg
from neurosim.config.base import Sourced
from neurosim.config.hw import CrossbarConfig, EnergyEntry
from neurosim.errors import ConfigError
from neurosim.hw import ACTIONS, CoreWork, CrossbarModel, Mesh, missing_actions, required_actions
from neurosim.hw.units import Core, DramChannel, Link, SramPort, Unit

from .conftest import HW_DIGITAL, HW_RRAM

SHIPPED = [HW_RRAM, HW_DIGITAL]


def _walk(model, path=""):
    """Yield (dotted path, value) of every Sourced / EnergyEntry in a config."""
    if isinstance(model, (Sourced, EnergyEntry)):
        yield path, model
        return
    if isinstance(model, dict):
        for k, v in model.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
        return
    if hasattr(type(model), "model_fields"):
        for name in type(model).model_fields:
            yield from _walk(getattr(model, name), f"{path}.{name}" if path else name)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_hwconfig_loads_and_every_figure_has_a_source(path):
    hw = hwcfg.load(path)
    figures = list(_walk(hw))
    assert len(figures) >= 12
    for where, fig in figures:
        src = fig.source
        # a real citation: names a paper, tool or file, not a placeholder
        assert len(src) >= 20 and re.search(r"[A-Za-z]{4,}", src), (where, src)
        assert not re.search(r"\b(TODO|TBD|unknown|guess)\b", src, re.I), (where, src)
    # every latency/bandwidth figure is positive (an energy may be a 0 bookkeeping row)
    for where, fig in figures:
        if isinstance(fig, Sourced):
            assert fig.value > 0, where
    # the energy table covers every action this chip can emit
    assert missing_actions(hw) == []
    for comp, action in required_actions(hw):
        assert hw.energy[comp][action].per


def test_shipped_hwconfigs_explain_the_chip_in_a_comment_header():
    for p in SHIPPED:
        head = p.read_text().splitlines()[:5]
        assert all(line.startswith("#") for line in head), p


def test_digital_chip_has_no_crossbar_actions():
    hw = hwcfg.load(HW_DIGITAL)
    acts = required_actions(hw)
    assert ("crossbar", "read") not in acts and ("adc", "convert") not in acts
    assert ("core", "digital_mac") in acts and ("noc", "flit_hop") in acts
    assert "mac" not in {a for _, a in ACTIONS}


def test_sram_weights_section_is_required_and_must_fit(tmp_path):
    data = yaml.safe_load(HW_DIGITAL.read_text())
    del data["sram_weights"]
    bad = tmp_path / "no_weights.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="sram_weights"):
        hwcfg.load(bad)
    data = yaml.safe_load(HW_DIGITAL.read_text())
    data["sram_weights"]["blocks_per_tile"] = 64  # 64 x 16 KiB > 256 KiB
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="sram_weights"):
        hwcfg.load(bad)


def test_dram_port_must_be_on_the_mesh(tmp_path):
    data = yaml.safe_load(HW_RRAM.read_text())
    data["dram"]["port_tile_xy"] = [8, 0]
    bad = tmp_path / "port.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="port_tile_xy"):
        hwcfg.load(bad)


def _xbar(**kw) -> CrossbarConfig:
    base = dict(
        rows=4, cols=8, bits_per_cell=2, cells_per_weight=2, conductance_levels=4, input_bits=4, dac_bits=2,
        adc_bits=6, cols_per_adc=2, pulses_per_write=3,
        read_cycles={"value": 10, "source": "test figure"},
        adc_cycles={"value": 1, "source": "test figure"},
        adc_scaling={"reference_bits": 6, "source": "test figure: the figures are for the 6-bit ADC"},
        write_pulse_cycles={"value": 50, "source": "test figure"},
    )
    base.update(kw)
    return CrossbarConfig.model_validate(base)


def test_forward_read_counts_by_hand():
    xm = CrossbarModel(_xbar())
    # 4-bit inputs on 2-bit DACs: 2 slices; 5 vectors -> 10 array activations.
    # 3 weights x 2 cells = 6 columns sensed per slice -> 60 conversions; 3 rows driven -> 30 DAC drives.
    w = xm.forward_read(rows_used=3, weights_used=3, vectors=5)
    assert w.counts[("crossbar", "read")] == 10
    assert w.counts[("dac", "convert")] == 30
    assert w.counts[("adc", "convert")] == 60
    assert w.counts[("core", "shift_add")] == 60
    assert w.macs == 5 * 3 * 3
    # 8 columns / 2 per ADC = 4 ADCs; 6 columns interleaved -> 2 conversions each per slice (2 cycles)
    # read 10 cycles dominates: 10 slices x 10 + pipeline fill min(10, 2) = 102 cycles
    assert w.array_cycles == 100
    assert w.adc_cycles == 20
    assert w.cycles == 102


def test_transposed_read_counts_by_hand():
    xm = CrossbarModel(_xbar())
    # each slice once per cell significance: 5 vectors x 2 slices x 2 cells = 20 activations,
    # each driving 3 columns (one per weight) and sensing 3 rows; 4 rows / 2 per ADC = 2 row ADCs
    w = xm.transposed_read(rows_used=3, weights_used=3, vectors=5)
    assert w.counts[("crossbar", "transposed_read")] == 20
    assert w.counts[("dac", "convert")] == 60
    assert w.counts[("adc", "convert")] == 60
    assert w.cycles == 20 * 10 + 2


def test_programming_counts_by_hand():
    xm = CrossbarModel(_xbar())
    # 3 rows x 3 weights x 2 cells = 18 cells, 3 pulses each; row by row: 3 rows x 3 pulses x 50 cycles
    w = xm.program(rows_used=3, weights_used=3)
    assert w.counts[("crossbar", "cell_write")] == 18
    assert w.counts[("crossbar", "pulse")] == 54
    assert w.cycles == 450


def test_adc_bound_read_when_columns_outnumber_adcs():
    # 1 ADC for all 8 columns: 8 conversions x 3 cycles = 24 > read 10 -> the ADC sets the pace
    xm = CrossbarModel(_xbar(cols_per_adc=4, adc_cycles={"value": 3, "source": "test figure"}, rows=4))
    w = xm.forward_read(rows_used=4, weights_used=4, vectors=1)
    # 8 cols / 4 per ADC = 2 ADCs -> 4 conversions each per slice = 12 cycles; 2 slices
    assert w.adc_cycles == 24
    assert w.cycles == 2 * 12 + 10


def test_unit_service_hooks():
    hw = hwcfg.load(HW_RRAM)
    assert Core(hw.core).service_cycles(CoreWork(macs=1000, elementwise=100)) == 4 + 2  # ceil(1000/256) + ceil(100/64)
    assert SramPort(hw.sram).service_cycles(100) == 1 + 4  # access 1 + ceil(100 / 32)
    assert SramPort(hw.sram).service_cycles(0) == 0
    assert Link(hw.noc).service_cycles(7) == 7
    assert DramChannel(hw.dram).service_cycles(512) == 2.0  # 512 B at 256 B/cycle


def test_unit_base_owns_the_queue():
    class Fixed(Unit):
        component = "test"

        def service_cycles(self, work):
            return float(work)

    env = simpy.Environment()
    u = Fixed(env, "u")
    done = []

    def job(n):
        yield from u.serve(n)
        done.append((n, env.now))

    env.process(job(5))
    env.process(job(3))
    env.run()
    assert done == [(5, 5.0), (3, 8.0)]  # the second waited for the first
    assert u.busy_cycles == 8 and u.wait_cycles == 5


def _mesh(mesh="4x4", flit=16) -> Mesh:
    hw = hwcfg.load(HW_RRAM)
    return Mesh(hw.noc.model_copy(update={"mesh": mesh, "flit_bytes": flit}))


def test_serpentine_numbering_keeps_consecutive_tiles_adjacent():
    m = _mesh()
    assert [m.xy(t) for t in range(6)] == [(0, 0), (1, 0), (2, 0), (3, 0), (3, 1), (2, 1)]
    for t in range(m.tiles - 1):
        assert m.hops(t, t + 1) == 1
        assert m.tile_at(*m.xy(t)) == t


def test_xy_route_flit_hops_by_hand():
    m = _mesh()
    src, dst = m.tile_at(0, 0), m.tile_at(2, 1)
    path = m.xy_path(src, dst)
    # X first: (0,0)->(1,0)->(2,0), then Y: (2,0)->(2,1)
    assert [m.link_name(l) for l in path] == [(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 2, 1)]
    r = m.route(src, {dst: frozenset(range(20))}, lambda n: 2 * n)  # 20 values x 2 B = 40 B = 3 flits of 16 B
    assert r.flit_hops() == 9 and r.byte_hops() == 120
    assert r.dests[dst] == (3, 3)
    # 5 samples: 15 flits; head 3 hops x (1 + 1) cycles, tail 14 more link cycles
    assert m.arrival_cycles(r, dst, 5) == 3 * 2 + 14


def _reference_route(m: Mesh, src: int, needs: dict, value_bytes):
    """A multicast tree the slow way: each destination's XY path in turn, links numbered as
    first crossed, each link's payload the union of the needs of every destination behind it."""
    order, parent, ids, paths = [], {}, {}, {}
    for d in sorted(needs):
        if d == src:
            continue
        prev = -1
        for link in m.xy_path(src, d):
            if link not in ids:
                order.append(link)
                parent[link], ids[link] = prev, set()
            ids[link] |= needs[d]
            prev = link
        paths[d] = m.xy_path(src, d)
    index = {link: i for i, link in enumerate(order)}
    hops = tuple((link, index[parent[link]] if parent[link] != -1 else -1, m.tile_at(*m.link_name(link)[2:]),
                  float(value_bytes(len(ids[link]))), m.flits(value_bytes(len(ids[link])))) for link in order)
    dests = {d: (len(p), max(hops[index[link]][4] for link in p)) for d, p in paths.items()}
    return hops, dests


def test_multicast_tree_equals_the_union_of_xy_paths():
    import random

    rng = random.Random(7)
    for mesh in ("1x1", "1x4", "4x1", "2x2", "3x5", "5x3", "8x8", "16x16"):
        m = Mesh(hwcfg.load(HW_RRAM).noc.model_copy(update={"mesh": mesh}))
        for _ in range(60):
            src = rng.randrange(m.tiles)
            needs = {d: frozenset(rng.sample(range(40), rng.randrange(0, 6))) for d in rng.sample(range(m.tiles), rng.randrange(0, m.tiles + 1))}
            route = m.route(src, needs, lambda n: 2.5 * n)
            hops, dests = _reference_route(m, src, needs, lambda n: 2.5 * n)
            assert route.hops == hops and list(route.dests.items()) == list(dests.items())
            # the same needs as bitmasks (how the op-graph builder names them): the same tree
            assert m.route(src, {d: sum(1 << i for i in ids) for d, ids in needs.items()}, lambda n: 2.5 * n) == route
            assert {k: list(v) for k, v in route.children.items()} == \
                   {-1: [i for i, h in enumerate(hops) if h[1] == -1], **{p: [i for i, h in enumerate(hops) if h[1] == p] for p in {h[1] for h in hops} if p != -1}}


def test_multicast_tree_shares_links_and_prunes_payload():
    m = _mesh()
    src = m.tile_at(0, 0)
    a, b = m.tile_at(2, 0), m.tile_at(2, 1)
    # dense: both need all 10 values (20 B = 2 flits); the tree is (0,0)->(1,0)->(2,0)->(2,1): 3 links
    dense = m.route(src, {a: frozenset(range(10)), b: frozenset(range(10))}, lambda n: 2 * n)
    assert len(dense.hops) == 3 and dense.byte_hops() == 60 and dense.flit_hops() == 6
    # pruned: a needs {0}, b needs {1}: the shared links carry 2 values, the last one 1
    sparse = m.route(src, {a: frozenset({0}), b: frozenset({1})}, lambda n: 2 * n)
    assert sparse.byte_hops() == 4 + 4 + 2 and sparse.flit_hops() == 3
