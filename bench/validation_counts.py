"""Regenerate the count-ratio section of docs/validation.md (sparse DFA's cost claims, two accounting views).

Counts only, no training: for 784-400-10 (the authors' mnist_fc.py), 784-800-800-10
(workloads/mnist_compare.yaml), 3072-1000-1000-1000-10 (the authors' cifar10_fc
shape) and the AlexNet classifier head 9216-4096-4096-1000, one training step at
batch 32 of BP, DFA and sparse DFA (s = 1) is counted in neurosim's
architectural view (:mod:`neurosim.counts`) and in the ``ssdfa`` view
(:mod:`neurosim.accounting.ssdfa`), and the BP / X ratios are written between
the markers ``<!-- BEGIN counts -->`` and ``<!-- END counts -->`` of
docs/validation.md (the rest of the file is left as it is; the block is appended
if the markers are missing).

    python bench/validation_counts.py [--doc docs/validation.md]
"""

from __future__ import annotations

import argparse
import inspect
import time
from pathlib import Path

from pydantic import TypeAdapter

from neurosim import counts
from neurosim.accounting import mlp_shapes, ssdfa
from neurosim.config.workload import AlgorithmConfig
from neurosim.config.workload import load as load_workload

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- BEGIN counts -->", "<!-- END counts -->"
BATCH = 32
NETWORKS = {
    "784-400-10": [784, 400, 10],
    "784-800-800-10": load_workload(ROOT / "workloads" / "mnist_compare.yaml").widths,
    "3072-1000-1000-1000-10": [3072, 1000, 1000, 1000, 10],
    "9216-4096-4096-1000": [9216, 4096, 4096, 1000],
}
_algo = TypeAdapter(AlgorithmConfig).validate_python
RULES = {"bp": _algo({"name": "bp"}), "dfa": _algo({"name": "dfa"}), "sdfa": _algo({"name": "sdfa", "fanin": 1})}


def _network_as_taken(fn, position: int, widths: list[int]):
    """The MLP as ``fn`` takes it at argument ``position``: shapes where that parameter is named
    ``shapes`` (the issue-8 API on main), the widths before it."""
    name = list(inspect.signature(fn).parameters)[position]
    return mlp_shapes(widths) if name == "shapes" else widths


def _sum(recs, phases=None, actions=()) -> float:
    return sum(r.count for r in recs if r.action in actions and (phases is None or r.phase in phases))


def figures(widths: list[int]) -> dict[str, dict[str, float]]:
    """Per rule (and sdfa with r = s/C as ``sdfa_fanin``): the figures the tables need."""
    out = {}
    shapes = mlp_shapes(widths)
    for name, algo in [*RULES.items(), ("sdfa_fanin", RULES["sdfa"])]:
        view = ssdfa.step_records(shapes, BATCH, algo, rate="fanin" if name == "sdfa_fanin" else "code")
        arch = counts.step_counts(_network_as_taken(counts.step_counts, 0, widths), BATCH, algo)
        out[name] = {
            "view_fwd": _sum(view, {"forward"}, ("mac_count",)),
            "view_back": _sum(view, {"error", "weight_grad"}, ("mac_count",)),
            "view_fb": _sum(view, {"error"}, ("mac_count",)),
            "view_total": _sum(view, None, ("mac_count",)),
            "view_move": _sum(view, None, ("receive_count", "send_count")),
            "view_mem": _sum(view, None, ("read_count", "write_count")),
            "arch_err": _sum(arch, {"error"}, ("mac",)),
            "arch_back": _sum(arch, {"error", "weight_grad"}, ("mac",)),
            "arch_total": _sum(arch, None, ("mac",)),
            "arch_move": _sum(arch, None, ("deliver_error", "deliver_feedback")),
        }
    return out


def _x(a: float, b: float) -> str:
    r = a / b
    return f"{r:,.0f}×" if r >= 100 else f"{r:.3g}×"


def _n(v: float) -> str:
    return f"{v:,.0f}"


def ratio_tables(figs: dict[str, dict]) -> list[str]:
    lines = [
        "### MAC ratios BP / X",
        "",
        "| network | view | backward BP/DFA | backward BP/sDFA | backward BP/sDFA (r = s/C) | total BP/DFA | total BP/sDFA |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for net, f in figs.items():
        bp, dfa, sd, sdf = f["bp"], f["dfa"], f["sdfa"], f["sdfa_fanin"]
        lines.append(f"| {net} | ssdfa | {_x(bp['view_back'], dfa['view_back'])} | {_x(bp['view_back'], sd['view_back'])} | "
                     f"{_x(bp['view_back'], sdf['view_back'])} | {_x(bp['view_total'], dfa['view_total'])} | {_x(bp['view_total'], sd['view_total'])} |")
        lines.append(f"| {net} | architectural | {_x(bp['arch_back'], dfa['arch_back'])} | {_x(bp['arch_back'], sd['arch_back'])} | "
                     f"(same) | {_x(bp['arch_total'], dfa['arch_total'])} | {_x(bp['arch_total'], sd['arch_total'])} |")
    lines += [
        "",
        "### Data-movement ratios BP / X",
        "",
        "ssdfa view: values received + sent by the layers (`receive_count + send_count`) and weights read +",
        "written (`read_count + write_count`). Architectural view: the neuron-level values delivered to form",
        "the hidden errors (`deliver_error + deliver_feedback`, see docs/counts.md).",
        "",
        "| network | ssdfa moved BP/DFA | ssdfa moved BP/sDFA | ssdfa memory BP/DFA | ssdfa memory BP/sDFA | ssdfa memory BP/sDFA (r = s/C) | neuron-level BP/DFA | neuron-level BP/sDFA |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for net, f in figs.items():
        bp, dfa, sd, sdf = f["bp"], f["dfa"], f["sdfa"], f["sdfa_fanin"]
        lines.append(f"| {net} | {_x(bp['view_move'], dfa['view_move'])} | {_x(bp['view_move'], sd['view_move'])} | "
                     f"{_x(bp['view_mem'], dfa['view_mem'])} | {_x(bp['view_mem'], sd['view_mem'])} | {_x(bp['view_mem'], sdf['view_mem'])} | "
                     f"{_x(bp['arch_move'], dfa['arch_move'])} | {_x(bp['arch_move'], sd['arch_move'])} |")
    lines += [
        "",
        f"### Backward-pass MACs per step (batch {BATCH})",
        "",
        "Backward = error + weight_grad; F = Σ n_{l-1} n_l per sample (forward = weight_grad = B·F in both views).",
        "",
        "| network | F per sample | n_0 n_1 / F | view | BP | DFA | sDFA | sDFA (r = s/C) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for net, f in figs.items():
        widths = NETWORKS[net]
        fwd = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
        share = f"{widths[0] * widths[1] / fwd:.0%}"
        for view, key in (("ssdfa", "view_back"), ("architectural", "arch_back")):
            last = _n(f["sdfa_fanin"][key]) if view == "ssdfa" else "(same)"
            lines.append(f"| {net} | {_n(fwd)} | {share} | {view} | {_n(f['bp'][key])} | {_n(f['dfa'][key])} | {_n(f['sdfa'][key])} | {last} |")
    return lines


def verdicts(figs: dict[str, dict]) -> list[str]:
    def back(net, rule, key):
        return figs[net]["bp"][key] / figs[net][rule][key]

    small, mid, cifar, head = "784-400-10", "784-800-800-10", "3072-1000-1000-1000-10", "9216-4096-4096-1000"
    w = NETWORKS
    mid_err = figs[mid]["bp"]["arch_err"] / BATCH
    head_fb = figs[head]["dfa"]["view_fb"] / BATCH
    head_f = figs[head]["bp"]["view_fwd"] / BATCH
    mlp_ratio = [back(n, "sdfa", "view_back") for n in (small, mid, cifar)]
    return [
        "### Verdicts",
        "",
        "**Claim (Crafton et al. 2019): sparse DFA needs about 2× fewer MACs than BP.** "
        f"*Holds only for the backward pass, in the authors' accounting:* the ssdfa view gives "
        f"{min(mlp_ratio):.3g}–{max(mlp_ratio):.3g}× on the three MLPs (backward BP/sDFA above), "
        f"while the whole step is {back(small, 'sdfa', 'view_total'):.3g}× (784-400-10). "
        f"In neurosim's architectural view it does not hold on any of the four nets: "
        f"{back(small, 'sdfa', 'arch_back'):.3g}× on 784-400-10, {back(mid, 'sdfa', 'arch_back'):.3g}× on 784-800-800-10, "
        f"{back(cifar, 'sdfa', 'arch_back'):.3g}× on 3072-1000-1000-1000-10, {back(head, 'sdfa', 'arch_back'):.3g}× on the AlexNet head.",
        "",
        f"*Why ~1.0× on 784-400-10 and ~1.5× on 784-800-800-10 architecturally.* Both views count the forward and "
        f"weight-gradient MACs alike (F per sample each). They differ in BP's error phase: the authors' code runs the "
        f"transposed multiply on every layer, the first included, so BP's backward is 2F and the ratio is "
        f"2F / (F + feedback) → 2× whenever the feedback is small. neurosim does not compute the input's error, which "
        f"nothing uses, so BP's error is F − n_0 n_1 (only the chain above the first layer). On 784-400-10 that is "
        f"{w[small][1]}·{w[small][2]} = {w[small][1] * w[small][2]:,} per sample — exactly DFA's own feedback "
        f"{w[small][1]}·C = {w[small][1] * w[small][2]:,} (one hidden layer: BP's Wᵀ and DFA's B have the same 400×10 shape), "
        f"so BP and DFA cost the same: 1.0×. The authors' 2× on this net is the 784·400 = {784 * 400:,} MACs per sample of "
        f"the unused input error. On 784-800-800-10 BP's error adds {mid_err:,.0f} per sample (800·800 + 800·10) against "
        f"DFA's 16,000 and sDFA's 1,600, on top of F = 1,275,200: (2F − n_0 n_1) / (F + feedback) ≈ 1.5×.",
        "",
        f"**Claim (docs/counts.md until now): the ratio approaches 2× as the hidden layers widen relative to the input.** "
        f"*Does not hold on the AlexNet head:* there the input layer is {w[head][0] * w[head][1] / head_f:.0%} of F "
        f"(9216·4096 of {head_f:,.0f}), so BP's architectural backward is only (2F − n_0 n_1) = "
        f"{(2 * head_f - w[head][0] * w[head][1]) / head_f:.2f} F, and with C = 1000 classes DFA's feedback "
        f"2·4096·1000 = {head_fb:,.0f} is {head_fb / head_f:.0%} of F: architectural BP/DFA "
        f"{back(head, 'dfa', 'arch_back'):.3g}×, BP/sDFA {back(head, 'sdfa', 'arch_back'):.3g}×; even the ssdfa view falls to "
        f"{back(head, 'dfa', 'view_back'):.3g}× for DFA (and sDFA with the code's rate, r = 0.999). "
        f"The architectural ratio nears 2× only when n_0 n_1 ≪ F and C·Σ_hidden n_l ≪ F (the ssdfa view needs only the second).",
        "",
        "**Claim (Crafton et al. 2019): sparse DFA moves orders of magnitude less data than BP.** "
        f"*Holds in the neuron-level view only:* the values delivered to form the hidden errors fall "
        f"{back(mid, 'sdfa', 'arch_move'):.3g}× on 784-800-800-10 ({back(small, 'sdfa', 'arch_move'):.3g}× on 784-400-10). "
        f"The authors' own movement counter (activations received + sent per layer) gives "
        f"{back(mid, 'sdfa', 'view_move'):.3g}× on 784-800-800-10 and {back(small, 'sdfa', 'view_move'):.3g}× on 784-400-10 — "
        f"not orders of magnitude — and their memory counter (W and B read + written) "
        f"{back(mid, 'sdfa', 'view_mem'):.3g}× ({back(mid, 'sdfa_fanin', 'view_mem'):.3g}× with r = s/C): "
        "there the saving is BP's second read of W, not the sparse feedback.",
        "",
        f"**The feedback rate in FeedbackFC.metrics (r = 1 − s/C).** With s = 1 it counts sparse DFA's feedback at 90 % "
        f"of dense DFA's instead of 10 %. On the MLPs this changes the backward ratio in the third digit "
        f"({back(small, 'sdfa', 'view_back'):.4g}× vs {back(small, 'sdfa_fanin', 'view_back'):.4g}× on 784-400-10); on the AlexNet head "
        f"(C = 1000) it decides between {back(head, 'sdfa', 'view_back'):.3g}× and {back(head, 'sdfa_fanin', 'view_back'):.3g}×.",
    ]


def section() -> list[str]:
    figs = {net: figures(widths) for net, widths in NETWORKS.items()}
    return [
        BEGIN,
        "# Sparse DFA's cost claims: MAC and data-movement ratios in two accounting views",
        "",
        "Generated by `python bench/validation_counts.py` (counts only, no training; about 3 s with Python's start-up) — do not",
        f"edit by hand. One training step at batch {BATCH} of BP, DFA and sparse DFA (s = 1), counted in neurosim's",
        "architectural view (component `network`, docs/counts.md) and in the `ssdfa` view, which restates the",
        "sparse-DFA authors' metrics code (bcrafton/ssdfa, branch metrics2; every rule and its file in",
        "docs/counts.md). The MAC ratios and the ssdfa view's ratios do not depend on the batch (every term scales",
        "with it, or, for the view's memory terms, none does); the neuron-level ratios do (a neuron's feedback row is",
        "delivered once per step). sDFA uses the code's feedback rate r = 1 − s/C unless the column says",
        "r = s/C. Networks: 784-400-10 is the authors' MNIST net (mnist_fc.py), 784-800-800-10 the shipped",
        "workloads/mnist_compare.yaml, 3072-1000-1000-1000-10 the authors' CIFAR-10 MLP shape, 9216-4096-4096-1000",
        "the AlexNet classifier head (C = 1000).",
        "",
        *ratio_tables(figs),
        "",
        *verdicts(figs),
        END,
    ]


def rewrite(doc: Path, block: list[str]) -> None:
    """Replace the text between ``block``'s first and last lines (its markers) in ``doc``, or append ``block``."""
    text = doc.read_text() if doc.exists() else ""
    new = "\n".join(block)
    begin, end = block[0], block[-1]
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + new + rest.split(end, 1)[1]
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + new + "\n"
    doc.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "validation.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rewrite(args.doc, section())
    print(f"wrote the counts section of {args.doc} in {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
