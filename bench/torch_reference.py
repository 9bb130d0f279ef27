"""neurosim's trainer against an independent PyTorch implementation of the same math.

For each rule of a workload (bp, dfa, sdfa), trains the same MLP with the same
hyper-parameters in PyTorch (CPU, float32, written here from the equations, not
from neurosim's code) and with neurosim, in the same run, and prints test
accuracy and seconds per epoch for both, and their ratio.

    pip install -e ".[bench]"
    NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/torch_reference.py workloads/mnist_compare.yaml [--epochs N] [--seeds 0,1]

The two do not share random streams, so accuracies agree only statistically
(compare across seeds); speed is the like-for-like figure: both on one thread,
and neurosim's epoch also includes its per-epoch test pass and alignment probe.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from neurosim.config import workload as wlcfg
from neurosim.data import load_dataset
from neurosim.learning import train


def torch_train(wl: wlcfg.Workload, algo, data, seed: int) -> tuple[float, float]:
    """Return (test accuracy, seconds per epoch) of a PyTorch run of ``algo``."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    sizes = wl.widths
    slope = wl.network.leaky_slope
    act, dact = {
        "tanh": (torch.tanh, lambda a: 1 - torch.tanh(a) ** 2),
        "relu": (torch.relu, lambda a: (a > 0).float()),
        "leaky_relu": (lambda a: torch.where(a > 0, a, slope * a), lambda a: torch.where(a > 0, 1.0, slope)),
    }[wl.network.activation]

    def uniform(shape, bound):
        return (torch.rand(shape, generator=g) * 2 - 1) * bound

    Ws = [uniform((o, i), 1 / i**0.5) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [uniform((o,), 1 / i**0.5) for i, o in zip(sizes[:-1], sizes[1:])]
    C = sizes[-1]
    scale = getattr(algo, "feedback_scale", 1.0)
    Bs = []
    for n in sizes[1:-1]:
        if algo.name == "dfa":
            Bs.append(uniform((n, C), scale / C**0.5))
        elif algo.name == "sdfa":
            s = algo.fanin
            cls = torch.randperm(C, generator=g)[torch.arange(n * s) % C].reshape(n, s)
            B = torch.zeros(n, C)
            B.scatter_(1, cls, uniform((n, s), scale / s**0.5))
            Bs.append(B)
    x_tr, y_tr = torch.from_numpy(np.array(data.x_train)), torch.from_numpy(np.array(data.y_train))
    x_te, y_te = torch.from_numpy(np.array(data.x_test)), torch.from_numpy(np.array(data.y_test))
    lr = algo.learning_rate or wl.training.optimizer.learning_rate
    batch, epochs = wl.training.batch_size, wl.training.epochs
    L = len(Ws)
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(epochs):
            perm = torch.randperm(len(x_tr), generator=g)
            for k in range(0, len(x_tr), batch):
                idx = perm[k : k + batch]
                h, a = [x_tr[idx]], []
                for l in range(L):
                    a.append(h[-1] @ Ws[l].T + bs[l])
                    h.append(a[-1] if l == L - 1 else act(a[-1]))
                e = torch.softmax(h[-1], 1)
                e[torch.arange(len(idx)), y_tr[idx]] -= 1
                deltas = [None] * L
                deltas[-1] = e
                for l in range(L - 2, -1, -1):
                    if algo.name == "bp":
                        deltas[l] = (deltas[l + 1] @ Ws[l + 1]) * dact(a[l])
                    else:
                        deltas[l] = (e @ Bs[l].T) * dact(a[l])
                for l in range(L):
                    Ws[l] -= lr * deltas[l].T @ h[l] / len(idx)
                    bs[l] -= lr * deltas[l].mean(0)
        seconds = (time.perf_counter() - t0) / epochs
        h = x_te
        for l in range(L):
            h = h @ Ws[l].T + bs[l]
            h = h if l == L - 1 else act(h)
        acc = (h.argmax(1) == y_te).float().mean().item()
    return acc, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seeds", default="0")
    args = ap.parse_args()
    wl = wlcfg.load(args.workload)
    if args.epochs:
        wl = wl.model_copy(update={"training": wl.training.model_copy(update={"epochs": args.epochs})})
    if wl.training.optimizer.name != "sgd":
        raise SystemExit("the PyTorch reference implements plain SGD only")
    data = load_dataset(wl.dataset)
    torch.set_num_threads(1)  # the resources neurosim trains with (one BLAS thread, see neurosim.kernels.blas)
    print(f"{'rule':6} {'seed':>4} {'torch acc':>10} {'neurosim acc':>13} {'torch s/ep':>11} {'neurosim s/ep':>14} {'speed ratio':>12}")
    for algo in wl.algorithms:
        if algo.name not in ("bp", "dfa", "sdfa"):
            continue
        for seed in (int(s) for s in args.seeds.split(",")):
            t_acc, t_sec = torch_train(wl, algo, data, seed)
            w = wl.model_copy(update={"seed": seed})
            t0 = time.perf_counter()
            res = train(w, algo, data.x_train, data.y_train, data.x_test, data.y_test)
            n_sec = (time.perf_counter() - t0) / wl.training.epochs
            print(f"{algo.name:6} {seed:4d} {100 * t_acc:9.2f}% {100 * res.final_test_accuracy:12.2f}% {t_sec:11.3f} {n_sec:14.3f} {t_sec / n_sec:11.2f}x")


if __name__ == "__main__":
    main()
