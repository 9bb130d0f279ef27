"""Hardware components of the tiled chip, configured from the hwconfig.

- :mod:`~neurosim.hw.units`: SimPy resources (crossbar group, ADC bank, core,
  SRAM ports, mesh link, DRAM channel); a base class owns request/hold/release and
  each subclass fills one ``service_cycles`` hook.
- :mod:`~neurosim.hw.crossbar`: closed-form counts and cycles of block reads,
  transposed reads and programming on one RRAM array.
- :mod:`~neurosim.hw.noc`: mesh geometry, XY routes and pruned multicast trees.
- :mod:`~neurosim.hw.actions`: every (component, action) the simulator emits.
"""

from .actions import ACTIONS, missing_actions, required_actions
from .crossbar import BlockWork, CrossbarModel
from .noc import Mesh, Route
from .units import AdcBank, Core, CoreWork, CrossbarGroup, DramChannel, Link, SramPort, Unit, pure_units

__all__ = [
    "ACTIONS",
    "required_actions",
    "missing_actions",
    "BlockWork",
    "CrossbarModel",
    "Mesh",
    "Route",
    "Unit",
    "CrossbarGroup",
    "AdcBank",
    "Core",
    "CoreWork",
    "SramPort",
    "Link",
    "DramChannel",
    "pure_units",
]
