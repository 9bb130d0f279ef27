"""Regenerate the alignment-dynamics section of docs/validation.md: the first epoch of DFA,
sparse DFA and FA on workloads/mnist_compare.yaml, measured as Launay et al. measure it.

For each rule (as the workload resolves it; FA, which it does not list, at its config
class's defaults) and, as a contrast, DFA at learning rate 0.05: one epoch at seed 0
with the alignment measured every 10 steps (the default schedule,
:mod:`neurosim.learning.alignment`) on the first 256 test images. After the epoch, on the same
batch: the mean ``tanh'`` of each hidden layer (1 = linear, 0 = saturated) before and after,
and, for the direct rules, the angle between the output weights ``W_L`` and the last hidden
layer's feedback ``B_{L-1}ᵀ`` (the alignment DFA's last hidden layer needs). The curves go to
docs/img/alignment_first_epoch.png; the text between ``<!-- BEGIN alignment -->`` and
``<!-- END alignment -->`` of docs/validation.md is replaced.

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/alignment_curves.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from validation_counts import rewrite  # noqa: E402

from neurosim.config.workload import FAConfig  # noqa: E402
from neurosim.config.workload import load as load_workload  # noqa: E402
from neurosim.data import load_dataset  # noqa: E402
from neurosim.kernels import softmax_cross_entropy  # noqa: E402
from neurosim.kernels.blas import single_threaded_blas  # noqa: E402
from neurosim.learning import Network, make_rule, train  # noqa: E402
from neurosim.learning.alignment import HELD_OUT_SIZE, error_alignment_deg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "workloads" / "mnist_compare.yaml"
PLOT = ROOT / "docs" / "img" / "alignment_first_epoch.png"
BEGIN, END = "<!-- BEGIN alignment -->", "<!-- END alignment -->"
TABLE_STEPS = (0, 10, 20, 30, 50, 70, 100, 150, 200)
CONTRAST_LR = 0.05


def _rules(wl):
    dfa = wl.algorithm("dfa")
    return [dfa, wl.algorithm("sdfa"), FAConfig(name="fa"),
            dfa.model_copy(update={"learning_rate": CONTRAST_LR, "label": f"dfa_lr{CONTRAST_LR}"})]


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    a, b = u.ravel().astype(np.float64), v.ravel().astype(np.float64)
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def _after(wl, algo, state, held_x, held_y, last_angles):
    """Of the net rebuilt at step 0 and after the epoch (from its state): mean tanh' per hidden
    layer; the scale ‖e·F‖ / ‖e·W_L‖ at step 0 and ∠(W_L, F) at the end, F the last hidden
    layer's feedback in W_L's shape (DFA: B_{L-1}ᵀ, FA: B_L)."""
    init_ss, rule_ss, _, _ = np.random.SeedSequence(wl.seed).spawn(4)  # the trainer's split
    net = Network(wl.network, wl.dataset.input_shape, np.random.default_rng(init_ss))
    rule = make_rule(algo, net, rule_ss)
    last = len(net.weight_layers) - 1
    feedback = _dense(rule.direct[last - 1], net.n_classes).T if last - 1 in rule.direct else rule.chain_feedback[last]
    with single_threaded_blas():
        before = _slopes(net, held_x)
        cache = net.forward(held_x, train=False)
        _, e = softmax_cross_entropy(cache.logits, held_y)
        scale = float(np.linalg.norm(e @ feedback) / np.linalg.norm(e @ net.weight_layers[-1].weight))
        for key, arr in net.state().items():
            arr[...] = state[key]
        check = error_alignment_deg(net, rule, held_x, held_y)
        after = _slopes(net, held_x)
        reference = _reference(net, rule, held_x, held_y)
    assert check == last_angles, (check, last_angles)  # the rebuilt rule is the trained one
    return before, after, scale, _angle(net.weight_layers[-1].weight, feedback), reference


def _reference(net, rule, x, y) -> dict[str, float]:
    """The end-of-epoch angles recomputed in float64 NumPy from the weights alone (tanh MLP):
    BP's δ_l = (δ_{l+1} W_{l+1}) ⊙ (1 − tanh²a_l), the rule's e·B_lᵀ ⊙ (…) (DFA) or the chain
    through B_{l+1} (FA); arccos of the mean per-sample cosine."""
    ws = [(layer.weight.astype(np.float64), layer.bias.astype(np.float64)) for layer in net.weight_layers]
    h, pre = x.astype(np.float64), []
    for k, (w, b) in enumerate(ws):
        pre.append(h @ w.T + b)
        h = np.tanh(pre[-1]) if k < len(ws) - 1 else pre[-1]
    p = np.exp(h - h.max(axis=1, keepdims=True))
    e = (p / p.sum(axis=1, keepdims=True) - np.eye(h.shape[1])[y]) / len(y)
    bp, est, out = e, e, {}
    for k in range(len(ws) - 2, -1, -1):
        slope = 1.0 - np.tanh(pre[k]) ** 2
        bp = (bp @ ws[k + 1][0]) * slope
        est = (e @ _dense(rule.direct[k], e.shape[1]).T if k in rule.direct
               else est @ rule.chain_feedback[k + 1].astype(np.float64)) * slope
        cos = (bp * est).sum(axis=1) / (np.linalg.norm(bp, axis=1) * np.linalg.norm(est, axis=1))
        out[net.names[k]] = float(np.degrees(np.arccos(cos.mean())))
    return out


def _dense(feedback, classes: int) -> np.ndarray:
    """``B_l`` as a dense (units, C) matrix (a sparse one's ``val`` scattered at ``idx``)."""
    if feedback.idx is None:
        return feedback.matrix
    dense = np.zeros((feedback.idx.shape[0], classes), dtype=np.float64)
    np.add.at(dense, (np.arange(feedback.idx.shape[0])[:, None], feedback.idx), feedback.matrix)
    return dense


def _slopes(net, x) -> dict[str, float]:
    cache = net.forward(x, train=False)
    return {net.names[i]: float(np.mean(1.0 - cache.layers[j].h.astype(np.float64) ** 2))
            for i, j in enumerate(net.weight_positions[:-1])}


def run(seed: int) -> tuple[list[str], float]:
    wl = load_workload(SHIPPED)
    wl = wl.model_copy(update={"seed": seed, "training": wl.training.model_copy(update={"epochs": 1})})
    data = load_dataset(wl.dataset)
    held_x, held_y = data.x_test[:HELD_OUT_SIZE], data.y_test[:HELD_OUT_SIZE]
    per_epoch = -(-data.x_train.shape[0] // wl.training.batch_size)
    start = time.perf_counter()
    curves, extra, acc = {}, {}, {}
    for algo in _rules(wl):
        res = train(wl, algo, data.x_train, data.y_train, data.x_test, data.y_test)
        curve: dict[str, dict[int, float]] = {}
        for a in res.alignment:
            curve.setdefault(a.layer, {})[a.step] = a.angle_deg
        curves[algo.run_name] = curve
        acc[algo.run_name] = 100 * res.final_test_accuracy
        last = {layer: c[per_epoch] for layer, c in curve.items()}
        extra[algo.run_name] = _after(wl, algo, res.state, held_x, held_y, last)
    seconds = time.perf_counter() - start
    _plot(curves, per_epoch)
    sdfa = wl.algorithm("sdfa")
    sdfa_desc = f"s = {sdfa.fanin}, lr {sdfa.learning_rate}, scale {sdfa.feedback_scale:g}"
    return _section(curves, extra, acc, per_epoch, seed, seconds, sdfa_desc), seconds


def _plot(curves, per_epoch) -> None:
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 4), dpi=110)
    styles = {"fc1": "--", "fc2": "-"}
    for name, curve in curves.items():
        color = None
        for layer, c in curve.items():
            steps = sorted(c)
            (line,) = ax.plot(steps, [c[s] for s in steps], styles.get(layer, ":"), marker=".", ms=3,
                              color=color, label=f"{name} {layer}")
            color = line.get_color()
    ax.axhline(90, color="grey", lw=0.8, ls=":")
    ax.set_xlim(0, per_epoch)
    ax.set_xlabel("training step (epoch 1)")
    ax.set_ylabel("angle to BP's error signal (°)")
    ax.set_title("mnist_compare, first epoch: Launay alignment on 256 held-out images", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(PLOT)
    plt.close(fig)


def _section(curves, extra, acc, per_epoch, seed, seconds, sdfa_desc: str) -> list[str]:
    steps = [s for s in TABLE_STEPS if s < per_epoch] + [per_epoch]
    lines = [BEGIN, "# Alignment dynamics in the first epoch (Launay et al.'s measure)", "",
             "Generated by `NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/alignment_curves.py` "
             f"({seconds:.0f} s on the shared 2-core machine) — do not edit by hand. workloads/mnist_compare.yaml "
             f"(784-800-800-10, tanh, SGD, batch 32, {per_epoch} steps per epoch), one epoch, seed {seed}; DFA and "
             f"sparse DFA as the workload sets them (sDFA: {sdfa_desc}), FA at its defaults (lr 0.3), and "
             f"DFA at lr {CONTRAST_LR} as a contrast. The angle is arccos of the mean over 256 held-out test images of "
             "the per-sample cosine between the rule's and BP's δ = ∂L/∂a at each hidden layer's linear output, both "
             "computed with the rule's current weights (neurosim.learning.alignment; tests/test_alignment.py checks it "
             "against NumPy, W_L = ±B_{L−1}ᵀ giving 0°/180°). Plot: [img/alignment_first_epoch.png]"
             "(img/alignment_first_epoch.png).", "",
             "## Angle to BP's δ (°) after step", "",
             "| rule | layer | " + " | ".join(map(str, steps)) + " | test acc. after epoch 1 |",
             "| --- | --- |" + " --- |" * (len(steps) + 1)]
    for name, curve in curves.items():
        for layer, c in curve.items():
            lines.append(f"| {name} | {layer} | " + " | ".join(f"{c[s]:.1f}" for s in steps) + f" | {acc[name]:.2f} % |")
    lines += ["", "## Why a layer does or does not align: saturation, and W_L against B_{L−1}ᵀ", "",
              "On the held-out batch: mean tanh'(a) per hidden layer (1 = linear, 0 = saturated) at step 0 and after "
              "the epoch; F, the matrix that stands in for the output weights W_L when fc2's error is formed (DFA: "
              "B_{L−1}ᵀ; FA: B_L), against W_L: the scale ‖e·F‖ / ‖e·W_L‖ at step 0 (how much larger the rule's "
              "fc2 error is than BP's) and the angle ∠(W_L, F) after the epoch (≈ 90° at the start: independent "
              "draws).", "",
              "The last column recomputes the end-of-epoch angles in float64 NumPy from the weights alone "
              "(bench/alignment_curves.py `_reference`), against the trainer's float32 measure in the table above.", "",
              "| rule | tanh' fc1 (0 → end) | tanh' fc2 (0 → end) | ‖e·F‖ / ‖e·W_L‖ at step 0 | ∠(W_L, F) at the end "
              "| end angles fc1, fc2: float64 reference |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, (before, after, scale, w_f, ref) in extra.items():
        cells = [f"{before[k]:.2f} → {after[k]:.2f}" for k in before]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {scale:.1f}× | {w_f:.1f}° | "
                     + ", ".join(f"{v:.1f}°" for _, v in sorted(ref.items())) + " |")
    lines += ["", *_verdict(curves, extra, per_epoch), END]
    return lines


ALIGNED_DEG = 80.0  # "has aligned": 10° or more below orthogonal by the end of the epoch


def _verdict(curves, extra, per_epoch) -> list[str]:
    end = {n: {layer: c[per_epoch] for layer, c in curve.items()} for n, curve in curves.items()}
    start = {n: {layer: c[0] for layer, c in curve.items()} for n, curve in curves.items()}
    aligned = [f"{n} {layer}" for n, e in end.items() for layer, v in e.items() if v < ALIGNED_DEG]
    stuck = [f"{n} {layer}" for n, e in end.items() for layer, v in e.items() if v >= ALIGNED_DEG]
    moves = "; ".join(f"{n} {layer} {start[n][layer]:.1f}° → {v:.1f}°" for n, e in end.items() for layer, v in e.items())
    bottom_first = [n for n, e in end.items() if e["fc1"] < e["fc2"]]
    shipped, contrast = "dfa", f"dfa_lr{CONTRAST_LR}"
    b0, a0, s0, w0, r0 = extra[shipped]
    b1, a1, s1, w1, _ = extra[contrast]
    worst = max(abs(ref[layer] - end[n][layer]) for n, (*_, ref) in extra.items() for layer in ref)
    verdict = "holds" if not stuck else ("does not hold here" if not aligned else "holds only for " + ", ".join(aligned))
    return [
        "**Claim (Launay et al.): DFA-family error signals start orthogonal to BP's (≈ 90°) and align within the "
        f"first few hundred steps.** *{verdict[0].upper() + verdict[1:]}* (aligned: below {ALIGNED_DEG:.0f}° after "
        f"the {per_epoch} steps of epoch 1): {moves}.",
        "",
        f"*Why the shipped DFA's fc2 does not align in epoch 1 (and FA's, sDFA's only partly).* Not a measurement "
        f"defect: the float64 NumPy recomputation from the weights alone agrees with the trainer's measure to "
        f"{worst:.1f}° at most (float32 rounding of saturated tanh' values; shipped DFA fc2 "
        f"{r0['fc2']:.1f}° against {end[shipped]['fc2']:.1f}°), and tests/test_alignment.py pins the sign and "
        f"the layer index (W_L = ±B_{{L−1}}ᵀ gives 0°/180° at fc2). At step 0 the shipped DFA's fc2 error e·B₂ᵀ "
        f"is {s0:.1f}× BP's e·W_L (B's entries are U(±1/√C), W_L's U(±1/√800)); at lr 0.3 the first updates drive "
        f"fc2 into tanh's flat part (mean tanh' {b0['fc2']:.2f} → {a0['fc2']:.2f}). A saturated h₂ hardly moves "
        f"along −B₂e, so W_L, trained on h₂, does not pick up B₂ᵀ (∠(W_L, B₂ᵀ) {w0:.1f}° after the epoch) and "
        f"fc2's error stays orthogonal to BP's ({end[shipped]['fc2']:.1f}°). At lr {CONTRAST_LR} fc2 stays "
        f"unsaturated (mean tanh' {a1['fc2']:.2f}), W_L aligns with B₂ᵀ ({w1:.1f}°) and fc2's error reaches "
        f"{end[contrast]['fc2']:.1f}° (fc1 {end[contrast]['fc1']:.1f}°). fc1 ends below fc2 in "
        f"{len(bottom_first)} of {len(end)} runs ({', '.join(bottom_first)}): here the layers align from the "
        "bottom up, the order Refinetti et al. (2021, 'Align, then memorise') report for deep non-linear networks.",
        "",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "validation.md")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    block, seconds = run(args.seed)
    rewrite(args.doc, block)
    print(f"wrote the alignment section of {args.doc} and {PLOT} in {seconds:.0f} s")


if __name__ == "__main__":
    main()
