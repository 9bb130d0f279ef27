"""Hardware config: the tiled chip and its energy reference table.

Structural choices (array sizes, counts, bit widths) are plain numbers. Every
energy, latency or bandwidth figure is a :class:`Sourced` value or an
:class:`EnergyEntry`, so a config cannot carry a figure without naming where it
comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ..vocabulary import COMPONENTS as _COMPONENTS
from .base import Sourced, StrictModel, load_model

__all__ = [
    "COMPONENTS",
    "CrossbarConfig",
    "CoreConfig",
    "SramConfig",
    "NocConfig",
    "DramConfig",
    "SramWeightsConfig",
    "ChipConfig",
    "EnergyEntry",
    "HwConfig",
    "load",
]

#: Component names used in the ledger (one home: :mod:`neurosim.vocabulary`).
COMPONENTS: tuple[str, ...] = _COMPONENTS


class CrossbarConfig(StrictModel):
    """One RRAM array with its DACs and shared ADCs."""

    rows: int = Field(gt=0, le=4096)
    cols: int = Field(gt=0, le=4096)
    bits_per_cell: int = Field(ge=1, le=8)
    cells_per_weight: int = Field(ge=1, le=16)
    conductance_levels: int = Field(ge=2, le=1024)
    #: Bits of each input (activation / error) value, streamed bit-serially.
    input_bits: int = Field(ge=1, le=32)
    dac_bits: int = Field(ge=1, le=16)
    adc_bits: int = Field(ge=1, le=16)
    cols_per_adc: int = Field(ge=1, le=4096)
    #: Cycles for one array read of one input-bit slice (drive, settle, sense).
    read_cycles: Sourced
    #: Cycles for one ADC conversion.
    adc_cycles: Sourced
    #: Cycles for one programming pulse on one row of cells.
    write_pulse_cycles: Sourced
    #: Pulses applied per weight update of one cell (closed-loop programming).
    pulses_per_write: int = Field(default=1, ge=1, le=1000)

    @model_validator(mode="after")
    def _consistent(self) -> "CrossbarConfig":
        if self.conductance_levels < 2 ** self.bits_per_cell:
            raise ValueError(
                f"conductance_levels {self.conductance_levels} cannot hold {self.bits_per_cell} bits per cell "
                f"(need at least {2 ** self.bits_per_cell})"
            )
        if self.dac_bits > self.input_bits:
            raise ValueError(f"dac_bits {self.dac_bits} exceeds input_bits {self.input_bits}")
        if self.cols_per_adc > self.cols:
            raise ValueError(f"cols_per_adc {self.cols_per_adc} exceeds cols {self.cols}")
        if self.cols_per_adc > self.rows:
            raise ValueError(
                f"cols_per_adc {self.cols_per_adc} exceeds rows {self.rows} "
                "(the transposed read senses rows with the same sharing)"
            )
        if self.cells_per_weight > self.cols:
            raise ValueError(f"cells_per_weight {self.cells_per_weight} exceeds cols {self.cols}: no weight fits a row")
        return self

    @property
    def weight_bits(self) -> int:
        return self.bits_per_cell * self.cells_per_weight

    @property
    def weights_per_row(self) -> int:
        """Logical weights per physical row (a weight spans cells_per_weight columns)."""
        return self.cols // self.cells_per_weight

    @property
    def input_slices(self) -> int:
        """Bit-serial steps per input vector."""
        return -(-self.input_bits // self.dac_bits)

    @property
    def adcs_per_array(self) -> int:
        """ADCs on the columns of one array (the same number sense its rows in a transposed read)."""
        return -(-self.cols // self.cols_per_adc)


class CoreConfig(StrictModel):
    """The tile's digital core: MAC lanes and elementwise units."""

    macs_per_cycle: int = Field(gt=0, le=65536)
    elementwise_per_cycle: int = Field(gt=0, le=65536)
    #: Bits of each digital operand.
    data_bits: int = Field(default=16, ge=1, le=64)


class SramConfig(StrictModel):
    size_kib: float = Field(gt=0, le=1 << 20)
    banks: int = Field(gt=0, le=1024)
    ports: int = Field(gt=0, le=64)
    bytes_per_cycle_per_port: int = Field(gt=0, le=4096)
    access_cycles: Sourced


class NocConfig(StrictModel):
    #: Mesh shape as "RxC" (tiles), e.g. "8x8".
    mesh: str = Field(pattern=r"^[1-9][0-9]*x[1-9][0-9]*$")
    routing: Literal["xy"] = "xy"
    flit_bytes: int = Field(gt=0, le=1024)
    router_cycles_per_hop: Sourced
    link_cycles_per_hop: Sourced

    @property
    def mesh_rows(self) -> int:
        return int(self.mesh.split("x")[0])

    @property
    def mesh_cols(self) -> int:
        return int(self.mesh.split("x")[1])

    @property
    def tiles(self) -> int:
        return self.mesh_rows * self.mesh_cols


class DramConfig(StrictModel):
    bandwidth_bytes_per_cycle: Sourced
    latency_cycles: Sourced
    #: (x, y) of the mesh router the DRAM controller is attached to.
    port_tile_xy: tuple[int, int] = (0, 0)


class SramWeightsConfig(StrictModel):
    """Weights held in tile SRAM (an all-digital chip): how they are cut into blocks."""

    #: Inputs (rows) and outputs (weights) of one stored block.
    block_rows: int = Field(gt=0, le=65536)
    block_cols: int = Field(gt=0, le=65536)
    #: Blocks one tile's SRAM holds.
    blocks_per_tile: int = Field(gt=0, le=4096)
    weight_bits: int = Field(default=8, ge=1, le=32)

    @property
    def block_bytes(self) -> int:
        return -(-self.block_rows * self.block_cols * self.weight_bits // 8)


class ChipConfig(StrictModel):
    #: Where weights live: RRAM crossbars (analog in-memory MVM) or SRAM (digital MACs).
    weight_storage: Literal["crossbar", "sram"]
    #: Crossbar arrays per tile (0 for an all-digital chip).
    crossbars_per_tile: int = Field(ge=0, le=4096)
    #: Where DFA-family feedback matrices B live.
    feedback_storage: Literal["sram", "crossbar"] = "sram"
    clock_mhz: Sourced


class EnergyEntry(StrictModel):
    """Energy of one action of one component, per unit of its count."""

    energy_pj: float = Field(ge=0)
    #: What one count is, e.g. "array read of one input-bit slice", "byte", "flit-hop".
    per: str = Field(min_length=1)
    source: str = Field(min_length=3)


class HwConfig(StrictModel):
    name: str = Field(min_length=1)
    chip: ChipConfig
    crossbar: CrossbarConfig | None = None
    #: Required when chip.weight_storage is sram.
    sram_weights: SramWeightsConfig | None = None
    core: CoreConfig
    sram: SramConfig
    noc: NocConfig
    dram: DramConfig
    #: energy[component][action] -> figure with its source.
    energy: dict[Literal["crossbar", "dac", "adc", "core", "sram", "noc", "dram"], dict[str, EnergyEntry]]

    @model_validator(mode="after")
    def _check(self) -> "HwConfig":
        uses_crossbar = self.chip.weight_storage == "crossbar" or self.chip.feedback_storage == "crossbar"
        if uses_crossbar and self.crossbar is None:
            raise ValueError("chip stores weights or feedback in crossbars, so a crossbar section is required")
        if uses_crossbar and self.chip.crossbars_per_tile < 1:
            raise ValueError("chip.crossbars_per_tile must be at least 1 when crossbars hold weights")
        if self.chip.weight_storage == "sram":
            if self.sram_weights is None:
                raise ValueError("chip stores weights in SRAM, so a sram_weights section is required")
            need = self.sram_weights.blocks_per_tile * self.sram_weights.block_bytes
            if need >= self.sram.size_kib * 1024:
                raise ValueError(
                    f"sram_weights: {self.sram_weights.blocks_per_tile} blocks of {self.sram_weights.block_bytes} B "
                    f"need {need / 1024:g} KiB, more than the {self.sram.size_kib:g} KiB tile SRAM"
                )
        x, y = self.dram.port_tile_xy
        if not (0 <= x < self.noc.mesh_cols and 0 <= y < self.noc.mesh_rows):
            raise ValueError(f"dram.port_tile_xy {(x, y)} is outside the {self.noc.mesh} mesh")
        return self

    @property
    def clock_hz(self) -> float:
        return self.chip.clock_mhz.value * 1e6


def load(path: str | Path) -> HwConfig:
    """Read and validate a hardware YAML file (raises ConfigError)."""
    return load_model(path, HwConfig)
