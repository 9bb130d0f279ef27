"""The RRAM cell model that training runs through when ``numerics: device``.

One analog cell per weight, trained by identical programming pulses
(NeuroSim's RealDevice model, MLP_NeuroSim_V3.0 ``Cell.cpp``):

=====================  ======================================================================
mapping ``reference``  ``w = w_max · (G - G_ref) / ((G_max - G_min)/2)``, ``G_ref = (G_max + G_min)/2``
                       (a reference column at mid conductance is subtracted, NeuroSim V3)
reference column       ``G_ref`` at mid conductance, or at the symmetry point ``g*`` of the LTP/LTD
                       curves (one pulse each way moves g equally; Kim et al. 2019 zero-shifting):
                       ``w = w_max · 2 (g - g*)``, weights in ``[-2g* w_max, 2(1 - g*) w_max]``
mapping ``differential``  ``w = w_max · (G⁺ - G⁻) / (G_max - G_min)``; ``ΔW > 0`` pulses ``G⁺``
                       up (LTP), ``ΔW < 0`` pulses ``G⁻`` up (both cells only ever see LTP)
pulses                 ``n = round(ΔW / (2 w_max) · levels)`` (LTP: ``levels_ltp``, LTD: ``levels_ltd``)
conductance            normalised ``g = (G - G_min)/(G_max - G_min)`` follows
                       ``g(p) = (1 - e^{-p/A}) / (1 - e^{-1/A})`` in pulse position ``p ∈ [0, 1]``,
                       one curve for LTP (``A > 0``) and one for LTD (``A < 0``); the label
                       ``NL`` sets ``A``: the curve's largest gap to the line is ``0.098995·NL``
                       (fits every entry of NeuroSim's label table, formula.cpp getParamA)
C2C                    ``g += N(0, σ_c2c) · √|n|`` after a write of ``n`` pulses, then clip to [0, 1]
D2D                    each cell's labels ``NL + N(0, σ_d2d)``
cells per weight K     ``w = Σ_k w_k``, cell k (k = 0 lowest) a reference-mapped cell of range
                       ``w_max F^k / Σ_j F^j``; ``ΔW`` is pulsed into cell 0; every carry,
                       each cell's weight is pulsed into the cell above and the cell is reset
                       to the reference (MLP_NeuroSim_V3.0 HybridCell, periodic carry)
read                   ``G · (1 + N(0, σ_read))``; inputs quantised by the DAC, each array's
                       column sums clipped and quantised by the ADC
=====================  ======================================================================
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Sourced, StrictModel

__all__ = ["DeviceConfig"]


class DeviceConfig(StrictModel):
    """One RRAM synapse cell and how weights map onto it (figures with their sources)."""

    mapping: Literal["reference", "differential"] = "reference"
    #: Conductance of the reference column (mapping reference): ``mid`` (G_min + G_max)/2
    #: (MLP+NeuroSim V3.0), or ``symmetry_point``, where one LTP and one LTD pulse change G by the
    #: same amount (zero-shifting, Kim et al. arXiv:1907.10228): weight 0 sits where the
    #: asymmetric curves make the cells drift, so the drift pulls weights to 0, not to a bias.
    reference: Literal["mid", "symmetry_point"] = "mid"
    #: Weight represented by G_max (and -w_max by G_min): the weight range is [-w_max, w_max].
    weight_max: float = Field(default=1.0, gt=0, le=100)
    conductance_min_s: Sourced
    conductance_max_s: Sourced
    #: Pulses from G_min to G_max (LTP) and back (LTD).
    levels_ltp: int = Field(ge=1, le=100000)
    levels_ltd: int = Field(ge=1, le=100000)
    #: NeuroSim nonlinearity labels, as magnitudes (0 = linear; NeuroSim writes the LTD
    #: label with a minus sign, the mirrored curve, which is what LTD uses here).
    nonlinearity_ltp: Sourced | float = 0.0
    nonlinearity_ltd: Sourced | float = 0.0
    #: Cycle-to-cycle sigma as a fraction of G_max - G_min per √pulse.
    c2c_sigma: Sourced | float = 0.0
    #: Device-to-device sigma of the nonlinearity label.
    d2d_sigma: Sourced | float = 0.0
    #: Relative sigma of the read current.
    read_noise_sigma: Sourced | float = 0.0
    #: ADC full scale as a fraction of an array's largest column sum (rows · w_max at full input).
    adc_full_scale: float = Field(default=1.0, gt=0, le=1)
    #: BP's transposed read of W (the error through the cells): ``cells``, the forward read
    #: path the other way round (DAC, read noise, ADC); or ``exact``, the cells' weights in
    #: float (MLP+NeuroSim V3.0 computes the error in software, Train.cpp:518).
    error_read: Literal["cells", "exact"] = "cells"
    #: crossbar.cells_per_weight > 1: each cell of a weight counts ``significance`` times the
    #: cell below; updates go to the lowest-order cell and are carried up (MLP_NeuroSim_V3.0
    #: Cell.cpp:962 HybridCell significance = 4, the F factor).
    significance: float = Field(default=4.0, gt=1, le=1000)
    #: Steps between two carries (None: once per epoch, as MLP_NeuroSim_V3.0 main.cpp:141-142
    #: calls WeightTransfer after every epoch).
    carry_every_steps: int | None = Field(default=None, gt=0)
    #: Pulses a cell takes before it stops switching (None: unlimited).
    endurance_pulses: int | None = Field(default=None, gt=0)
    #: Fractions of cells stuck at G_min and at G_max from the start.
    stuck_at_min_fraction: float = Field(default=0.0, ge=0, le=1)
    stuck_at_max_fraction: float = Field(default=0.0, ge=0, le=1)

    @staticmethod
    def _value(x: Sourced | float) -> float:
        return float(x.value) if isinstance(x, Sourced) else float(x)

    @property
    def nl_ltp(self) -> float:
        return self._value(self.nonlinearity_ltp)

    @property
    def nl_ltd(self) -> float:
        return self._value(self.nonlinearity_ltd)

    @property
    def c2c(self) -> float:
        return self._value(self.c2c_sigma)

    @property
    def d2d(self) -> float:
        return self._value(self.d2d_sigma)

    @property
    def read_noise(self) -> float:
        return self._value(self.read_noise_sigma)

    @model_validator(mode="after")
    def _labels(self) -> "DeviceConfig":
        for name in ("nonlinearity_ltp", "nonlinearity_ltd"):
            if self._value(getattr(self, name)) > 9:
                raise ValueError(f"{name} {self._value(getattr(self, name))} is above 9, the largest NeuroSim label")
        if self.reference == "symmetry_point" and self.mapping != "reference":
            raise ValueError("reference: symmetry_point needs mapping: reference (a differential pair has no reference column)")
        if self.stuck_at_min_fraction + self.stuck_at_max_fraction > 1:
            raise ValueError("stuck_at_min_fraction + stuck_at_max_fraction exceeds 1")
        if self.conductance_max_s.value <= self.conductance_min_s.value:
            raise ValueError("conductance_max_s must exceed conductance_min_s")
        return self
