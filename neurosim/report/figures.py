"""The run's figures by name, and which of them need the training (no matplotlib here).

:mod:`neurosim.report.html` captions the page's figures from :data:`PLOTS`
without loading matplotlib; :mod:`neurosim.report.plots` draws them. The chip
figures are drawn from the ledger, the placement and the summary's chip figures
only, which a run knows once its preflight has costed every rule; the training
figures need the trained rules' ``training.csv`` / ``alignment.csv``.
"""

from __future__ import annotations

__all__ = ["PLOTS", "TRAINING_PLOTS", "CHIP_PLOTS"]

#: Plot file name -> what it shows (the page's caption).
PLOTS = {
    "comparison.png": "how many times less each rule costs than the baseline: whole step, error phase, chip bytes by level (log scale, value on each bar)",
    "data_movement.png": "bytes moved per training step: neuron level in the error phase, chip by level (log scale)",
    "macs_by_phase.png": "MACs per training step, by phase (log scale)",
    "layers.png": "per layer and rule, stacked by phase: energy, busy unit-cycles, bytes and NoC byte-hops per step",
    "accuracy.png": "test and train accuracy per epoch (trained rules)",
    "alignment.png": "angle between each rule's update and BP's gradient, per layer and epoch",
    "error_alignment.png": "angle between each rule's and BP's error at each hidden layer's output, per step (Launay et al.)",
    "cycles_by_phase.png": "cycles per training step and each phase's critical path",
    "energy_by_component.png": "energy per training step, by component (stacked)",
    "utilisation.png": "busy fraction of each component during a step",
    "placement.png": "crossbar blocks of each layer on the tile mesh",
}

#: Drawn from training.csv / alignment.csv.
TRAINING_PLOTS = ("accuracy.png", "alignment.png", "error_alignment.png")

#: Drawn from costs.csv, placement.csv, comparison.csv and the summary's chip figures.
CHIP_PLOTS = tuple(name for name in PLOTS if name not in TRAINING_PLOTS)
