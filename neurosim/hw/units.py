"""Hardware units as discrete-event resources.

Following SimPy's own style (``simpy.resources.base``: the base class owns the
put/get queues and subclasses fill ``_do_put`` / ``_do_get``), :class:`Unit` owns
the request / hold / release loop and its accounting (busy cycles, waiting
cycles), and each subclass fills exactly one hook, :meth:`Unit.service_cycles`,
turning an amount of work in the unit's natural measure (array reads, ADC
conversions, MACs, bytes, flits) into cycles.

A unit built with ``env=None`` is a pure cost model: ``service_cycles`` works, the
resource does not exist. The op-graph builder and the analytic latency model use
units that way; the discrete-event simulator builds one live unit per instance
on the chip (one crossbar group, ADC bank, core and SRAM per tile, one unit per
directed mesh link, one DRAM channel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generator

from ..config.hw import CoreConfig, CrossbarConfig, DramConfig, HwConfig, NocConfig, SramConfig

if TYPE_CHECKING:  # SimPy is imported only when a live unit is built (the SimPy reference model)
    import simpy

__all__ = [
    "Unit",
    "CrossbarGroup",
    "AdcBank",
    "Core",
    "CoreWork",
    "SramPort",
    "Link",
    "DramChannel",
]


class Unit:
    """A resource with a queue: subclasses say how long a piece of work takes."""

    #: Component name in the ledger vocabulary.
    component: str = ""

    def __init__(self, env: simpy.Environment | None = None, name: str = "", capacity: int = 1):
        self.env = env
        self.name = name
        self.capacity = capacity
        #: a priority queue: among waiting requests the lowest ``priority`` is served first (FIFO within a priority)
        if env is not None:
            import simpy

            self.resource = simpy.PriorityResource(env, capacity)
        else:
            self.resource = None
        #: Cycles this unit spent serving work (summed over its capacity).
        self.busy_cycles = 0.0
        #: Cycles requests spent queued before being granted.
        self.wait_cycles = 0.0

    # -- the hook -----------------------------------------------------------
    def service_cycles(self, work) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- the loop -----------------------------------------------------------
    def request(self, priority: int = 0) -> "simpy.resources.resource.PriorityRequest":
        assert self.resource is not None, "a pure cost model has no resource"
        return self.resource.request(priority=priority)

    def release(self, req) -> None:
        self.resource.release(req)

    def serve(self, work, priority: int = 0) -> Generator:
        """Request the unit, hold it for ``service_cycles(work)``, release it."""
        t0 = self.env.now
        with self.resource.request(priority=priority) as req:
            yield req
            self.wait_cycles += self.env.now - t0
            cycles = self.service_cycles(work)
            self.busy_cycles += cycles
            yield self.env.timeout(cycles)


class CrossbarGroup(Unit):
    """The RRAM arrays of one tile (all hold blocks of one matrix and share its input bus).

    Work: array activations of one array (one input-bit slice, or one programming
    pulse row); the arrays of the group work in parallel, so an op's hold time is
    that of its busiest array.
    """

    component = "crossbar"

    def __init__(self, cfg: CrossbarConfig, env: simpy.Environment | None = None, name: str = ""):
        super().__init__(env, name)
        self.cfg = cfg

    def service_cycles(self, reads: float) -> float:
        return reads * self.cfg.read_cycles.value


class AdcBank(Unit):
    """The ADCs of one array. Work: conversions done by its busiest ADC."""

    component = "adc"

    def __init__(self, cfg: CrossbarConfig, env: simpy.Environment | None = None, name: str = ""):
        super().__init__(env, name)
        self.cfg = cfg

    def service_cycles(self, conversions_per_adc: float) -> float:
        return conversions_per_adc * self.cfg.adc_conversion_cycles


@dataclass(frozen=True)
class CoreWork:
    macs: float = 0.0
    #: Elementwise ops and partial-sum adds share the elementwise lanes.
    elementwise: float = 0.0


class Core(Unit):
    """A tile's digital core: MAC lanes, then elementwise lanes."""

    component = "core"

    def __init__(self, cfg: CoreConfig, env: simpy.Environment | None = None, name: str = ""):
        super().__init__(env, name)
        self.cfg = cfg

    def service_cycles(self, work: CoreWork) -> float:
        return math.ceil(work.macs / self.cfg.macs_per_cycle) + math.ceil(work.elementwise / self.cfg.elementwise_per_cycle)


class SramPort(Unit):
    """The SRAM of one tile: ``min(ports, banks)`` requests in flight (each port serves one
    request, and each bank one access at a time), each moving bytes at the port width."""

    component = "sram"

    def __init__(self, cfg: SramConfig, env: simpy.Environment | None = None, name: str = ""):
        super().__init__(env, name, capacity=min(cfg.ports, cfg.banks))
        self.cfg = cfg

    def service_cycles(self, nbytes: float) -> float:
        if nbytes <= 0:
            return 0.0
        return self.cfg.access_cycles.value + math.ceil(nbytes / self.cfg.bytes_per_cycle_per_port)


class Link(Unit):
    """One directed mesh link (with the router output port feeding it). Work: flits."""

    component = "noc"

    def __init__(self, cfg: NocConfig, env: simpy.Environment | None = None, name: str = ""):
        super().__init__(env, name)
        self.cfg = cfg

    def service_cycles(self, flits: float) -> float:
        return flits * self.cfg.link_cycles_per_hop.value


class DramChannel(Unit):
    """The DRAM channel. Work: bytes; the access latency follows without holding the channel."""

    component = "dram"

    def __init__(self, cfg: DramConfig, env: simpy.Environment | None = None, name: str = ""):
        super().__init__(env, name)
        self.cfg = cfg

    def service_cycles(self, nbytes: float) -> float:
        return nbytes / self.cfg.bandwidth_bytes_per_cycle.value

    @property
    def latency_cycles(self) -> float:
        return self.cfg.latency_cycles.value


def pure_units(hw: HwConfig) -> dict[str, Unit]:
    """One pure cost model per unit kind (no SimPy environment)."""
    out: dict[str, Unit] = {
        "core": Core(hw.core),
        "sram": SramPort(hw.sram),
        "link": Link(hw.noc),
        "dram": DramChannel(hw.dram),
    }
    if hw.crossbar is not None:
        out["xbar"] = CrossbarGroup(hw.crossbar)
        out["adc"] = AdcBank(hw.crossbar)
    return out
