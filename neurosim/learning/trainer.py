"""Mini-batch training of an :class:`MLP` with one learning rule.

Randomness: ``SeedSequence(workload.seed)`` is split into independent streams
for the weight init, the rule (its feedback and its own sampling, see
:func:`make_rule`) and the epoch shuffles. So every rule of one workload starts from the same
weights and sees the same batches, and the same seed gives bit-identical results, on any machine (one BLAS thread).

Per epoch the record holds the mean training loss and the accuracy on the
training batches as they were seen (before each batch's update), the test
accuracy after the epoch, and per hidden layer the alignment angle
``∠(ΔW_l^rule, ΔW_l^BP)`` in degrees, measured after the epoch on a fixed probe
batch (the first :data:`PROBE_SIZE` training samples).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from neurosim.config.hw import HwConfig
from neurosim.config.workload import AlgorithmConfig, Workload
from neurosim.kernels import single_threaded_blas, softmax_cross_entropy, weight_grad

from .device import CrossbarDevice, LayerWriteStats
from .network import MLP, ForwardCache
from .optim import make_optimizer
from .rules import BP, DFA, FA, FDFA, Rule, SparseDFA, make_rule

__all__ = ["EpochRecord", "Divergence", "TrainResult", "train", "alignment_deg", "PROBE_SIZE"]

#: Training samples (the first ones) on which the alignment angles are measured.
PROBE_SIZE = 512


@dataclass(frozen=True)
class EpochRecord:
    """Metrics after epoch ``epoch`` (1-based); accuracies are fractions in [0, 1]."""

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    alignment_deg: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Divergence:
    """Where training stopped because the loss became non-finite (1-based epoch; step counted over the run)."""

    epoch: int
    step: int


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`: history, final accuracy, step count and trained parameters."""

    algorithm: str
    history: list[EpochRecord]
    final_test_accuracy: float
    steps: int
    weights: dict[str, np.ndarray]
    biases: dict[str, np.ndarray]
    #: Set when a non-finite loss stopped training (history holds the epochs completed
    #: before it; ``final_test_accuracy`` is NaN).
    diverged: Divergence | None = None
    #: Per weight layer, the cells' programming over the run (``numerics: device`` only).
    device_writes: tuple[LayerWriteStats, ...] = ()


def _gradients(cache: ForwardCache, deltas: list[np.ndarray]) -> list[np.ndarray]:
    """``[ΔW_1, Δb_1, ..., ΔW_L, Δb_L]`` with ``ΔW_l = δ_lᵀ h_{l-1} / B``."""
    grads: list[np.ndarray] = []
    for delta, h_in in zip(deltas, cache.h):
        dw, db = weight_grad(delta, h_in)
        grads += [dw, db]
    return grads


def _angle_deg(u: np.ndarray, v: np.ndarray) -> float:
    """Angle between two arrays seen as vectors, in degrees (float64 accumulation)."""
    a = u.ravel().astype(np.float64)
    b = v.ravel().astype(np.float64)
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    if norm == 0.0:
        return 90.0
    return float(np.degrees(np.arccos(np.clip(a @ b / norm, -1.0, 1.0))))


def alignment_deg(net: MLP, rule: Rule, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Per hidden layer ``fc1..fc{L-1}``: angle between the rule's ``ΔW_l`` and BP's on ``(x, y)``.

    Empty for BP itself. A zero update (e.g. FDFA before any feedback is learned)
    counts as 90°.
    """
    if type(rule) is BP:
        return {}
    cache = net.forward(x)
    _, e = softmax_cross_entropy(cache.logits, y)
    true = BP().hidden_errors(net, cache, e, y)
    est = rule.hidden_errors(net, cache, e, y)
    return {
        name: _angle_deg(weight_grad(d_rule, h_in)[0], weight_grad(d_bp, h_in)[0])
        for name, d_rule, d_bp, h_in in zip(net.names, est, true, cache.h)
    }


def train(
    workload: Workload,
    algo: AlgorithmConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    progress: Callable[[int, int, float], None] | None = None,
    hw: HwConfig | None = None,
) -> TrainResult:
    """Train ``workload.network`` with rule ``algo``; see the module docstring.

    ``x_*`` are (N, n_0) arrays (converted to float32 C-contiguous), ``y_*``
    integer class labels. ``progress(step, total_steps, running_train_accuracy)`` is
    called after every step (the accuracy on the epoch's batches so far).
    BLAS runs on one thread (see :mod:`neurosim.kernels.blas`), so the result
    does not depend on the machine's core count. With ``hw.numerics == "device"``
    the weights train through the crossbar cells (:class:`CrossbarDevice`).
    """
    device = None
    if hw is not None and hw.numerics == "device":
        device = CrossbarDevice(hw, np.random.SeedSequence([workload.seed, 0xDE71CE]))
    with single_threaded_blas():
        return _train(workload, algo, x_train, y_train, x_test, y_test, progress, device)


def _feedback_in_crossbars(rule: Rule, hw_feedback_storage: str) -> list[np.ndarray]:
    """Fixed feedback matrices the chip holds in crossbars: FA's always, the DFA family's if so configured."""
    if isinstance(rule, FA):
        return rule.feedback
    if hw_feedback_storage == "crossbar" and isinstance(rule, DFA) and not isinstance(rule, FDFA):
        return rule.val if isinstance(rule, SparseDFA) else rule.feedback
    return []


def _train(workload, algo, x_train, y_train, x_test, y_test, progress, device=None) -> TrainResult:
    x_train = np.ascontiguousarray(x_train, dtype=np.float32)
    x_test = np.ascontiguousarray(x_test, dtype=np.float32)
    y_train = np.ascontiguousarray(y_train, dtype=np.int64)
    y_test = np.ascontiguousarray(y_test, dtype=np.int64)

    init_ss, rule_ss, shuffle_ss = np.random.SeedSequence(workload.seed).spawn(3)
    net = MLP(workload.network, np.random.default_rng(init_ss), workload.widths[0])
    rule = make_rule(algo, net, rule_ss)
    if device is not None:  # device hook 0: program W and crossbar-held feedback into the cells
        device.program_weights(net)
        device.program_feedback(_feedback_in_crossbars(rule, device.feedback_storage))
    forward = net.forward if device is None else (lambda x: device.forward(net, x))
    predict = net.predict if device is None else (lambda x: device.predict(net, x))
    params = [p for pair in zip(net.weights, net.biases) for p in pair]
    opt_cfg = workload.training.optimizer
    if algo.learning_rate is not None:
        opt_cfg = opt_cfg.model_copy(update={"learning_rate": algo.learning_rate})
    optimizer = make_optimizer(opt_cfg, params)
    shuffle = np.random.default_rng(shuffle_ss)

    n = x_train.shape[0]
    batch = workload.training.batch_size
    epochs = workload.training.epochs
    per_epoch = -(-n // batch)
    total = per_epoch * epochs
    probe_x, probe_y = x_train[:PROBE_SIZE], y_train[:PROBE_SIZE]

    history: list[EpochRecord] = []
    step = 0
    diverged = None
    for epoch in range(1, epochs + 1):
        order = shuffle.permutation(n)
        loss_sum = 0.0
        correct = 0
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            xb, yb = x_train[idx], y_train[idx]
            cache = forward(xb)  # device hook 1: the MVM reads
            loss, e = softmax_cross_entropy(cache.logits, yb)
            if not np.isfinite(loss):  # divergence: stop this rule at once, say where
                diverged = Divergence(epoch=epoch, step=step + 1)
                break
            loss_sum += loss * len(idx)
            correct += int(np.count_nonzero(cache.logits.argmax(axis=1) == yb))
            deltas = rule.errors(net, cache, e, yb)
            rule.learn_feedback(net, cache)
            optimizer.step(_gradients(cache, deltas))
            if device is not None:  # device hook 2: the update sent as pulses
                device.write(net.weights)
            step += 1
            if progress is not None:
                progress(step, total, correct / (start + len(idx)))
        if diverged is not None:
            break
        history.append(
            EpochRecord(
                epoch=epoch,
                loss=loss_sum / n,
                train_accuracy=correct / n,
                test_accuracy=float(np.mean(predict(x_test) == y_test)),
                alignment_deg=alignment_deg(net, rule, probe_x, probe_y),
            )
        )
    return TrainResult(
        algorithm=algo.name,
        history=history,
        final_test_accuracy=float("nan") if diverged is not None else history[-1].test_accuracy,
        steps=step,
        weights=dict(zip(net.names, net.weights)),
        biases=dict(zip(net.names, net.biases)),
        diverged=diverged,
        device_writes=tuple(device.stats()) if device is not None else (),
    )
