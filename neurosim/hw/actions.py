"""Every (component, action) the simulator can emit, and what one count is.

The ledger multiplies each count by ``energy[component][action].energy_pj`` of the
hwconfig, so a chip's energy table needs an entry for each action that chip
performs: :func:`required_actions` lists them (crossbar, DAC and ADC actions
only for a chip with crossbars).
"""

from __future__ import annotations

from ..config.hw import HwConfig
from ..errors import ConfigError

__all__ = ["ACTIONS", "CROSSBAR_ONLY", "required_actions", "missing_actions", "check_energy_names"]

#: (component, action) -> what one count is (the ``per`` of its energy entry).
ACTIONS: dict[tuple[str, str], str] = {
    ("crossbar", "read"): "array activation of one input-bit slice (forward read)",
    ("crossbar", "transposed_read"): "array activation of one input-bit slice of one cell significance (transposed read)",
    ("crossbar", "cell_write"): "cell programmed once in an update (endurance bookkeeping)",
    ("crossbar", "pulse"): "programming pulse on one cell",
    ("dac", "convert"): "DAC drive of one row or column for one input-bit slice",
    ("adc", "convert"): "one ADC conversion",
    ("core", "shift_add"): "shift-and-add of one ADC output into its accumulator",
    ("core", "digital_mac"): "digital multiply-accumulate",
    ("core", "elementwise"): "elementwise op (activation, derivative, product with f'(a), softmax, error, update)",
    ("core", "psum_add"): "addition of partial sums (across blocks, bias, batch sums)",
    ("sram", "read"): "byte read from tile SRAM",
    ("sram", "write"): "byte written to tile SRAM",
    ("noc", "flit_hop"): "flit crossing one router and link",
    ("dram", "read"): "byte read from DRAM",
    ("dram", "write"): "byte written to DRAM",
}

#: Actions only a chip with crossbars performs.
CROSSBAR_ONLY: frozenset[tuple[str, str]] = frozenset(
    k for k in ACTIONS if k[0] in ("crossbar", "dac", "adc") or k == ("core", "shift_add")
)


def required_actions(hw: HwConfig) -> list[tuple[str, str]]:
    """The (component, action) pairs ``hw`` can emit, in catalogue order."""
    has_xbar = hw.crossbar is not None and (
        hw.chip.weight_storage == "crossbar" or hw.chip.feedback_storage == "crossbar"
    )
    return [k for k in ACTIONS if has_xbar or k not in CROSSBAR_ONLY]


def missing_actions(hw: HwConfig) -> list[str]:
    """``energy.<component>.<action>`` paths the chip needs but its table lacks."""
    return [f"energy.{c}.{a}" for c, a in required_actions(hw) if a not in hw.energy.get(c, {})]


def check_energy_names(hw: HwConfig, hw_path: str) -> None:
    """Every entry of the energy table names an action the chip model knows (a typo is refused)."""
    known: dict[str, list[str]] = {}
    for comp, action in ACTIONS:
        known.setdefault(comp, []).append(action)
    bad = [ConfigError(hw_path, f"energy.{comp}.{action}", f"not an action of {comp} (those are {', '.join(known.get(comp, []))})")
           for comp, table in hw.energy.items() for action in table if action not in known.get(comp, [])]
    if bad:
        raise ConfigError.many(bad)
