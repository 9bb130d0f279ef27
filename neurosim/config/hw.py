"""Hardware config: the tiled chip and its energy reference table.

Structural choices (array sizes, counts, bit widths) are plain numbers. Every
energy, latency or bandwidth figure is a :class:`Sourced` value or an
:class:`EnergyEntry`, so a config cannot carry a figure without naming where it
comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, create_model, field_validator, model_validator

from ..vocabulary import COMPONENTS as _COMPONENTS
from .base import Sourced, StrictModel, load_model
from .device import DeviceConfig

__all__ = [
    "COMPONENTS",
    "AdcScaling",
    "CrossbarConfig",
    "CoreConfig",
    "SramConfig",
    "NocConfig",
    "DramConfig",
    "SramWeightsConfig",
    "ChipConfig",
    "EnergyEntry",
    "HwConfig",
    "DeviceConfig",
    "load",
]

#: Component names used in the ledger (one home: :mod:`neurosim.vocabulary`).
COMPONENTS: tuple[str, ...] = _COMPONENTS


def _ranged(name: str, unit: str, *, low: float, high: float, zero_ok: bool = False) -> type[Sourced]:
    """A :class:`Sourced` figure whose value must lie in a physical range (``low`` exclusive
    unless ``zero_ok``, ``high`` inclusive), e.g. a clock of 0 MHz or 10^9 MHz is refused."""
    bound = {"ge": low} if zero_ok else {"gt": low}
    cls = create_model(name, __base__=Sourced, value=(float, Field(le=high, description=unit, **bound)))
    cls.__doc__ = f"A sourced figure in {unit}, in {'[' if zero_ok else '('}{low:g}, {high:g}]."
    return cls


#: Physical ranges of the sourced figures (generous: a real chip is well inside them).
ClockMhz = _ranged("ClockMhz", "MHz", low=0, high=1e5)              # up to 100 GHz
ArrayCycles = _ranged("ArrayCycles", "cycles", low=0, high=1e6)     # a read, an ADC conversion, a pulse
PathCycles = _ranged("PathCycles", "cycles", low=0, high=1e6, zero_ok=True)  # a hop or a DRAM latency may be 0
BytesPerCycle = _ranged("BytesPerCycle", "bytes/cycle", low=0, high=1e6)


class AdcScaling(StrictModel):
    """How the ADC's figures move with its resolution.

    ``adc_cycles`` and ``energy.adc.convert`` are given for ``reference_bits``; at
    ``adc_bits`` = b they become

    ======================  ==================================  =========================================
    law                     conversion energy                   conversion time
    ======================  ==================================  =========================================
    ``walden`` / ``sar``    ``E_ref · 2^(b − b_ref)``           ``t_ref · b / b_ref``
    ======================  ==================================  =========================================

    Energy: the Walden figure of merit ``E = FOM_W · 2^ENOB`` per conversion (constant FOM
    over resolution, the regime of low-resolution SAR ADCs in Murmann's ADC survey);
    time: a SAR ADC resolves one bit per comparator decision.
    """

    reference_bits: int = Field(ge=1, le=16)
    energy_law: Literal["walden"] = "walden"
    time_law: Literal["sar"] = "sar"
    source: str = Field(min_length=3)


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
    read_cycles: ArrayCycles
    #: Cycles for one ADC conversion at ``adc_scaling.reference_bits``.
    adc_cycles: ArrayCycles
    #: How ADC energy and time scale with ``adc_bits`` (see :class:`AdcScaling`).
    adc_scaling: AdcScaling
    #: Cycles for one programming pulse on one row of cells.
    write_pulse_cycles: ArrayCycles
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
    def adc_energy_factor(self) -> float:
        """Conversion energy at ``adc_bits`` over the figure at the reference resolution."""
        return 2.0 ** (self.adc_bits - self.adc_scaling.reference_bits)

    @property
    def adc_conversion_cycles(self) -> float:
        """Cycles of one conversion at ``adc_bits`` (the SAR law applied to ``adc_cycles``)."""
        return self.adc_cycles.value * self.adc_bits / self.adc_scaling.reference_bits

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
    access_cycles: ArrayCycles


class NocConfig(StrictModel):
    #: Mesh shape as "RxC" (tiles), e.g. "8x8".
    mesh: str = Field(pattern=r"^[1-9][0-9]*x[1-9][0-9]*$")
    routing: Literal["xy"] = "xy"
    flit_bytes: int = Field(gt=0, le=1024)
    router_cycles_per_hop: PathCycles
    link_cycles_per_hop: PathCycles

    #: Largest mesh side: 64 x 64 = 4,096 tiles is beyond any built tiled accelerator (ISAAC: 168 tiles
    #: per chip; Tesla Dojo D1: 354 cores), and beyond it the placement alone takes minutes to draw.
    MAX_SIDE: ClassVar[int] = 64

    @field_validator("mesh")
    @classmethod
    def _physical(cls, v: str) -> str:
        if any(int(side) > cls.MAX_SIDE for side in v.split("x")):
            raise ValueError(f"a mesh side is at most {cls.MAX_SIDE} tiles (got {v})")
        return v

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
    bandwidth_bytes_per_cycle: BytesPerCycle
    latency_cycles: PathCycles
    #: (x, y) of the mesh router the DRAM controller is attached to.
    port_tile_xy: tuple[int, int] = (0, 0)

    @field_validator("port_tile_xy", mode="before")
    @classmethod
    def _pair(cls, v):  # YAML and JSON write the pair as a list
        return tuple(v) if isinstance(v, list) else v


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
    clock_mhz: ClockMhz


class EnergyEntry(StrictModel):
    """Energy of one action of one component, per unit of its count."""

    energy_pj: float = Field(ge=0, le=1e9)  # up to 1 mJ per action
    #: What one count is, e.g. "array read of one input-bit slice", "byte", "flit-hop".
    per: str = Field(min_length=1)
    source: str = Field(min_length=3)


class HwConfig(StrictModel):
    config_kind: ClassVar[str] = "hwconfig"

    #: Names the default output folder, so a plain file name: no '/', no '..'.
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    chip: ChipConfig
    crossbar: CrossbarConfig | None = None
    #: Required when chip.weight_storage is sram.
    sram_weights: SramWeightsConfig | None = None
    core: CoreConfig
    sram: SramConfig
    noc: NocConfig
    dram: DramConfig
    #: How training reads and writes the crossbar weights: ideal float32, or
    #: through the device model of the ``device`` section (docs/device.md).
    numerics: Literal["ideal", "device"] = "ideal"
    #: The RRAM cell model; required when numerics is device.
    device: DeviceConfig | None = None
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
        if self.numerics == "device":
            if self.device is None:
                raise ValueError("numerics is device, so a device section is required")
            if self.crossbar is None or self.chip.weight_storage != "crossbar":
                raise ValueError("numerics device models crossbar cells: chip.weight_storage must be crossbar")
            if self.crossbar.cells_per_weight != 1 and self.device.mapping != "reference":
                raise ValueError(
                    "numerics device slices a weight over cells_per_weight cells against a reference column: "
                    f"with device.mapping differential crossbar.cells_per_weight must be 1, not {self.crossbar.cells_per_weight}"
                )
        x, y = self.dram.port_tile_xy
        if not (0 <= x < self.noc.mesh_cols and 0 <= y < self.noc.mesh_rows):
            raise ValueError(f"dram.port_tile_xy {(x, y)} is outside the {self.noc.mesh} mesh")
        return self

    def energy_factor(self, component: str, action: str) -> float:
        """What the ledger multiplies ``energy[component][action].energy_pj`` by: the ADC's
        resolution law for ``adc.convert`` (see :class:`AdcScaling`), 1 otherwise."""
        if (component, action) == ("adc", "convert") and self.crossbar is not None:
            return self.crossbar.adc_energy_factor
        return 1.0

    @property
    def clock_hz(self) -> float:
        return self.chip.clock_mhz.value * 1e6


def load(path: str | Path) -> HwConfig:
    """Read and validate a hardware YAML file (raises ConfigError)."""
    return load_model(path, HwConfig)
