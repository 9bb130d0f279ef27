"""The words every output of neurosim uses, defined once (see docs/design.md).

=================  ===================================================================
term               values
=================  ===================================================================
phase              ``forward``, ``error`` (the hidden layers' δ), ``weight_grad``,
                   ``weight_update``, ``feedback_learning`` (FDFA's tangent pass and
                   B update); NeuroSim's FW / AG / WG / WU plus feedback learning
component          ``crossbar``, ``dac``, ``adc``, ``core``, ``sram``, ``noc``, ``dram``
                   (hardware, carry energy) and ``network`` (algorithm-level counts,
                   no energy)
data-movement      ``crossbar_io`` (DAC/ADC bytes), ``sram``, ``noc_byte_hops``
level              (bytes × links crossed), ``dram``
=================  ===================================================================

This module imports nothing, so every layer of the package may use it.
"""

from __future__ import annotations

__all__ = ["PHASES", "COMPONENTS", "NETWORK", "LEVELS", "COMPONENT_LEVEL"]

#: Training phases, in order.
PHASES: tuple[str, ...] = ("forward", "error", "weight_grad", "weight_update", "feedback_learning")

#: Hardware components of the chip (each action of one has an energy entry in the hwconfig).
COMPONENTS: tuple[str, ...] = ("crossbar", "dac", "adc", "core", "sram", "noc", "dram")

#: The pseudo-component of algorithm-level counts (``neurosim.counts``): no energy.
NETWORK = "network"

#: Data-movement levels of ``HardwareCost.bytes_by_level``.
LEVELS: tuple[str, ...] = ("crossbar_io", "sram", "noc_byte_hops", "dram")

#: Which level a hardware component's ``bytes`` count toward (NoC rows carry byte-hops).
COMPONENT_LEVEL: dict[str, str] = {
    "dac": "crossbar_io",
    "adc": "crossbar_io",
    "sram": "sram",
    "noc": "noc_byte_hops",
    "dram": "dram",
}
