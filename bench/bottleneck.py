"""Regenerate the bottleneck section of docs/validation.md: Launay et al.'s bottleneck
experiment as their code (lightonai/principled-dfa-training, ``bottleneck.py`` and
``dfatools/``) sets it up, on mnist-10k in place of CIFAR-10.

Their setup, restated (file in brackets):

- network: Flatten → Linear(in, 800) → Tanh → **Bottleneck(800, 800)** → Tanh → Linear(800, 800)
  → Tanh → Linear(800, 10) (``bottleneck.py``); here ``in = 784`` (MNIST) for their 3072 (CIFAR-10);
- the bottleneck is the second layer with a fixed random mask on its gradients: an entry
  trains when ``rand > rate``, ``rate = 1 − b/800``, so a fraction b/800 of its weights and
  biases ever moves — "b neurons' worth" of trainable parameters
  (``dfatools/models.py``, ``GradientHelper.hook``); b ∈ {1, 3, 5, …, 800};
- DFA: ``e = softmax(z) − onehot(y)`` (not divided by the batch), hidden layer l's error at its
  tanh output ``e·B_l`` with ``B ~ N(0, 1)/√(800·10)`` (``dfatools/dfatorch.py``,
  ``feedback_normalization``); the output layer gets the mean cross-entropy's gradient
  (``DFAModel._end_batch``). So the hidden layers step on batch *sums*, the output layer on
  the batch *mean*;
- plain SGD, lr 5e-4, batch 128, PyTorch's default init (their "STD"), 50 epochs;
- measured at the end on the first validation batch (128 test images): per layer, the
  per-sample cosine between BP's and DFA's gradient at each Tanh output, averaged
  (``DFAModel._end_epoch``; their figure plots the bottleneck layer's, ``bottleneck_from_log.py``),
  and train / test accuracy.

Here: the same, with neurosim's :class:`~neurosim.learning.Network` and DFA rule
(``feedback_scale`` 0.0612 makes its U(±β) feedback's standard deviation their 1/√8000),
``--epochs`` epochs (default 15: their 50 on CIFAR-10 do not fit this machine's budget), and,
as a control their code does not run, BP trained under the same mask and step sizes.

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/bottleneck.py [--epochs 15] [--sizes 1 11 118 800] [--seeds 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from validation_counts import rewrite

from neurosim.config.workload import BPConfig, DFAConfig, NetworkConfig
from neurosim.config.workload import load as load_workload
from neurosim.data import load_dataset
from neurosim.kernels import softmax_cross_entropy
from neurosim.kernels.blas import single_threaded_blas
from neurosim.learning import Network, make_rule

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- BEGIN bottleneck -->", "<!-- END bottleneck -->"
WIDTH, BOTTLENECK_LAYER = 800, 1  # the second weight layer (their "bot2")
LR, BATCH, HELD_OUT = 5e-4, 128, 128
#: U(±β) with β = scale/√C has standard deviation scale/√(3C); their N(0, 1)/√(800·10) has 1/√8000.
FEEDBACK_SCALE = float(np.sqrt(3.0 / WIDTH))
#: Their b/800 grid.
AUTHORS_SIZES = (1, 3, 5, 8, 11, 18, 28, 46, 73, 118, 191, 308, 496, 800)
#: Their reported test accuracy (%) and bottleneck-layer cosine, "STD" init, CIFAR-10, 50 epochs
#: (bottleneck_from_log.py, the STD list: acc [train, test], angles[1] = the bottleneck's Tanh).
AUTHORS_STD = {1: (40.5, 0.0689), 3: (41.1, 0.1677), 5: (41.5, 0.2342), 8: (41.9, 0.3154), 11: (42.8, 0.3744),
               18: (43.4, 0.4655), 28: (44.6, 0.5406), 46: (45.6, 0.6217), 73: (46.8, 0.6917), 118: (47.9, 0.7597),
               191: (47.6, 0.826), 308: (46.8, 0.8705), 496: (46.4, 0.8953), 800: (47.1, 0.8924)}


def _masks(net: Network, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    layer = net.weight_layers[BOTTLENECK_LAYER]
    rate = 1.0 - size / WIDTH
    return [(rng.random(p.shape) > rate).astype(np.float32) for p in layer.params]


def _train(rule_name: str, size: int, seed: int, epochs: int, data) -> dict:
    x_train, y_train, x_test, y_test = data
    cfg = NetworkConfig(layers=[x_train.shape[1], WIDTH, WIDTH, WIDTH, 10], activation="tanh")
    init, rule_ss, shuffle_ss, mask_ss = np.random.SeedSequence(seed).spawn(4)
    net = Network(cfg, (x_train.shape[1],), np.random.default_rng(init))
    algo = DFAConfig(name="dfa", feedback_scale=FEEDBACK_SCALE) if rule_name == "dfa" else BPConfig(name="bp")
    rule = make_rule(algo, net, rule_ss)
    masks = _masks(net, size, np.random.default_rng(mask_ss))
    shuffle = np.random.default_rng(shuffle_ss)
    out_j = net.weight_positions[-1]
    bott_j = net.weight_positions[BOTTLENECK_LAYER]
    for _ in range(epochs):
        order = shuffle.permutation(len(x_train))
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            cache = net.forward(x_train[idx])
            _, e = softmax_cross_entropy(cache.logits, y_train[idx])
            grads = rule.backward(net, cache, e, y_train[idx]).grads
            for j in net.weight_positions:
                # hidden layers: their error is not divided by the batch (sum); output: the mean loss
                step = np.float32(LR if j == out_j else LR * len(idx))
                for k, (p, g) in enumerate(zip(net.layers[j].params, grads[j])):
                    p -= step * (g * masks[k] if j == bott_j else g)
    train_acc = float(np.mean(net.predict(x_train) == y_train))
    test_acc = float(np.mean(net.predict(x_test) == y_test))
    dfa_rule = rule if rule_name == "dfa" else make_rule(DFAConfig(name="dfa", feedback_scale=FEEDBACK_SCALE), net, rule_ss)
    return {"train": 100 * train_acc, "test": 100 * test_acc,
            "cos": _tanh_cosines(net, dfa_rule, x_test[:HELD_OUT], y_test[:HELD_OUT])}


def _tanh_cosines(net: Network, rule, x: np.ndarray, y: np.ndarray) -> list[float]:
    """Per hidden layer: mean over samples of cos(BP's ∂L/∂h_l, DFA's e·B_lᵀ) at the tanh output h_l
    (float64, from the weights), as their ``GradientHelper`` hooks on the Tanh modules see it."""
    ws = [layer.weight.astype(np.float64) for layer in net.weight_layers]
    cache = net.forward(x, train=False)
    _, e = softmax_cross_entropy(cache.logits, y)
    e = e.astype(np.float64)
    grad_h = e @ ws[-1]
    out = []
    for k in range(len(ws) - 2, -1, -1):
        dfa = e @ rule.direct[k].matrix.astype(np.float64).T
        out.append(float(np.mean((grad_h * dfa).sum(1) / np.linalg.norm(grad_h, axis=1) / np.linalg.norm(dfa, axis=1))))
        h = cache.layers[net.weight_positions[k]].h.astype(np.float64)
        grad_h = (grad_h * (1.0 - h**2)) @ ws[k]
    return out[::-1]


def run(epochs: int, sizes: list[int], seeds: list[int]) -> tuple[list[str], float]:
    data_cfg = load_workload(ROOT / "workloads" / "mnist_compare.yaml").dataset
    d = load_dataset(data_cfg)
    data = (np.ascontiguousarray(d.x_train, dtype=np.float32), d.y_train.astype(np.int64),
            np.ascontiguousarray(d.x_test, dtype=np.float32), d.y_test.astype(np.int64))
    start = time.perf_counter()
    results = {}
    with single_threaded_blas():
        for rule_name in ("dfa", "bp"):
            for size in sizes:
                runs = [_train(rule_name, size, s, epochs, data) for s in seeds]
                results[(rule_name, size)] = {k: np.mean([r[k] for r in runs], axis=0) for k in ("train", "test", "cos")}
                print(rule_name, size, results[(rule_name, size)], flush=True)
    seconds = time.perf_counter() - start
    return _section(results, epochs, sizes, seeds, seconds), seconds


def _section(results, epochs, sizes, seeds, seconds) -> list[str]:
    lo, hi = min(sizes), max(sizes)
    lines = [BEGIN, "# The bottleneck effect (Launay et al. 2019), as the authors' code sets it up", "",
             f"Generated by `NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/bottleneck.py --epochs {epochs} "
             f"--sizes {' '.join(map(str, sizes))} --seeds {' '.join(map(str, seeds))}` ({seconds:.0f} s on the shared "
             "2-core machine) — do not edit by hand. The setup of lightonai/principled-dfa-training `bottleneck.py` "
             "(restated, with the file of each rule, in the script's docstring): in-800-800-800-10 tanh, the second "
             "layer a *bottleneck* whose gradients pass a fixed random mask keeping a fraction b/800 of its weights "
             "and biases trainable; DFA with their feedback scale (std 1/√8000), the hidden layers stepping on the "
             "batch-summed error and the output layer on the mean loss; plain SGD at 5e-4, batch 128, their default "
             f"init. Differences: mnist-10k (784 inputs) for CIFAR-10 (3072), {epochs} epochs for their 50, seeds "
             f"{', '.join(map(str, seeds))}; and BP trained under the same mask and step sizes as a control (their code "
             "trains only DFA; its BP model only measures the angles). Cosine: mean over the first 128 test images "
             "of the per-sample cosine between BP's and DFA's gradient at each tanh output, from the trained "
             "weights (their `DFAModel._end_epoch` on the Tanh modules; 1 = aligned, 0 = orthogonal).", "",
             "| b (trainable share of 800) | DFA train % | DFA test % | BP train % | BP test % | DFA cosine layer 1 | "
             "DFA cosine bottleneck | DFA cosine layer 3 | authors (CIFAR-10, 50 ep.): DFA test %, bottleneck cosine |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size in sizes:
        d, b = results[("dfa", size)], results[("bp", size)]
        ref = AUTHORS_STD.get(size)
        lines.append(f"| {size} ({size / WIDTH:.2%}) | {d['train']:.2f} | {d['test']:.2f} | {b['train']:.2f} | "
                     f"{b['test']:.2f} | " + " | ".join(f"{c:.3f}" for c in d["cos"])
                     + f" | {'—' if ref is None else f'{ref[0]:.1f}, {ref[1]:.3f}'} |")
    d_lo, d_hi, b_lo, b_hi = (results[k] for k in (("dfa", lo), ("dfa", hi), ("bp", lo), ("bp", hi)))
    cos_lo, cos_hi = d_lo["cos"][BOTTLENECK_LAYER], d_hi["cos"][BOTTLENECK_LAYER]
    cos_series = [results[("dfa", s)]["cos"][BOTTLENECK_LAYER] for s in sizes]
    rising = all(a <= b + 0.02 for a, b in zip(cos_series, cos_series[1:]))
    aligns_less = cos_lo < cos_hi - 0.1
    dfa_drop, bp_drop = d_hi["test"] - d_lo["test"], b_hi["test"] - b_lo["test"]
    if aligns_less and rising:
        verdict = "holds"
    elif aligns_less:
        verdict = "holds only between the extremes (the cosine does not rise with b at every step)"
    else:
        verdict = "does not hold here"
    lines += ["", "**Claim (Launay et al. 2019, section 4): a narrow layer — few trainable parameters — cannot align, "
              "a bottleneck effect that hurts DFA.** "
              f"*{verdict[0].upper() + verdict[1:]}:* the bottleneck layer's cosine to BP's gradient is {cos_lo:.3f} at "
              f"b = {lo} against {cos_hi:.3f} at b = {hi} (the authors: {AUTHORS_STD[1][1]:.3f} at b = 1, "
              f"{AUTHORS_STD[800][1]:.3f} at b = 800 on CIFAR-10), "
              f"{'rising with b across the grid' if rising else 'not monotone in b'}. Narrowing the bottleneck from "
              f"b = {hi} to b = {lo} costs DFA {dfa_drop:.2f} points of test accuracy ({d_hi['test']:.2f} → "
              f"{d_lo['test']:.2f} %) and BP {bp_drop:.2f} points ({b_hi['test']:.2f} → {b_lo['test']:.2f} %) "
              f"under the same mask and steps: "
              + ("DFA loses more than BP." if dfa_drop > bp_drop + 0.5 else
                 "DFA does not lose markedly more than BP here." if dfa_drop > bp_drop - 0.5 else
                 "BP loses more than DFA here.")
              + f" Only {epochs} epochs of mnist-10k: not the authors' figures, their mechanism.", "", END]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "validation.md")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 11, 118, 800])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()
    block, seconds = run(args.epochs, sorted(args.sizes), args.seeds)
    rewrite(args.doc, block)
    print(f"wrote the bottleneck section of {args.doc} in {seconds:.0f} s")


if __name__ == "__main__":
    main()
