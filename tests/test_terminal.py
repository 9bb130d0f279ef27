"""The terminal: one progress bar per trained rule that advances in place (never
restarts), shows the epoch and the running accuracy, and stays small."""

from __future__ import annotations

import io

from neurosim.report.terminal import RuleBars


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_bar_per_rule_advances_without_restarting():
    out = _Tty()
    bars = RuleBars(epochs=2, file=out)
    total = 3000  # a 2-epoch run of 1,500 steps per epoch, as fast as Python can call it
    for rule in ("bp", "sdfa"):
        for step in range(1, total + 1):
            bars(rule, step, total, step / (2 * total))
    bars.close()
    text = out.getvalue()
    assert len(text.encode()) < 20_000
    for rule in ("bp", "sdfa"):
        assert text.count(f"{rule}:   0%") == 1, rule  # started once, never reset
        assert f"{rule}: 100%" in text and f"{total}/{total}" in text
    assert text.count("epoch 2/2, train acc 50.0 %") == 2


def test_bars_draw_nothing_off_a_terminal():
    out = io.StringIO()
    bars = RuleBars(epochs=1, file=out)
    for step in range(1, 11):
        bars("dfa", step, 10, 0.5)
    bars.close()
    assert out.getvalue() == ""
