"""Why sign-DFA's start is fragile: per-step loss, hidden saturation and weight norms.

Trains ``workloads/mnist_compare.yaml`` (784-800-800-10, tanh, SGD, batch 32) for
one epoch with a rule at several learning rates and logs, every ``--every`` steps:
the training loss of the batch, the fraction of hidden units with ``|tanh| > 0.99``
per layer on a fixed probe batch, the mean over units of the probe batch's
per-unit mean pre-activation (the drift every sample shares) and of its
per-unit spread across samples (what carries the input), the mean squared norm
``‖h_{L-1}‖²`` of the output layer's input (plain SGD on the softmax layer is
stable only while ``lr · ‖h_{L-1}‖²`` stays of order 1), and ``‖W_l‖_F``.

The loop is the trainer's (same seed streams, so the same weights, feedback and
batches as ``neurosim run``); the script checks its final test accuracy against
:func:`neurosim.learning.train`'s for the first run.

Variant ``sign_dfa_centred``: sign-DFA with the constant part of its signal
removed. ``sign(e) = 1 − 2·onehot(y)`` (softmax is never exactly 0), so the
projection is ``B_l 1 − 2 B_l y``: a per-unit constant plus DRTP's term × (−2).
The variant keeps only ``−2 B_l y``; if it learns where sign-DFA does not, the
constant part is the cause.

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/sign_dfa_probe.py \\
        --rules sign_dfa,sign_dfa_centred,dfa,drtp --lrs 0.3,0.03,0.003 --seed 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from pydantic import TypeAdapter

from neurosim.config.workload import AlgorithmConfig
from neurosim.config.workload import load as load_workload
from neurosim.data import load_dataset
from neurosim.kernels import single_threaded_blas, softmax_cross_entropy
from neurosim.learning import train
from neurosim.learning.network import Network
from neurosim.learning.optim import make_optimizer
from neurosim.learning.rules import Rule, make_rule

PROBE = 512


class CentredSignDFA(Rule):
    """sign-DFA without the per-unit constant ``B_l 1``: the signal ``sign(e) − 1 = −2·onehot(y)``."""

    def signal(self, e, y):
        return np.sign(e) - np.float32(1.0)


def _stats(net: Network, x: np.ndarray) -> dict[str, float]:
    """Probe statistics of the hidden weight layers (an MLP without batchnorm: each layer's own h)."""
    cache = net.forward(x, train=False)
    out = {}
    for layer, j in enumerate(net.weight_positions[:-1], start=1):
        h, a = cache.layers[j].h, cache.layers[j].a
        out[f"sat{layer}"] = float(np.mean(np.abs(h) > 0.99))
        out[f"drift{layer}"] = float(np.mean(np.abs(a.mean(axis=0))))
        out[f"spread{layer}"] = float(np.mean(a.std(axis=0)))
    out["hsq"] = float(np.mean(np.sum(cache.layers[net.weight_positions[-1]].x.astype(np.float64) ** 2, axis=1)))
    for layer, w in enumerate((lw.weight for lw in net.weight_layers), start=1):
        out[f"w{layer}"] = float(np.linalg.norm(w))
    return out


def _algo(rule_name: str, lr: float, scale: float | None):
    spec = {"name": "sign_dfa" if rule_name == "sign_dfa_centred" else rule_name, "learning_rate": lr}
    return TypeAdapter(AlgorithmConfig).validate_python(spec if scale is None else {**spec, "feedback_scale": scale})


def run_one(wl, rule_name: str, lr: float, scale: float | None, data, every: int, epochs: int) -> tuple[list[dict], float]:
    algo = _algo(rule_name, lr, scale)
    x_train = np.ascontiguousarray(data.x_train, dtype=np.float32)
    y_train = np.ascontiguousarray(data.y_train, dtype=np.int64)
    init_ss, rule_ss, shuffle_ss, _ = np.random.SeedSequence(wl.seed).spawn(4)  # the trainer's streams
    net = Network(wl.network, wl.dataset.input_shape, np.random.default_rng(init_ss))
    rule = make_rule(algo, net, rule_ss)
    if rule_name == "sign_dfa_centred":
        rule.__class__ = CentredSignDFA  # the same feedback draws, its own signal
    trainable = [j for j, layer in enumerate(net.layers) if layer.params]
    opt_cfg = wl.training.optimizer.model_copy(update={"learning_rate": lr})
    optimizer = make_optimizer(opt_cfg, [p for j in trainable for p in net.layers[j].params])
    shuffle = np.random.default_rng(shuffle_ss)
    n, batch = x_train.shape[0], wl.training.batch_size
    probe = x_train[:PROBE]
    log, step = [], 0
    for epoch in range(epochs):
        optimizer.lr = lr * opt_cfg.lr_decay**epoch
        order = shuffle.permutation(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            xb, yb = x_train[idx], y_train[idx]
            cache = net.forward(xb)
            loss, e = softmax_cross_entropy(cache.logits, yb)
            result = rule.backward(net, cache, e, yb)
            optimizer.step([g for j in trainable for g in result.grads[j]])
            if step % every == 0:
                log.append({"step": step, "loss": float(loss), **_stats(net, probe)})
            step += 1
    acc = float(np.mean(net.predict(np.ascontiguousarray(data.x_test, dtype=np.float32)) == data.y_test))
    return log, acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", default="workloads/mnist_compare.yaml")
    ap.add_argument("--rules", default="sign_dfa,sign_dfa_centred,dfa,drtp")
    ap.add_argument("--lrs", default="0.3,0.03,0.003")
    ap.add_argument("--scales", default="", help="feedback_scale values (default: the rule's)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--every", type=int, default=25)
    args = ap.parse_args()
    wl = load_workload(args.workload)
    wl = wl.model_copy(update={"seed": args.seed, "training": wl.training.model_copy(update={"epochs": args.epochs})})
    data = load_dataset(wl.dataset)
    checked = False
    with single_threaded_blas():
        for rule_name in args.rules.split(","):
            for lr, scale in ((float(v), float(s) if s else None) for v in args.lrs.split(",") for s in args.scales.split(",")):
                t0 = time.perf_counter()
                log, acc = run_one(wl, rule_name, lr, scale, data, args.every, args.epochs)
                if not checked and rule_name != "sign_dfa_centred":
                    algo = _algo(rule_name, lr, scale)
                    ref = train(wl, algo, data.x_train, data.y_train, data.x_test, data.y_test).final_test_accuracy
                    assert ref == acc, f"probe loop diverged from neurosim.learning.train: {acc} vs {ref}"
                    checked = True
                print(f"# {rule_name} lr={lr} feedback_scale={scale or 'default'} seed={args.seed}: "
                      f"test accuracy {100 * acc:.2f} % ({time.perf_counter() - t0:.1f} s)")
                keys = list(log[0])
                print(" ".join(f"{k:>8}" for k in keys))
                for row in log:
                    print(" ".join(f"{row[k]:8.3f}" if k != "step" else f"{row[k]:8d}" for k in keys))


if __name__ == "__main__":
    main()
