"""What one RRAM array does for one block operation: action counts and cycles.

A weight matrix block occupies ``rows_used`` rows and ``weights_used`` logical
weights of an array; weight ``j`` spans ``cells_per_weight`` adjacent columns, one
per ``bits_per_cell`` slice of its value (lowest significance first), so the block
uses ``cols_used = weights_used * cells_per_weight`` physical columns.

Forward read (``y = W x``, inputs on rows, outputs on columns), per input vector:
    ``S = ceil(input_bits / dac_bits)`` bit-serial slices; each slice drives the
    ``rows_used`` rows through the DACs (one array activation) and converts the
    ``cols_used`` column currents; ``adcs = cols / cols_per_adc`` ADCs, columns
    interleaved over them, so the busiest ADC does ``min(cols_per_adc,
    ceil(cols_used / adcs))`` conversions per slice. Reading slice i+1 overlaps
    converting slice i, so a vector takes ``S * max(t_read, t_conv)`` plus one
    ``min(t_read, t_conv)`` to fill the pipeline. Each ADC output is shifted and
    added into its 16-bit accumulator (one ``shift_add``). ``t_conv`` is one
    conversion at ``adc_bits``: ``adc_cycles · adc_bits / reference_bits`` (the SAR
    law of ``crossbar.adc_scaling``; the energy side, ``2^(bits − reference_bits)``,
    is applied by the ledger through ``HwConfig.energy_factor``).

Transposed read (``x' = Wᵀ δ``, inputs on columns, outputs on rows; BP and FA):
    the cells of one weight carry different significances, and driving all of
    them at once would sum their currents on a row, so each slice is applied once
    per significance: ``S * cells_per_weight`` array activations per vector, each
    driving ``weights_used`` columns and sensing ``rows_used`` rows with the same
    ADC sharing (NeuroSim's ``numRowMuxedAG``).

Programming (weight update), per block:
    rows are programmed one at a time, all cells of a row in parallel, each by
    ``pulses_per_write`` pulses: ``rows_used * pulses_per_write`` pulse slots of
    ``write_pulse_cycles``; ``rows_used * cols_used`` cell writes. Under ``numerics: device``
    a weight block is held instead for the cycles the device model measured for its layer
    (the slowest array's row-serial pulse slots of a mean step × ``write_pulse_cycles``,
    :func:`neurosim.pipeline.measured_write_cycles`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..config.hw import CrossbarConfig

__all__ = ["BlockWork", "CrossbarModel"]


@dataclass
class BlockWork:
    """Counts and timing of one operation on one array."""

    #: (component, action) -> count
    counts: dict[tuple[str, str], float] = field(default_factory=dict)
    #: cycles the array is busy
    array_cycles: float = 0.0
    #: cycles the busiest ADC of the array is busy
    adc_cycles: float = 0.0
    #: ADC-cycles summed over the array's ADCs (for utilisation)
    adc_busy_total: float = 0.0
    #: wall-clock cycles of the operation
    cycles: float = 0.0
    #: multiply-accumulates the array performed
    macs: float = 0.0


class CrossbarModel:
    """Closed-form counts and cycles of block operations on one array type."""

    def __init__(self, cfg: CrossbarConfig):
        self.cfg = cfg
        self.slices = cfg.input_slices
        self.col_adcs = -(-cfg.cols // cfg.cols_per_adc)
        self.row_adcs = -(-cfg.rows // cfg.cols_per_adc)

    # ------------------------------------------------------------------ reads
    def _conv_per_adc(self, lines: int, adcs: int) -> int:
        return min(self.cfg.cols_per_adc, math.ceil(lines / adcs)) if lines > 0 else 0

    def _read(self, passes: float, driven: int, sensed: int, adcs: int, action: str) -> BlockWork:
        c = self.cfg
        t_read = c.read_cycles.value
        conv = self._conv_per_adc(sensed, adcs)
        t_conv = conv * c.adc_conversion_cycles
        w = BlockWork()
        w.counts[("crossbar", action)] = passes
        w.counts[("dac", "convert")] = passes * driven
        w.counts[("adc", "convert")] = passes * sensed
        w.counts[("core", "shift_add")] = passes * sensed
        w.array_cycles = passes * t_read
        w.adc_cycles = passes * t_conv
        w.adc_busy_total = passes * sensed * c.adc_conversion_cycles
        w.cycles = passes * max(t_read, t_conv) + (min(t_read, t_conv) if passes else 0.0)
        return w

    def forward_read(self, rows_used: int, weights_used: int, vectors: float) -> BlockWork:
        cols_used = weights_used * self.cfg.cells_per_weight
        w = self._read(vectors * self.slices, rows_used, cols_used, self.col_adcs, "read")
        w.macs = vectors * rows_used * weights_used
        return w

    def transposed_read(self, rows_used: int, weights_used: int, vectors: float) -> BlockWork:
        passes = vectors * self.slices * self.cfg.cells_per_weight
        w = self._read(passes, weights_used, rows_used, self.row_adcs, "transposed_read")
        w.macs = vectors * rows_used * weights_used
        return w

    # ---------------------------------------------------------------- updates
    def program(self, rows_used: int, weights_used: int, measured_cycles: float | None = None) -> BlockWork:
        """Write a new value into every used cell of the block, row by row (``measured_cycles``: the
        time the device model measured for it instead, ``numerics: device``; the counts stay)."""
        c = self.cfg
        cells = rows_used * weights_used * c.cells_per_weight
        w = BlockWork()
        w.counts[("crossbar", "cell_write")] = float(cells)
        w.counts[("crossbar", "pulse")] = float(cells * c.pulses_per_write)
        w.array_cycles = rows_used * c.pulses_per_write * c.write_pulse_cycles.value if measured_cycles is None else measured_cycles
        w.cycles = w.array_cycles
        return w
