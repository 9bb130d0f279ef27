"""A run writes each rule's trained parameters, and a later workload transfers from them."""

from __future__ import annotations

import numpy as np
import yaml
from click.testing import CliRunner

from neurosim.cli import cli
from neurosim.config.workload import load
from neurosim.data import load_dataset
from neurosim.learning import load_checkpoint, train

from .conftest import HW_RRAM, WORKLOADS


def test_run_writes_checkpoints_that_a_transfer_loads(tmp_path, mnist_dir) -> None:
    data = yaml.safe_load((WORKLOADS / "mnist_compare.yaml").read_text())
    data["dataset"].update({"train_limit": 320, "test_limit": 100})
    data["training"]["epochs"] = 1
    data["network"]["layers"] = [784, 32, 10]
    wl_path = tmp_path / "small.yaml"
    wl_path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(HW_RRAM), str(wl_path), "--out", str(out), "--algorithms", "bp"])
    assert result.exit_code == 0, result.output + result.stderr
    saved = load_checkpoint(out / "checkpoint_bp.npz")
    assert {k: v.shape for k, v in saved.items()} == {"fc1.weight": (32, 784), "fc1.bias": (32,), "fc2.weight": (10, 32), "fc2.bias": (10,)}

    # a workload next to the run folder names the checkpoint relative to itself
    data["algorithms"] = [{"name": "sdfa", "fanin": 1, "transfer": {"layers": ["fc1"], "checkpoint": "run/checkpoint_bp.npz"}}]
    (tmp_path / "transfer.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    wl = load(tmp_path / "transfer.yaml")
    assert wl.algorithms[0].transfer.checkpoint == str(out / "checkpoint_bp.npz")
    ds = load_dataset(wl.dataset)
    res = train(wl, wl.algorithms[0], ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    np.testing.assert_array_equal(res.weights["fc1"], saved["fc1.weight"])
    assert not np.array_equal(res.weights["fc2"], saved["fc2.weight"])
