"""The redesign keeps every MLP figure: ledgers and cycles equal those of f5a62d4.

``tests/data/golden`` holds, for both shipped hwconfigs (and rram_tile with its
feedback in crossbars), three MLP shapes and batch sizes and every rule, the
costs.csv rows of one step (the accounting views' rows, added later, are
left out) and the DES cycles, as written by the code before
the issue-8 redesign (commit f5a62d4). Any change to an MLP's counts, mapping,
op graph or timing fails here; a deliberate change regenerates the files and
says why in its commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from neurosim.accounting import VIEW_COMPONENTS
from neurosim.config.hw import load as load_hw
from neurosim.config.network import NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig
from neurosim.pipeline import step_ledger
from neurosim.sim import cost_step

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "data" / "golden"
CYCLES = json.loads((GOLDEN / "cycles.json").read_text())


def _case(tag: str):
    hwname, layers, batch, rule = tag.split("__")
    hw = load_hw(ROOT / "hwconfigs" / ("rram_tile.yaml" if hwname == "rram_fbxbar" else f"{hwname}.yaml"))
    if hwname == "rram_fbxbar":
        hw = hw.model_copy(update={"chip": hw.chip.model_copy(update={"feedback_storage": "crossbar"})})
    name, fanin = (rule[:-1], int(rule[-1])) if rule[-1].isdigit() else (rule, None)
    algo = TypeAdapter(AlgorithmConfig).validate_python({"name": name, **({"fanin": fanin} if fanin else {})})
    widths = [int(v) for v in layers.split("-")]
    shapes = infer_shapes(NetworkConfig(layers=widths), (widths[0],))
    return hw, shapes, int(batch[1:]), algo, f"hwconfigs/{'rram_tile' if hwname == 'rram_fbxbar' else hwname}.yaml"


@pytest.mark.parametrize("tag", sorted(CYCLES))
def test_ledger_and_cycles_unchanged(tag):
    hw, shapes, batch, algo, hw_path = _case(tag)
    cost = cost_step(hw, shapes, batch, algo, steps_per_epoch=250)
    ledger = step_ledger(hw, shapes, batch, algo, cost, hw_path)
    today = ledger[~ledger["component"].isin(VIEW_COMPONENTS)]  # the accounting views are new rows
    text = today.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    assert text == (GOLDEN / f"{tag}.csv").read_text()
    want = CYCLES[tag]
    assert cost.cycles_per_step == want["cycles_per_step"]
    assert cost.cycles_per_epoch == want["cycles_per_epoch"]
    assert cost.phase_cycles == want["phase_cycles"]
