"""Fixed feedback matrices held in crossbars (``chip.feedback_storage: crossbar`` with
``numerics: device``): their error-phase reads go through the DAC, the cells and the ADC,
checked against by-hand NumPy references, and the trainer routes FA's chain and DFA's
projections through them."""

from __future__ import annotations

import numpy as np
import pytest

from neurosim.config.base import load_model
from neurosim.config.hw import HwConfig
from neurosim.config.workload import Workload
from neurosim.data import load_dataset
from neurosim.learning import train
from neurosim.learning.device import CrossbarDevice

from .conftest import REPO

HW_DEVICE = REPO / "hwconfigs" / "rram_tile_device.yaml"


def _hw(storage: str = "crossbar", error_read: str = "cells", **crossbar) -> HwConfig:
    hw = load_model(HW_DEVICE, HwConfig)
    return hw.model_copy(update={
        "chip": hw.chip.model_copy(update={"feedback_storage": storage}),
        "device": hw.device.model_copy(update={"error_read": error_read}),
        "crossbar": hw.crossbar.model_copy(update=crossbar),
    })


def _dac(signal: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample scale ``max|s_b|`` and the signal on ``2^bits - 1`` magnitude steps of it."""
    scale = np.abs(signal).max(axis=1, keepdims=True).astype(np.float64)
    levels = 2**bits - 1
    return scale, np.sign(signal) * np.floor(np.abs(signal) / scale * levels + 0.5) / levels * scale


def _adc(part: np.ndarray, lsb: np.ndarray, bits: int) -> np.ndarray:
    return np.clip(np.floor(part / lsb + 0.5), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1) * lsb


def test_projection_read_against_numpy() -> None:
    """A direct projection ``e · Bᵀ``: the error on the rows (per-sample scale), ``crossbar.rows``
    classes per array, each array's column sums through a 5-bit ADC, the arrays added."""
    hw = _hw(rows=4, input_bits=3, adc_bits=5)
    dev = CrossbarDevice(hw, np.random.SeedSequence(2))
    rng = np.random.default_rng(3)
    b = rng.uniform(-0.3, 0.3, (12, 10)).astype(np.float32)  # (units, classes)
    reader = dev.program_feedback(b, transposed=False)  # b becomes the programmed cells' values
    signal = rng.normal(0, 0.2, (3, 10)).astype(np.float32)
    scale, sq = _dac(signal, 3)
    ref = np.zeros((3, 12))
    for start in range(0, 10, 4):
        part = sq[:, start:start + 4] @ b[:, start:start + 4].astype(np.float64).T
        lsb = scale * hw.device.adc_full_scale * 4 * hw.device.weight_max / 16
        ref += _adc(part, lsb, 5)
    got = reader(signal)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert np.abs(got - signal @ b.T).max() > 0  # quantised, not exact


def test_chain_read_against_numpy() -> None:
    """FA's ``δ B``: the transposed read, ``crossbar.cols`` rows of ``B`` per array partial sum."""
    hw = _hw(cols=4, input_bits=3, adc_bits=5)
    dev = CrossbarDevice(hw, np.random.SeedSequence(4))
    rng = np.random.default_rng(6)
    b = rng.uniform(-0.3, 0.3, (10, 7)).astype(np.float32)  # W's shape (n_out, n_in)
    reader = dev.program_feedback(b, transposed=True)
    delta = rng.normal(0, 0.3, (2, 10)).astype(np.float32)
    scale, dq = _dac(delta, 3)
    ref = np.zeros((2, 7))
    for start in range(0, 10, 4):
        part = dq[:, start:start + 4] @ b[start:start + 4].astype(np.float64)
        lsb = scale * hw.device.adc_full_scale * 4 * hw.device.weight_max / 16
        ref += _adc(part, lsb, 5)
    np.testing.assert_allclose(reader(delta), ref, rtol=1e-5, atol=1e-6)


def test_exact_error_read_programs_but_reads_in_float() -> None:
    """``error_read: exact``: the matrix still takes the cells' (pulse-level) values, read exactly."""
    dev = CrossbarDevice(_hw(error_read="exact"), np.random.SeedSequence(0))
    b = np.random.default_rng(0).uniform(-0.3, 0.3, (8, 5)).astype(np.float32)
    before = b.copy()
    assert dev.program_feedback(b, transposed=False) is None
    assert len(dev.feedback) == 1 and not np.array_equal(b, before)
    np.testing.assert_array_equal(b, dev.feedback[0].w_eff)


def _workload(name: str) -> Workload:
    return Workload.model_validate({
        "name": "tiny", "seed": 0,
        "dataset": {"name": "mnist", "train_limit": 64, "test_limit": 64},
        "network": {"layers": [784, 24, 16, 10], "activation": "tanh"},
        "training": {"epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "learning_rate": 0.1}},
        "algorithms": [name],
    })


@pytest.mark.parametrize("name, transposed, reads", [("dfa", False, 2), ("fa", True, 2)])
def test_trainer_reads_feedback_through_the_cells(mnist_dir, name: str, transposed: bool, reads: int) -> None:
    """Each step reads every crossbar-held B once (DFA: both hidden projections; FA: the chain
    through B₂ and B₃); with the feedback in SRAM none is read through cells; the two trainings differ."""
    wl = _workload(name)
    data = load_dataset(wl.dataset)
    args = (data.x_train[:64], data.y_train[:64], data.x_test[:64], data.y_test[:64])
    calls = []
    original = CrossbarDevice.program_feedback

    def counted(self, matrix, transposed):
        reader = original(self, matrix, transposed)
        calls.append(transposed)
        return lambda signal: (calls.append("read"), reader(signal))[1]

    CrossbarDevice.program_feedback = counted
    try:
        in_cells = train(wl, wl.algorithm(name), *args, hw=_hw())
        steps_reads = calls.count("read")
        calls.clear()
        in_sram = train(wl, wl.algorithm(name), *args, hw=_hw(storage="sram"))
    finally:
        CrossbarDevice.program_feedback = original
    assert calls == []  # SRAM-held feedback is neither programmed nor read through cells
    assert steps_reads >= reads * (64 // 16)  # every step (alignment probes read it too)
    assert any(not np.array_equal(in_cells.weights[k], in_sram.weights[k]) for k in in_sram.weights)
