"""The chip model: the op graph of one training step, its discrete-event
simulation, the contention-free analytic bound, and :func:`cost_step`.

Modules: :mod:`.ops` (Op, StepGraph), :mod:`.layers` (a weight layer on the
chip), :mod:`.builder` (primitives), :mod:`.forward`, :mod:`.backward`,
:mod:`.update`, :mod:`.spills` (the phases as ops), :mod:`.graph` (the builder's
entry), :mod:`.des` (the DES model, in SimPy), :mod:`.replay` (the same DES in SimPy's order
without SimPy, in Python), :mod:`.engine` and :mod:`.engine_arrays` (the replay as a
numba loop over flat arrays, :mod:`neurosim.kernels.des_loop`), :mod:`.analytic`, :mod:`.cost`.
"""

from __future__ import annotations

from ..errors import MappingError
from ..mapping.placement import Placement
from ..vocabulary import COMPONENT_LEVEL, LEVELS
from .analytic import AnalyticResult, longest_path
from .cost import HardwareCost, cost_step, epoch_cycles, phase_cycles
from .des import SimResult, simulate_simpy
from .engine import simulate
from .graph import build_step_graph
from .ops import Op, StepGraph

__all__ = [
    "HardwareCost",
    "cost_step",
    "epoch_cycles",
    "phase_cycles",
    "build_step_graph",
    "simulate",
    "simulate_simpy",
    "longest_path",
    "StepGraph",
    "Op",
    "SimResult",
    "AnalyticResult",
    "Placement",
    "MappingError",
    "LEVELS",
    "COMPONENT_LEVEL",
]
