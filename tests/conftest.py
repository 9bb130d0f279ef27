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
