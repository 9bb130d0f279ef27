"""Wall time per epoch of device-model training against the ideal trainer.

784-800-800-10 (tanh, batch 32, SGD), trained for one epoch on the first
``--images`` mnist-10k training images with ``numerics: ideal`` (hwconfigs/rram_tile.yaml)
and ``numerics: device`` (hwconfigs/rram_tile_device.yaml: the Ag:a-Si RealDevice with
its nonlinearity and cycle-to-cycle variation, 8-bit DAC inputs, 8-bit ADC). Each
figure is the median over ``--repeats`` runs (after one warm-up that compiles the
kernels), in wall and CPU seconds (``time.process_time``: all threads of the process,
steadier on a loaded machine); the target is a wall ratio of at most 2. The ideal
trainer runs on one thread; the device kernels share their large pulse updates and
reads with one helper thread (``neurosim.kernels.helper``; ``NUMBA_NUM_THREADS=1``
keeps them on one). It also prints the device run's accuracy and cells written per
step (its cost follows its chaotic training) and the load average while it ran.

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/bench_device.py [--images 8000] [--repeats 3] [--algorithm bp]

(with neurosim installed, e.g. ``pip install -e .``, or ``PYTHONPATH=.`` from the repo root).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numba
import numpy as np

from neurosim.config.base import load_model
from neurosim.config.hw import HwConfig
from neurosim.config.workload import Workload
from neurosim.data import load_dataset
from neurosim.learning import TrainResult, train

REPO = Path(__file__).resolve().parents[1]


def _seconds(wl: Workload, algo: str, data, hw: HwConfig) -> tuple[float, float, TrainResult]:
    """Wall and CPU (all threads of this process) seconds of one training run, and its result."""
    start, start_cpu = time.perf_counter(), time.process_time()
    result = train(wl, wl.algorithm(algo), data.x_train, data.y_train, data.x_test, data.y_test, hw=hw)
    return time.perf_counter() - start, time.process_time() - start_cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--algorithm", default="bp")
    args = parser.parse_args()
    wl = Workload.model_validate(
        {
            "name": "bench_device",
            "seed": 0,
            "dataset": {"name": "mnist", "train_limit": args.images, "test_limit": 500},
            "network": {"layers": [784, 800, 800, 10], "activation": "tanh"},
            "training": {"epochs": 1, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 0.3}},
            "algorithms": [args.algorithm],
        }
    )
    data = load_dataset(wl.dataset)
    ideal = load_model(REPO / "hwconfigs" / "rram_tile.yaml", HwConfig)
    device = load_model(REPO / "hwconfigs" / "rram_tile_device.yaml", HwConfig)
    small = wl.model_copy(update={"dataset": wl.dataset.model_copy(update={"train_limit": 64})})
    for hw in (ideal, device):  # compile every kernel once
        _seconds(small, args.algorithm, load_dataset(small.dataset), hw)
    times: dict[str, list[tuple[float, float]]] = {"ideal": [], "device": []}
    load = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        for name, hw in (("ideal", ideal), ("device", device)):
            wall_s, cpu_s, result = _seconds(wl, args.algorithm, data, hw)
            times[name].append((wall_s, cpu_s))
            load.append(os.getloadavg()[0])
    # the device run's work follows its (chaotic) training: how many cells it wrote
    written = ", ".join(f"{s.layer} {s.cells_written_per_step:,.0f}" for s in result.device_writes)
    wall = {name: float(np.median([t[0] for t in runs])) for name, runs in times.items()}
    cpu = {name: float(np.median([t[1] for t in runs])) for name, runs in times.items()}
    print(f"784-800-800-10, {args.algorithm}, batch 32, one epoch of {data.n_train} images (+ {data.n_test} test images)")
    for name in ("ideal", "device"):
        runs = ", ".join(f"{t[0]:.2f}" for t in times[name])
        print(f"{name:6s} numerics  {wall[name]:8.2f} s wall  {cpu[name]:8.2f} s CPU   (wall runs: {runs})")
    print(f"device run: test accuracy {result.final_test_accuracy:.2%}, cells written per step: {written}")
    print(f"threads: numba {numba.get_num_threads()} (the device kernels' helper thread runs when > 1); "
          f"1-min load average {min(load):.2f}-{max(load):.2f}")
    print(f"ratio device / ideal: {wall['device'] / wall['ideal']:.2f} wall, {cpu['device'] / cpu['ideal']:.2f} CPU (target <= 2, wall)")


if __name__ == "__main__":
    main()
