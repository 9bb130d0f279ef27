"""Shared fixtures: the real MNIST subset and the shipped configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "data" / "mnist-10k"
HW_RRAM = REPO / "hwconfigs" / "rram_tile.yaml"
HW_DIGITAL = REPO / "hwconfigs" / "sram_digital.yaml"
WORKLOADS = REPO / "workloads"


def small_workload(folder: Path, shipped: str) -> Path:
    """``workloads/<shipped>`` on a slice of the MNIST subset (320 training, 200 test images, 2
    epochs), written into ``folder``; skips the test if the subset is missing."""
    import yaml

    if not (DATA_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("MNIST subset not found")
    data = yaml.safe_load((WORKLOADS / shipped).read_text())
    data["dataset"].update({"data_dir": str(DATA_DIR), "train_limit": 320, "test_limit": 200})
    data["training"]["epochs"] = 2
    path = folder / "wl.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def mnist_dir(monkeypatch) -> Path:
    """Point the loader at ../shared/data/mnist-10k through NEUROSIM_DATA_DIR."""
    if not (DATA_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST subset not found at {DATA_DIR}")
    monkeypatch.setenv("NEUROSIM_DATA_DIR", str(DATA_DIR))
    return DATA_DIR


@pytest.fixture
def train_calls(monkeypatch) -> list[str]:
    """The rule names the sweep's tasks train, in order (``neurosim.sweep.tasks.train`` wrapped)."""
    import neurosim.sweep.tasks as tasks

    calls: list[str] = []
    real = tasks.train

    def counting(wl, algo, *args, **kwargs):
        calls.append(algo.name)
        return real(wl, algo, *args, **kwargs)

    monkeypatch.setattr(tasks, "train", counting)
    return calls
