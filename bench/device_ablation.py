"""Which device effect costs the accuracy: one non-ideality switched off at a time.

784-800-800-10 (tanh, batch 32, SGD, mnist_compare.yaml's rates and sparse-DFA settings)
for one epoch on the first ``--images`` mnist-10k training images, tested on the first
1,000 test images, on ``hwconfigs/rram_tile_device.yaml`` with one change per column:

=================  ==========================================================
column             device change
=================  ==========================================================
mid                reference column at mid conductance (MLP+NeuroSim's)
mid, no C2C        ... and ``c2c_sigma: 0``
g*                 reference at the symmetry point (the shipped default)
g*, no C2C         ... and ``c2c_sigma: 0``
linear             ``nonlinearity_ltp/ltd: 0`` (C2C kept; no symmetry point: mid)
linear, no C2C     ... and ``c2c_sigma: 0``
+ exact reads      ... and 16-bit DAC/ADC at full scale 1
float              numerics: ideal (rram_tile.yaml)
=================  ==========================================================

Prints a markdown table of test accuracy (%) and, in brackets, programming pulses per step
(all layers). ``--rule NAME:LR`` (repeatable) picks the rules and their learning rates.

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k PYTHONPATH=. python bench/device_ablation.py [--images 4000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neurosim.config.base import load_model
from neurosim.config.hw import HwConfig
from neurosim.config.workload import Workload
from neurosim.data import load_dataset
from neurosim.learning import train

REPO = Path(__file__).resolve().parents[1]
LINEAR = {"nonlinearity_ltp": 0.0, "nonlinearity_ltd": 0.0}
COLUMNS: list[tuple[str, dict | None, dict]] = [
    ("mid", {"reference": "mid"}, {}),
    ("mid, no C2C", {"reference": "mid", "c2c_sigma": 0.0}, {}),
    ("g*", {"reference": "symmetry_point"}, {}),
    ("g*, no C2C", {"reference": "symmetry_point", "c2c_sigma": 0.0}, {}),
    ("linear", LINEAR, {}),
    ("linear, no C2C", {**LINEAR, "c2c_sigma": 0.0}, {}),
    ("+ exact reads", {**LINEAR, "c2c_sigma": 0.0, "adc_full_scale": 1.0}, {"adc_bits": 16, "input_bits": 16}),
    ("float", None, {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--rule", action="append", default=None, help="NAME:LR, e.g. sdfa:0.03 (default: the workload's)")
    args = parser.parse_args()
    base = load_model(REPO / "workloads" / "mnist_compare.yaml", Workload)
    wl = base.model_copy(update={
        "dataset": base.dataset.model_copy(update={"train_limit": args.images, "test_limit": 1000}),
        "training": base.training.model_copy(update={"epochs": 1}),
    })
    rules = args.rule or [f"{a.run_name}:{a.learning_rate or wl.training.optimizer.learning_rate}" for a in wl.algorithms]
    data = load_dataset(wl.dataset)
    device = load_model(REPO / "hwconfigs" / "rram_tile_device.yaml", HwConfig)
    ideal = load_model(REPO / "hwconfigs" / "rram_tile.yaml", HwConfig)
    print(f"{args.images} images, 1 epoch, first 1,000 test images: test accuracy % (programming pulses / step)\n")
    print("| rule, rate | " + " | ".join(c[0] for c in COLUMNS) + " |")
    print("| --- " * (len(COLUMNS) + 1) + "|")
    for spec in rules:
        name, lr = spec.split(":")
        algo = wl.algorithm(name).model_copy(update={"learning_rate": float(lr)})
        cells = []
        for _, dev, xbar in COLUMNS:
            hw = ideal if dev is None else device.model_copy(update={
                "device": device.device.model_copy(update=dev), "crossbar": device.crossbar.model_copy(update=xbar)})
            r = train(wl, algo, data.x_train, data.y_train, data.x_test, data.y_test, hw=hw)
            pulses = sum(w.pulses_per_step for w in r.device_writes)
            cells.append(f"{100 * r.final_test_accuracy:.1f}" + (f" ({pulses:,.0f})" if dev is not None else ""))
        print(f"| {name}, {lr} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
