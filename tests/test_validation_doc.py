"""docs/validation.md: the conv section is what its generator makes of the stored runs, and
every verdict cites a figure that the same file tabulates."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "validation.md"
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
VERDICT_WORDS = ("holds", "does not hold", "counted only")


def _bench(name: str):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "bench"))


def _numbers(text: str) -> set[str]:
    """The figures in ``text``: numbers with a decimal point or of three digits or more (not counts like 2 or 10)."""
    found = {m.replace(",", "") for m in NUMBER.findall(text)}
    return {n for n in found if "." in n or len(n.lstrip("-")) >= 3}


def _verdicts(text: str) -> list[str]:
    """Paragraphs that state a verdict: those opening with a bold claim or a bold verdict."""
    paragraphs = re.split(r"\n\s*\n", text)
    return [p for p in paragraphs if p.lstrip().startswith(("**Claim", "**Verdict", '"')) and "**" in p]


def test_conv_section_is_the_stored_runs():
    """The conv section is what bench/conv_validation.py makes of bench/results/mnist_conv_compare.json
    (regenerate with `python bench/conv_validation.py` if this fails)."""
    module = _bench("conv_validation")
    stored = json.loads(module.RESULTS.read_text())
    assert {"command", "commit", "date_utc", "wall_seconds", "runs"} <= set(stored)
    assert len({(r["algorithm"], r["seed"]) for r in stored["runs"]}) == len(stored["runs"]) == 15
    block = module.section(stored, module.count_rows(module.load_workload(module.WORKLOAD)))
    assert "\n".join(block) in DOC.read_text()


def test_verdicts_cite_tabulated_figures():
    text = DOC.read_text()
    table_numbers = set()
    for line in text.splitlines():
        if line.startswith("|"):
            table_numbers |= _numbers(line)
    verdicts = _verdicts(text)
    assert len(verdicts) >= 12  # counts 3, rule defaults, fdfa, alignment, bottleneck, conv 5
    for paragraph in verdicts:
        labelled = paragraph.lstrip().startswith("**Verdict:")
        assert labelled or any(word in paragraph.lower() for word in VERDICT_WORDS), paragraph[:120]
        cited = _numbers(paragraph) & table_numbers
        assert cited, f"verdict cites no figure tabulated in docs/validation.md: {paragraph[:120]}"


@pytest.mark.parametrize("paragraph,ok", [
    ("**Claim (X): Y.** *Holds:* 94.82 % against 98.40 %.", True),
    ("**Claim (X): Y.** *Holds:* 12.34 % against 56.78 %.", False),
])
def test_verdict_check_can_fail(paragraph, ok):
    table = "| rule | acc |\n| --- | --- |\n| dfa | 94.82 |\n"
    cited = _numbers(paragraph) & _numbers(table)
    assert bool(cited) == ok
