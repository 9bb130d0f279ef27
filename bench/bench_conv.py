"""Conv training speed: neurosim against PyTorch CPU on the same net and batch, one thread each.

The net is the one of ``workloads/mnist_conv_compare.yaml`` (conv5×5-16, maxpool 2,
conv5×5-32, maxpool 2, flatten, dense 128, dense 10, relu) on 28×28 inputs; a training
step is forward, softmax cross-entropy, backward (BP) and an SGD update. The figure is
the median over repeats of samples/s over a block of steps. It also times the conv
forward kernel (im2col + one BLAS product per group, as shipped) against a direct
7-loop numba convolution, which is why the kernels use im2col.

    python bench/bench_conv.py [--batch 32] [--steps 30] [--repeats 5]

PyTorch is the ``bench`` extra (``pip install -e .[bench]``); without it only neurosim is timed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

from neurosim import kernels as K
from neurosim.config.workload import Workload
from neurosim.kernels import single_threaded_blas, softmax_cross_entropy
from neurosim.learning import Network, make_optimizer, make_rule

LAYERS = [
    {"kind": "conv2d", "channels": 16, "kernel": 5},
    {"kind": "maxpool"},
    {"kind": "conv2d", "channels": 32, "kernel": 5},
    {"kind": "maxpool"},
    {"kind": "flatten"},
    {"kind": "dense", "units": 128},
    {"kind": "dense", "units": 10},
]


def _median_rate(step, batch: int, steps: int, repeats: int) -> float:
    step()  # compile / warm up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(batch * steps / (time.perf_counter() - start))
    return float(np.median(rates))


def neurosim_rate(batch: int, steps: int, repeats: int) -> float:
    wl = Workload(name="bench", network={"layers": LAYERS, "activation": "relu"},
                  training={"batch_size": batch, "optimizer": {"name": "sgd", "learning_rate": 0.01}}, algorithms=["bp"])
    net = Network(wl.network, wl.dataset.input_shape, np.random.default_rng(0))
    rule = make_rule(wl.algorithms[0], net, 0)
    params = [p for layer in net.layers for p in layer.params]
    opt = make_optimizer(wl.training.optimizer, params)
    rng = np.random.default_rng(1)
    x = rng.random((batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch)

    def step() -> None:
        cache = net.forward(x)
        _, e = softmax_cross_entropy(cache.logits, y)
        grads = rule.backward(net, cache, e, y).grads
        opt.step([g for gs in grads if gs for g in gs])

    with single_threaded_blas():
        return _median_rate(step, batch, steps, repeats)


def torch_rate(batch: int, steps: int, repeats: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return _median_rate(step, batch, steps, repeats)


@njit(cache=True)
def _direct_conv(x, w, b):
    batch, channels, height, width = x.shape
    c_out, _, k, _ = w.shape
    out = np.empty((batch, c_out, height - k + 1, width - k + 1), dtype=x.dtype)
    for n in range(batch):
        for o in range(c_out):
            for i in range(height - k + 1):
                for j in range(width - k + 1):
                    acc = b[o]
                    for c in range(channels):
                        for u in range(k):
                            for v in range(k):
                                acc += w[o, c, u, v] * x[n, c, i + u, j + v]
                    out[n, o, i, j] = acc
    return out


def conv_forward_ms(batch: int, repeats: int) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(0)
    rows = []
    for name, (c_in, size, c_out) in {"conv1": (1, 28, 16), "conv2": (16, 12, 32)}.items():
        x = rng.random((batch, c_in, size, size), dtype=np.float32)
        w = rng.standard_normal((c_out, c_in, 5, 5)).astype(np.float32)
        b = np.zeros(c_out, np.float32)
        with single_threaded_blas():
            im2col = 1e3 * batch / _median_rate(lambda: K.conv2d_forward(x, w, b, 1, 0, 1), batch, 20, repeats)
            direct = 1e3 * batch / _median_rate(lambda: _direct_conv(x, w, b), batch, 20, repeats)
        rows.append((name, im2col, direct))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for name, im2col, direct in conv_forward_ms(args.batch, args.repeats):
        print(f"{name} forward, batch {args.batch}: im2col+BLAS {im2col:.2f} ms, direct loops {direct:.2f} ms (direct/im2col {direct / im2col:.2f}x)")
    ours = neurosim_rate(args.batch, args.steps, args.repeats)
    print(f"neurosim  BP training, batch {args.batch}: {ours:8.0f} samples/s (1 thread)")
    theirs = torch_rate(args.batch, args.steps, args.repeats)
    if theirs is None:
        print("PyTorch not installed (pip install -e .[bench]): no comparison")
        return
    print(f"PyTorch   BP training, batch {args.batch}: {theirs:8.0f} samples/s (1 thread)")
    print(f"neurosim / PyTorch = {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
