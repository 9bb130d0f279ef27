"""Final test accuracy of every algorithm of a workload over several seeds (Python API, no chip model).

    NEUROSIM_DATA_DIR=/path/to/mnist python bench/accuracy.py workloads/mnist_conv_compare.yaml \
        [--seeds 0 1 2] [--algorithms bp dfa] [--jobs 2] [--checkpoints DIR]

Prints one row per algorithm: the final test accuracy (%) per seed, their mean, and the
mean seconds per run. ``--jobs`` trains that many (algorithm, seed) runs side by side in
separate processes (each on one BLAS thread, so the figures do not depend on it).
``--checkpoints DIR`` writes each run's trained parameters as
``DIR/checkpoint_<algorithm>_seed<k>.npz`` (what a ``transfer.checkpoint`` reads).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from neurosim.config.workload import load
from neurosim.data import load_dataset
from neurosim.learning import save_checkpoint, train


def _one(path: str, name: str, seed: int, checkpoints: str | None) -> tuple[str, int, float, float, list[float]]:
    wl = load(path)
    wl = wl.model_copy(update={"seed": seed})
    data = load_dataset(wl.dataset, base_dir=Path(path).parent)
    start = time.perf_counter()
    result = train(wl, wl.algorithm(name), data.x_train, data.y_train, data.x_test, data.y_test)
    seconds = time.perf_counter() - start
    if checkpoints:
        Path(checkpoints).mkdir(parents=True, exist_ok=True)
        save_checkpoint(result.state, Path(checkpoints) / f"checkpoint_{name}_seed{seed}.npz")
    return name, seed, 100 * result.final_test_accuracy, seconds, [100 * h.test_accuracy for h in result.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--algorithms", nargs="+", default=None)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--checkpoints", default=None)
    args = parser.parse_args()
    wl = load(args.workload)
    names = args.algorithms or [a.name for a in wl.algorithms]
    runs = [(args.workload, n, s, args.checkpoints) for n in names for s in args.seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(_one, *zip(*runs)))
    print(f"{wl.name}: final test accuracy (%), seeds {args.seeds}")
    for name in names:
        rows = [r for r in results if r[0] == name]
        accs = " ".join(f"{r[2]:6.2f}" for r in rows)
        print(f"  {name:12s} {accs}   mean {np.mean([r[2] for r in rows]):6.2f}   {np.mean([r[3] for r in rows]):5.0f} s/run")
        for r in rows:
            print(f"      seed {r[1]} per epoch: {' '.join(f'{a:.2f}' for a in r[4])}")


if __name__ == "__main__":
    main()
