"""A sweep over a conv workload whose algorithm list carries a labelled entry.

The sweep keys, caches, selects and reports each entry by its run name
(``AlgorithmConfig.run_name``: the label, else the rule's name). References: the
labelled entry trained directly (``neurosim.learning.train``) and costed directly
(``neurosim.sim.cost_step``) at each crossbar size.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from neurosim.config.base import load_model
from neurosim.config.hw import HwConfig
from neurosim.config.workload import Workload
from neurosim.data import load_dataset
from neurosim.learning import train
from neurosim.sim import cost_step
from neurosim.sweep import SweepError, SweepSpec, run_sweep
from neurosim.sweep.runner import numerics_key

from .conftest import HW_RRAM

TINY_CONV = {
    "name": "tiny_conv",
    "seed": 0,
    "dataset": {"name": "mnist", "train_limit": 128, "test_limit": 64},
    "network": {
        "layers": [
            {"kind": "conv2d", "channels": 4, "kernel": 5},
            {"kind": "maxpool", "kernel": 2},
            {"kind": "flatten"},
            {"kind": "dense", "units": 10},
        ],
        "activation": "relu",
    },
    "training": {"epochs": 1, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 0.05}},
    "algorithms": [{"name": "bp"}, {"name": "dfa"}, {"name": "dfa", "label": "dfa_wide", "feedback_scale": 4.0}],
}


@pytest.fixture
def tiny_conv(tmp_path, mnist_dir) -> Path:
    p = tmp_path / "tiny_conv.yaml"
    p.write_text(yaml.safe_dump(TINY_CONV, sort_keys=False))
    return p


def test_conv_sweep_runs_labelled_entry_by_its_run_name(tmp_path, tiny_conv):
    out = tmp_path / "sw"
    spec = SweepSpec.from_cli(HW_RRAM, tiny_conv, ["crossbar.rows=64,128"], algorithms=["bp", "dfa_wide"], out=out, executor="serial")
    df = run_sweep(spec)

    assert df["algorithm"].tolist() == ["bp", "dfa_wide", "bp", "dfa_wide"]
    assert df["crossbar.rows"].tolist() == [64, 64, 128, 128]
    assert (df["status"] == "ok").all(), df["error"].tolist()
    # one training run per entry, reused at both chip points
    assert len(list((out / "numerics").glob("*.json"))) == 2
    assert df.groupby("algorithm")["test_accuracy"].nunique().eq(1).all()

    wl = load_model(tiny_conv, Workload)
    wide = wl.algorithm("dfa_wide")
    data = load_dataset(wl.dataset, base_dir=str(tiny_conv.parent))
    res = train(wl, wide, data.x_train, data.y_train, data.x_test, data.y_test)
    got = df[df["algorithm"] == "dfa_wide"]["test_accuracy"].iloc[0]
    assert got == pytest.approx(float(res.final_test_accuracy), abs=0.0)

    hw0 = load_model(HW_RRAM, HwConfig)
    for rows in (64, 128):
        hw = hw0.model_copy(update={"crossbar": hw0.crossbar.model_copy(update={"rows": rows})})
        ref = cost_step(hw, wl.shapes, wl.training.batch_size, wide, steps_per_epoch=math.ceil(128 / 32))
        row = df[(df["algorithm"] == "dfa_wide") & (df["crossbar.rows"] == rows)].iloc[0]
        assert row["cycles_per_step"] == float(ref.cycles_per_step)
        assert row["steps_per_epoch"] == 4

    # the rerun finds every point done under the same run names (nothing retrained)
    again = run_sweep(SweepSpec.from_cli(HW_RRAM, tiny_conv, ["crossbar.rows=64,128"], algorithms=["bp", "dfa_wide"], out=out, executor="serial"))
    assert again.equals(df)


def test_labels_select_and_key_entries(tiny_conv):
    wl = load_model(tiny_conv, Workload)
    did = {"n_train": 128, "source_dir": "x"}
    plain, wide = wl.algorithm("dfa"), wl.algorithm("dfa_wide")
    # the label is a name, not a setting: the same config under another name is the same training run
    assert numerics_key(wl, wide, did) == numerics_key(wl, wide.model_copy(update={"label": "other"}), did)
    assert numerics_key(wl, wide, did) != numerics_key(wl, plain, did)
    with pytest.raises(SweepError, match=r"algorithms: expected names from .*the workload's labels dfa_wide; got \['bp', 'dfa_narrow'\]"):
        SweepSpec.from_cli(HW_RRAM, tiny_conv, ["crossbar.rows=64"], algorithms=["bp", "dfa_narrow"])
