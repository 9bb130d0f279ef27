"""Hardware components of the tiled chip, configured from the hwconfig.

- :mod:`~neurosim.hw.units`: SimPy resources (crossbar group, ADC bank, core,
  SRAM ports, mesh link, DRAM channel); a base class owns request/hold/release and
  each subclass fills one ``service_cycles`` hook.
- :mod:`~neurosim.hw.crossbar`: closed-form counts and cycles of block reads,
  transposed reads and programming on one RRAM array.
- :mod:`~neurosim.hw.noc`: mesh geometry, XY routes and pruned multicast trees.
- :mod:`~neurosim.hw.actions`: every (component, action) the simulator emits.

Names are loaded on first use (module ``__getattr__``), as in :mod:`neurosim.learning`:
the hwconfig check of ``neurosim validate`` reads :data:`~neurosim.hw.actions.ACTIONS`
without loading the chip's units, crossbar model and mesh.
"""

from importlib import import_module

_HOMES = {
    "ACTIONS": "actions",
    "required_actions": "actions",
    "missing_actions": "actions",
    "BlockWork": "crossbar",
    "CrossbarModel": "crossbar",
    "Mesh": "noc",
    "Route": "noc",
    "Unit": "units",
    "CrossbarGroup": "units",
    "AdcBank": "units",
    "Core": "units",
    "CoreWork": "units",
    "SramPort": "units",
    "Link": "units",
    "DramChannel": "units",
    "pure_units": "units",
}

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


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{home}", __name__), name)
