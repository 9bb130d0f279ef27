"""Regenerate the rule-defaults section of docs/validation.md: why sign-DFA's start is fragile,
and FA, sign-DFA and DRTP trained at their shipped defaults.

1. One epoch of workloads/mnist_compare.yaml at seed 3 (the seed of issue 10's report)
   with the instrumented loop of bench/sign_dfa_probe.py: sign-DFA at learning rates
   0.3 / 0.03 / 0.003, at 0.3 with feedback_scale 0.03, its constant-free variant, DRTP.
2. sign-DFA at its shipped default, one epoch, seeds 0-4 (is the start still fragile?).
3. FA, sign-DFA and DRTP at their shipped defaults (resolved as ``neurosim run
   --algorithms fa,sign_dfa,drtp`` resolves them), 20 epochs, seed 0, one at a time.

The text between ``<!-- BEGIN rule-defaults -->`` and ``<!-- END rule-defaults -->``
of docs/validation.md is replaced (appended if missing). Took 396 s on the shared
2-core machine under load (three 20-epoch trainings of 80-110 s each, eleven one-epoch ones).

    NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/rule_defaults.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sign_dfa_probe import run_one
from validation_counts import rewrite

from neurosim.config.workload import load as load_workload
from neurosim.data import load_dataset
from neurosim.kernels import single_threaded_blas
from neurosim.learning import train
from neurosim.pipeline import resolve_algorithms

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = ROOT / "workloads" / "mnist_compare.yaml"
BEGIN, END = "<!-- BEGIN rule-defaults -->", "<!-- END rule-defaults -->"
#: (label, rule, learning rate, feedback scale) of the one-epoch probes at seed 3.
PROBES = [
    ("sign-DFA, lr 0.3", "sign_dfa", 0.3, None),
    ("sign-DFA, lr 0.03", "sign_dfa", 0.03, None),
    ("sign-DFA, lr 0.003", "sign_dfa", 0.003, None),
    ("sign-DFA, lr 0.3, feedback_scale 0.03", "sign_dfa", 0.3, 0.03),
    ("sign-DFA without its constant, lr 0.03", "sign_dfa_centred", 0.03, None),
    ("DRTP, lr 0.3", "drtp", 0.3, None),
]
STEPS = (0, 10, 50, 249)
P03, P003, P0003, PSCALE, CENTRED, DRTP = (p[0] for p in PROBES)


def _at(runs, label: str, step: int, key: str, fmt: str = ".3g") -> str:
    return format(runs[label][0][step][key], fmt)


def _acc(runs, label: str) -> str:
    return f"{100 * runs[label][1]:.2f} %"


def _probe_rows(wl, data) -> tuple[list[str], dict[str, tuple[list[dict], float]]]:
    lines = [
        "| run | step | loss | layer-2 units saturated | layer-2 drift | layer-2 spread | ‖h₂‖² | ‖W₁‖ | ‖W₂‖ | ‖W₃‖ | test acc. after 1 epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    runs = {}
    for label, rule, lr, scale in PROBES:
        log, a = run_one(wl, rule, lr, scale, data, every=1, epochs=1)
        runs[label] = (log, a)
        for row in (log[s] for s in STEPS):
            lines.append(f"| {label} | {row['step']} | {row['loss']:.3g} | {row['sat2']:.0%} | {row['drift2']:.3g} | {row['spread2']:.3g} | "
                         f"{row['hsq']:.3g} | {row['w1']:.3g} | {row['w2']:.3g} | {row['w3']:.3g} | "
                         f"{f'{100 * a:.2f} %' if row['step'] == STEPS[-1] else ''} |")
    return lines, runs


def _check_narrative(runs) -> None:
    """The text below states these; stop rather than write it if the figures no longer say so."""
    def at(label, step, key):
        return runs[label][0][step][key]

    checks = {
        "lr 0.3: drift > spread after 10 steps": at(P03, 10, "drift2") > at(P03, 10, "spread2"),
        "lr 0.3 ends near chance": runs[P03][1] < 0.2,
        "DRTP ends with spread > drift": at(DRTP, 249, "spread2") > at(DRTP, 249, "drift2"),
        "lr 0.003: drift > spread at the end": at(P0003, 249, "drift2") > at(P0003, 249, "spread2"),
        "feedback_scale 0.03 at lr 0.3 ends near chance": runs[PSCALE][1] < 0.2,
        "the constant-free variant beats sign-DFA at lr 0.03": runs[CENTRED][1] > runs[P003][1],
        "the constant-free variant ends with spread > drift": at(CENTRED, 249, "spread2") > at(CENTRED, 249, "drift2"),
    }
    failed = [k for k, ok in checks.items() if not ok]
    if failed:
        raise SystemExit(f"bench/rule_defaults.py: the figures no longer support the text: {'; '.join(failed)}")


def _seeds_row(wl, data) -> str:
    algo = resolve_algorithms(wl, ["sign_dfa"])[0]
    accs = []
    for seed in range(5):
        w = wl.model_copy(update={"seed": seed, "training": wl.training.model_copy(update={"epochs": 1})})
        accs.append(train(w, algo, data.x_train, data.y_train, data.x_test, data.y_test).final_test_accuracy)
    return (f"sign-DFA at its shipped default (learning_rate {algo.learning_rate}, feedback_scale {algo.feedback_scale}), "
            f"one epoch, seeds 0-4: " + ", ".join(f"{100 * a:.2f} %" for a in accs) + ".")


def _defaults_table(wl, data) -> list[str]:
    lines = [
        "| rule | learning_rate | feedback_scale | epoch 1 | epoch 5 | epoch 10 | epoch 20 | train seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for algo in resolve_algorithms(wl, ["fa", "sign_dfa", "drtp"]):
        t0 = time.perf_counter()
        hist = train(wl, algo, data.x_train, data.y_train, data.x_test, data.y_test).history
        lr = algo.learning_rate if algo.learning_rate is not None else f"{wl.training.optimizer.learning_rate} (shared)"
        cells = " | ".join(f"{100 * hist[e - 1].test_accuracy:.2f} %" for e in (1, 5, 10, 20))
        lines.append(f"| {algo.name} | {lr} | {algo.feedback_scale} | {cells} | {time.perf_counter() - t0:.0f} |")
    return lines


def section(wl, data) -> list[str]:
    t0 = time.perf_counter()
    probe, runs = _probe_rows(wl.model_copy(update={"seed": 3}), data)
    _check_narrative(runs)
    seeds = _seeds_row(wl, data)
    defaults = _defaults_table(wl, data)
    minutes = (time.perf_counter() - t0) / 60
    return [
        BEGIN,
        "# Every rule learns at its shipped defaults; why sign-DFA's start is fragile",
        "",
        f"Generated by `NEUROSIM_DATA_DIR=../shared/data/mnist-10k python bench/rule_defaults.py` ({minutes:.0f} min on the",
        "shared machine) — do not edit by hand. Network and data: workloads/mnist_compare.yaml (784-800-800-10, tanh,",
        "plain SGD, batch 32) on mnist-10k (8,000 training / 2,000 test images).",
        "",
        "## FA, sign-DFA and DRTP at their shipped defaults (20 epochs, seed 0)",
        "",
        "Each rule as `neurosim run hwconfigs/rram_tile.yaml workloads/mnist_compare.yaml --algorithms fa,sign_dfa,drtp`",
        "resolves it (a rule the workload does not list gets its config class's defaults); test accuracy after the epoch.",
        "",
        *defaults,
        "",
        seeds,
        "",
        "**Verdict: every one of these rules learns at its shipped default.** FA and DRTP need nothing of their own",
        "(the workload's learning rate 0.3); sign-DFA's config class sets `learning_rate: 0.05`, because of the",
        "property below. The default is tuned for plain SGD on this MLP; a workload that sets its own optimizer",
        "(e.g. Adam) should set sign-DFA's `learning_rate` too.",
        "",
        "## Why sign-DFA fails at the shared learning rate: a property of the rule, not a defect",
        "",
        "One epoch at seed 3, instrumented (`bench/sign_dfa_probe.py`, whose loop reproduces `neurosim.learning.train`",
        "bit for bit). Per step, on a fixed probe batch of 512 training images: the fraction of layer-2 units with",
        "|tanh| > 0.99; the *drift* (mean over units of |mean over samples of the pre-activation|: the part every",
        "sample shares) and the *spread* (mean over units of the pre-activation's standard deviation over samples: the",
        "part that carries the input); ‖h₂‖², the squared norm of the output layer's input; the weights' norms.",
        "Step 0 is after the first update.",
        "",
        *probe,
        "",
        "What the figures show (step 249 is the epoch's last):",
        "",
        "1. **The signal never shrinks and is mostly a constant.** e = softmax(z) − onehot(y) is positive on the C − 1",
        "   wrong classes (short of float32 underflow) and negative on the label, so sign(e) = 1 − 2·onehot(y): fixed by",
        "   the label, norm √C = 3.16",
        "   however well the net already classifies (DFA's e shrinks as it learns). A hidden unit's error is",
        "   (B_l·1 − 2·B_l y) ⊙ f'(a): a per-unit constant c = Σ_c B_ic, the same for every sample, plus DRTP's term",
        "   times −2. The constant does not cancel in the batch mean (e's entries sum to zero per sample; sign(e)'s",
        "   do not) and MNIST pixels are non-negative, so each update moves every sample's pre-activation the same way:",
        f"   at lr 0.3 layer 2's drift is {_at(runs, P03, 10, 'drift2')} against a spread of {_at(runs, P03, 10, 'spread2')} after 10 steps,",
        f"   and {_at(runs, P03, 10, 'sat2', '.0%')} of its units are saturated.",
        "2. **Saturated to one shared sign pattern, layer 2 tells the output layer nothing.** When the drift dwarfs",
        f"   the spread every image gives nearly the same ±1 vector h₂ (‖h₂‖² ≈ {_at(runs, P03, 249, 'hsq', '.0f')} of 800): the output layer's",
        "   gradient Σ_b e_b h₂ᵀ is then (Σ_b e_b)·h₂ᵀ, which only fits the class prior, and with lr·‖h₂‖² ≫ 1 plain SGD",
        f"   on it overshoots (loss {_at(runs, P03, 10, 'loss', '.0f')} at step 10, {_at(runs, P03, 249, 'loss', '.0f')} at step 249): chance accuracy ({_acc(runs, P03)}).",
        f"   DRTP saturates layer 2 as well ({_at(runs, DRTP, 249, 'sat2', '.0%')} at step 249) but its spread overtakes its drift",
        f"   ({_at(runs, DRTP, 249, 'spread2')} vs {_at(runs, DRTP, 249, 'drift2')}): its units saturate to input-dependent signs and the output",
        f"   layer recovers (loss {_at(runs, DRTP, 249, 'loss')}, {_acc(runs, DRTP)}).",
        "3. **A smaller feedback scale does not help; a smaller step helps only so far.** sign(e) never shrinks, so",
        f"   the drift only accumulates more slowly: feedback_scale 0.03 at lr 0.3 ends at {_acc(runs, PSCALE)}. At lr 0.003 the",
        f"   drift still outgrows the spread ({_at(runs, P0003, 249, 'drift2')} vs {_at(runs, P0003, 249, 'spread2')}) and saturates {_at(runs, P0003, 249, 'sat2', '.0%')} of layer 2 while",
        f"   ‖W₃‖ has hardly moved ({_at(runs, P0003, 0, 'w3')} → {_at(runs, P0003, 249, 'w3')}): {_acc(runs, P0003)}. lr 0.03 sits between ({_acc(runs, P003)}).",
        "4. **The constant is the culprit.** The same rule with the constant removed (signal −2·onehot(y), i.e. DRTP",
        f"   with twice its step) ends with its spread above its drift ({_at(runs, CENTRED, 249, 'spread2')} vs {_at(runs, CENTRED, 249, 'drift2')}) and reaches",
        f"   {_acc(runs, CENTRED)} at lr 0.03, where sign-DFA reaches {_acc(runs, P003)}.",
        "",
        "neurosim computes the rule as defined: its hidden errors match a NumPy reference",
        "(`tests/test_learning.py::test_rule_deltas_match_numpy[sign_dfa]`). That the error's sign is fixed by a one-hot",
        "target is the observation behind DRTP (Frenkel et al. 2021), which keeps the label term and drops the",
        "constant. Under plain SGD with one learning rate for all layers sign-DFA needs a step small enough that the",
        "output layer stays stable once the hidden layers saturate, hence its own default.",
        END,
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "validation.md")
    args = ap.parse_args()
    wl = load_workload(WORKLOAD)
    data = load_dataset(wl.dataset)
    t0 = time.perf_counter()
    with single_threaded_blas():
        block = section(wl, data)
    rewrite(args.doc, block)
    print(f"wrote the rule-defaults section of {args.doc} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
