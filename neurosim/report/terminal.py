"""What a run prints: one progress bar per trained rule, then the headline table.

The bars advance in place (tqdm, redrawn at most twice a second) and show the
epoch and the running training accuracy; nothing is drawn when stderr is not a
terminal.
"""

from __future__ import annotations

import sys

from .cells import cells_text
from .headline import headline_rows, rules_of

__all__ = ["RuleBars", "text_table"]


class RuleBars:
    """``progress(algorithm, step, total_steps, running_accuracy)`` drawing one bar per rule."""

    def __init__(self, epochs: int, *, file=None, min_interval_s: float = 0.5):
        self.epochs = max(1, epochs)
        self.file = file if file is not None else sys.stderr
        self.min_interval_s = min_interval_s
        self.bar = None
        self.name = None

    def __call__(self, name: str, step: int, total: int, accuracy: float | None = None) -> None:
        if self.name != name:
            self.close()
            from tqdm import tqdm

            self.name = name
            self.bar = tqdm(total=total, desc=f"{name:>8}", unit="step", file=self.file, disable=None,
                            mininterval=self.min_interval_s, dynamic_ncols=True, leave=True)
        bar = self.bar
        per_epoch = max(1, total // self.epochs)
        epoch = min(self.epochs, (step - 1) // per_epoch + 1)
        if accuracy is not None:
            bar.set_postfix_str(f"epoch {epoch}/{self.epochs}, train acc {100 * accuracy:.1f} %", refresh=False)
        bar.update(step - bar.n)
        if step >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar = None
        self.name = None


def text_table(summary: dict) -> str:
    """The headline as plain text: a row per figure, a column per rule, ``value (B/X)``."""
    algs = rules_of(summary)
    base = summary.get("baseline")
    head = ["per step unless said", *(f"{a} (baseline)" if a == base else a for a in algs)]
    rows = []
    for row in headline_rows(summary):
        rows.append([row.label, *(c.text + (f" ({c.note.split(' = ')[-1]})" if c.note else "") for c in row.cells.values())])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    if base:
        out.append(f"(in brackets: {base} ÷ rule, above 1× the rule costs less; accuracy: points vs {base})")
    cells = cells_text(summary)
    if cells:
        out += ["", cells]
    for name, alg in summary.get("algorithms", {}).items():
        div = alg.get("diverged")
        if div:
            out.append(f"{name} diverged (epoch {div['epoch']}, step {div['step']}): a non-finite loss stopped it; its accuracy is no result")
    return "\n".join(out)
