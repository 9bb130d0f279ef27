"""Wall time of one ``cost_step`` (placement, op graph, DES of one step and of the
epoch window) and its size in ops and SimPy events, in one run.

Cases: the reference conv net of issue 8 (MNIST 1x28x28 -> conv5x5-16 -> maxpool2
-> conv5x5-32 -> maxpool2 -> flatten -> dense 128 -> dense 10) and 784-800-800-10,
batch 32, on both shipped chips; then the DES cost as the crossbar blocks grow
(784-800-800-10 BP on rram_tile with a 16x16 mesh and 256, 128, 64-cell arrays),
printed as ratios to the first.

    PYTHONPATH=. python bench/bench_des.py [--rules bp,dfa]
"""

from __future__ import annotations

import argparse
import time

import simpy
from pydantic import TypeAdapter

from neurosim.config import hw as hwcfg
from neurosim.config.network import NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig
from neurosim.sim import cost_step

CONV = NetworkConfig(
    layers=[
        {"kind": "conv2d", "channels": 16, "kernel": 5},
        {"kind": "maxpool", "kernel": 2},
        {"kind": "conv2d", "channels": 32, "kernel": 5},
        {"kind": "maxpool", "kernel": 2},
        {"kind": "flatten"},
        {"kind": "dense", "units": 128},
        {"kind": "dense", "units": 10},
    ],
    activation="relu",
)
NETS = {
    "conv (mnist)": infer_shapes(CONV, (1, 28, 28)),
    "784-800-800-10": infer_shapes(NetworkConfig(layers=[784, 800, 800, 10]), (784,)),
}


class _CountingEnv(simpy.Environment):
    """A SimPy environment that counts the events it processes."""

    processed = 0

    def step(self) -> None:
        _CountingEnv.processed += 1
        super().step()


def measure(hw, shapes, algo) -> tuple[float, object, int]:
    simpy_env = simpy.Environment
    _CountingEnv.processed = 0
    simpy.Environment = _CountingEnv  # des.py builds its environment as simpy.Environment()
    try:
        t0 = time.perf_counter()
        cost = cost_step(hw, shapes, 32, algo, steps_per_epoch=250)
        return time.perf_counter() - t0, cost, _CountingEnv.processed
    finally:
        simpy.Environment = simpy_env


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", default="bp,dfa")
    args = ap.parse_args()
    adapter = TypeAdapter(AlgorithmConfig)
    rules = [adapter.validate_python({"name": r}) for r in args.rules.split(",")]
    print(f"{'chip':14s} {'network':16s} {'rule':5s} {'wall s':>7s} {'ops/step':>9s} {'events':>8s} {'cycles/step':>12s}")
    for chip in ("rram_tile", "sram_digital"):
        hw = hwcfg.load(f"hwconfigs/{chip}.yaml")
        for label, shapes in NETS.items():
            for algo in rules:
                wall, cost, events = measure(hw, shapes, algo)
                print(f"{chip:14s} {label:16s} {algo.name:5s} {wall:7.2f} {cost.ops_per_step:9d} {events:8d} {cost.cycles_per_step:12.0f}")
    base = hwcfg.load("hwconfigs/rram_tile.yaml")
    first = None
    print("\n784-800-800-10 bp, rram_tile with a 16x16 mesh: DES cost as the blocks grow")
    for cells in (256, 128, 64):
        hw = base.model_copy(update={
            "crossbar": base.crossbar.model_copy(update={"rows": cells, "cols": cells}),
            "noc": base.noc.model_copy(update={"mesh": "16x16"}),
        })
        wall, cost, events = measure(hw, NETS["784-800-800-10"], rules[0])
        blocks = len(cost.placement.blocks)
        first = first or (wall, blocks)
        print(f"  {cells}x{cells}: {blocks:5d} blocks ({blocks / first[1]:4.1f}x), {wall:6.2f} s ({wall / first[0]:5.1f}x), "
              f"{cost.ops_per_step} ops, {events} events")


if __name__ == "__main__":
    main()
