"""What device-model training reads from a hwconfig, in one record.

:class:`~.device.CrossbarDevice` turns its hwconfig into a :class:`CellSetting`
first and reads nothing else of it, so two chips whose settings are equal train
to the same bits. A sweep shares one training between such chips by
:meth:`CellSetting.key` (``neurosim.sweep.plan.numerics_key``): a field the
device model starts to read must be added here, and then it is in the key too.

============================  ==============================================
field                         read by
============================  ==============================================
``device``                    the cells: curves, levels, variation, faults, ADC full scale, error read
``rows``                      the forward read: inputs per array, one ADC sum per array
``cols``                      BP's transposed read: columns per array partial sum
``input_bits``                the DAC of both reads
``adc_bits``                  the ADC of both reads
``cells_per_weight``          the slices of a weight (significance-weighted cells)
``feedback_storage``          whether fixed feedback matrices are programmed into cells
============================  ==============================================
"""

from __future__ import annotations

from dataclasses import dataclass

from neurosim.config.device import DeviceConfig
from neurosim.config.hw import HwConfig

__all__ = ["CellSetting"]


@dataclass(frozen=True)
class CellSetting:
    """The hwconfig fields device-model training reads (module docstring)."""

    device: DeviceConfig
    rows: int
    cols: int
    input_bits: int
    adc_bits: int
    cells_per_weight: int
    feedback_storage: str

    @classmethod
    def of(cls, hw: HwConfig) -> CellSetting:
        """The setting of ``hw`` (it needs crossbar and device sections)."""
        if hw.device is None or hw.crossbar is None:
            raise ValueError("device numerics need a hwconfig with crossbar and device sections")
        xbar = hw.crossbar
        return cls(device=hw.device, rows=xbar.rows, cols=xbar.cols, input_bits=xbar.input_bits, adc_bits=xbar.adc_bits,
                   cells_per_weight=xbar.cells_per_weight, feedback_storage=hw.chip.feedback_storage)

    def key(self) -> dict:
        """Every field as plain JSON values (a sweep's training-cache key)."""
        return {
            "device": self.device.model_dump(mode="json"),
            "crossbar": {"rows": self.rows, "cols": self.cols, "input_bits": self.input_bits, "adc_bits": self.adc_bits,
                         "cells_per_weight": self.cells_per_weight},
            "feedback_storage": self.feedback_storage,
        }
