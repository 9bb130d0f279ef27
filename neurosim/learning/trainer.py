"""Mini-batch training of a :class:`Network` with one learning rule.

Randomness: ``SeedSequence(workload.seed)`` is split into independent streams
for the weight init, the rule (its feedback and its own sampling, see
:func:`make_rule`), the epoch shuffles and the BP pre-training of a transfer. So every
rule of one workload starts from the same weights and sees the same batches, and the
same seed gives bit-identical results, on any machine (one BLAS thread).

Per epoch the record holds the mean training loss and the accuracy on the
training batches as they were seen (before each batch's update), the test
accuracy after the epoch (batchnorm in eval mode), and per trainable hidden weight
layer the alignment angle ``∠(ΔW_l^rule, ΔW_l^BP)`` in degrees, measured after the
epoch on a fixed probe batch (the first :data:`PROBE_SIZE` training samples). The
error-signal alignment of Launay et al. (per layer, at step 0 and every
``training.alignment_every`` steps, on a held-out batch) is :attr:`TrainResult.alignment`
(see :mod:`.alignment`).

Transfer (:class:`~neurosim.config.workload.TransferConfig`): the listed layers are
loaded from the checkpoint, or taken from the same network trained by BP for
``bp_epochs`` first (from the same initial weights), and frozen: the optimizer does not
see them and a frozen batchnorm runs in eval mode. The other layers start from their
initial weights.

Divergence: a non-finite loss stops the rule at once; :attr:`TrainResult.diverged`
says where (the history keeps the epochs completed before it).

Device numerics (``hw.numerics == "device"``, :mod:`.device`): the dense weight
layers are programmed into RRAM cells after the rule is built (hook 0), every MVM of
the forward pass and BP's transposed read of W go through the DAC, read noise and the
ADC (hook 1: readers attached to each dense layer), and every optimizer step is sent to
the cells as pulses, the weights becoming what the cells reached (hook 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np

from neurosim.config.hw import HwConfig
from neurosim.config.workload import AlgorithmConfig, BPConfig, Workload
from neurosim.errors import ConfigError
from neurosim.kernels import sgd_step, single_threaded_blas, softmax_cross_entropy
from neurosim.kernels.stats import estimator_sums

from .alignment import HELD_OUT_SIZE, AlignmentRecord, measures_at
from .alignment import measure as measure_alignment
from .checkpoint import load_checkpoint
from .device import CrossbarDevice, LayerWriteStats
from .network import ForwardCache, Network
from .optim import SGD, make_optimizer
from .rules import Backward, Rule, bp_rule, make_rule

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
    """Where a non-finite loss stopped training: 1-based epoch, and step of the run."""

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
    #: Every named array (``<layer>.weight``, ``.bias``, batchnorm's), as a checkpoint holds them.
    state: dict[str, np.ndarray] = field(default_factory=dict)
    #: Set when a non-finite loss stopped training (``final_test_accuracy`` is then NaN).
    diverged: Divergence | None = None
    #: Per weight layer, the cells' programming over the run (``numerics: device`` only).
    device_writes: tuple[LayerWriteStats, ...] = ()
    #: The error-signal alignment per layer over the run (:mod:`.alignment`).
    alignment: tuple[AlignmentRecord, ...] = ()


def _angle_deg(u: np.ndarray, v: np.ndarray) -> float:
    """Angle between two arrays seen as vectors, in degrees (float64 accumulation)."""
    vv, uu, uv, _, _ = estimator_sums(u.reshape(1, -1), v.reshape(-1))
    norm = np.sqrt(uu[0]) * np.sqrt(vv)
    if norm == 0.0:
        return 90.0
    return float(np.degrees(np.arccos(np.clip(uv[0] / norm, -1.0, 1.0))))


def alignment_deg(net: Network, rule: Rule, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Per trainable hidden weight layer: angle between the rule's ``ΔW_l`` and BP's on ``(x, y)``.

    Empty for a rule whose every error comes by the BP chain. A zero update (e.g. FDFA
    before any feedback is learned) counts as 90°. Batchnorm running statistics are not moved.
    """
    if rule.flow.path == "chain" and rule.flow.chain_matrix == "W":
        return {}
    cache = net.forward(x, train=True, update=False)
    _, e = softmax_cross_entropy(cache.logits, y)
    true = bp_rule(net).backward(net, cache, e.copy(), y, weight_grads=False)
    est = rule.backward(net, cache, e.copy(), y, np.random.default_rng(0), weight_grads=False)  # own tangents
    out = {}
    for i, (j, plan) in enumerate(zip(net.weight_positions[:-1], rule.plan[:-1])):
        if plan.trainable and est.deltas[i] is not None:
            layer, c = net.layers[j], cache.layers[j]
            out[layer.name] = _angle_deg(layer.param_grads(est.deltas[i], c)[0], layer.param_grads(true.deltas[i], c)[0])
    return out


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
    diagnostics: bool = True,
) -> TrainResult:
    """Train ``workload.network`` with rule ``algo``; see the module docstring.

    ``x_*`` are (N, n_0) arrays of flattened samples (converted to float32
    C-contiguous), ``y_*`` integer class labels. ``progress(step, total_steps,
    running_train_accuracy)`` is called after every step (BP pre-training steps
    included). BLAS runs on one thread (see :mod:`neurosim.kernels.blas`), so the
    result does not depend on the machine. With ``hw.numerics == "device"`` the weights
    train through the crossbar cells (:class:`CrossbarDevice`). ``diagnostics=False``
    skips the alignment measures (:attr:`TrainResult.alignment` and each epoch's
    ``alignment_deg`` stay empty): with exact numerics they read the network with their
    own generators and never change it, so the training is bit-identical either way (a
    sweep, which reports neither, trains this way). With device numerics their reads
    draw read noise from the cells' stream, so they are part of the training and always run.
    """
    device = None
    if hw is not None and hw.numerics == "device":
        device = CrossbarDevice(hw, np.random.SeedSequence([workload.seed, 0xDE71CE]),
                                steps_per_epoch=-(-x_train.shape[0] // workload.training.batch_size),
                                batch_size=workload.training.batch_size)
    with single_threaded_blas():
        return _train(workload, algo, x_train, y_train, x_test, y_test, progress, device, diagnostics or device is not None)


def _train(workload, algo, x_train, y_train, x_test, y_test, progress, device, diagnostics=True) -> TrainResult:
    x_train = np.ascontiguousarray(x_train, dtype=np.float32)
    x_test = np.ascontiguousarray(x_test, dtype=np.float32)
    y_train = np.ascontiguousarray(y_train, dtype=np.int64)
    y_test = np.ascontiguousarray(y_test, dtype=np.int64)
    init_ss, rule_ss, shuffle_ss, pretrain_ss = np.random.SeedSequence(workload.seed).spawn(4)
    data = (x_train, y_train, x_test, y_test)
    per_epoch = -(-x_train.shape[0] // workload.training.batch_size)
    transfer = algo.transfer
    pre_epochs = transfer.bp_epochs if transfer is not None and transfer.bp_epochs else 0
    counter = _Progress(progress, per_epoch * (pre_epochs + workload.training.epochs))

    net = Network(workload.network, workload.dataset.input_shape, np.random.default_rng(init_ss))
    if transfer is not None:
        if transfer.checkpoint is not None:
            source = load_checkpoint(transfer.checkpoint)
        else:
            teacher = Network(workload.network, workload.dataset.input_shape, np.random.default_rng(init_ss))
            bp = BPConfig(name="bp", learning_rate=transfer.learning_rate or algo.learning_rate)
            _fit(workload, bp, teacher, make_rule(bp, teacher, pretrain_ss), np.random.default_rng(pretrain_ss),
                 data, pre_epochs, counter, record=False, device=None)
            source = teacher.state()
        _freeze(net, transfer.layers, source, transfer.checkpoint or f"{algo.name} BP pre-training")
    rule = make_rule(algo, net, rule_ss)
    if device is not None:  # device hook 0: program W and crossbar-held feedback into the cells
        device.program_weights(net)
        _feedback_in_crossbars(rule, device)
        device.attach(net)  # hook 1: every dense layer's MVM reads the cells
    history, diverged, alignment = _fit(workload, algo, net, rule, np.random.default_rng(shuffle_ss), data,
                             workload.training.epochs, counter, record=True, device=device, diagnostics=diagnostics)
    names = net.names
    return TrainResult(
        algorithm=algo.run_name,
        history=history,
        final_test_accuracy=float("nan") if diverged is not None else history[-1].test_accuracy,
        steps=counter.step - per_epoch * pre_epochs,
        weights={n: layer.weight for n, layer in zip(names, net.weight_layers)},
        biases={n: layer.bias for n, layer in zip(names, net.weight_layers)},
        state=net.state(),
        diverged=diverged,
        device_writes=tuple(device.stats()) if device is not None else (),
        alignment=tuple(alignment),
    )


def _feedback_in_crossbars(rule: Rule, device: CrossbarDevice) -> None:
    """Program the fixed feedback matrices the chip holds in crossbars (as the mapping places
    them: ``chip.feedback_storage: crossbar`` and the rule's ``feedback_in_arrays_allowed``) and
    read them through their cells: FA's chain ``δ B``, a dense projection ``signal · B_lᵀ``
    (a sparse ``B_l``'s values are programmed, its gather stays exact)."""
    flow = rule.flow
    if device.feedback_storage != "crossbar" or not flow.feedback_in_arrays_allowed or flow.learns_feedback:
        return
    for i, matrix in rule.chain_feedback.items():
        reader = device.program_feedback(matrix, transposed=True)
        if reader is not None:
            rule.chain_readers[i] = reader
    for direct in rule.direct.values():
        reader = device.program_feedback(direct.matrix, transposed=False)
        if direct.idx is None:
            direct.reader = reader


class _Progress:
    def __init__(self, callback: Callable[[int, int, float], None] | None, total: int):
        self.callback, self.total, self.step = callback, total, 0

    def tick(self, running_accuracy: float) -> None:
        self.step += 1
        if self.callback is not None:
            self.callback(self.step, self.total, running_accuracy)


def _freeze(net: Network, names: list[str], source: dict[str, np.ndarray], where: str) -> None:
    """Copy the listed layers' arrays from ``source`` into ``net`` and freeze them (ConfigError on a mismatch)."""
    for layer in net.layers:
        if layer.name not in names:
            continue
        for key, arr in layer.state().items():
            if key not in source:
                raise ConfigError(where, "transfer.layers", f"the checkpoint has no array {key!r}")
            if source[key].shape != arr.shape:
                raise ConfigError(where, "transfer.layers", f"{key!r} has shape {source[key].shape}, the network needs {arr.shape}")
            arr[...] = source[key]
        if hasattr(layer, "frozen"):
            layer.frozen = True


def _fit(workload, algo, net: Network, rule: Rule, shuffle: np.random.Generator, data, epochs: int,
         counter: _Progress, record: bool, device: CrossbarDevice | None, diagnostics: bool = True
         ) -> tuple[list[EpochRecord], Divergence | None, list[AlignmentRecord]]:
    """``epochs`` of mini-batch training of ``net`` by ``rule`` (history only if ``record``,
    alignment only if ``record`` and ``diagnostics``), stopped at the first non-finite loss (then the :class:`Divergence` says where)."""
    x_train, y_train, x_test, y_test = data
    trainable = [j for j, layer in enumerate(net.layers) if layer.params and _trains(rule, net, j)]
    params = [p for j in trainable for p in net.layers[j].params]
    opt_cfg = workload.training.optimizer
    if algo.learning_rate is not None:
        opt_cfg = opt_cfg.model_copy(update={"learning_rate": algo.learning_rate})
    optimizer = make_optimizer(opt_cfg, params, [net.layers[j].name for j in trainable for _ in net.layers[j].params])
    fused = type(optimizer) is SGD  # plain SGD: each layer steps itself from its δ (no gradient arrays)
    first_param = dict(zip(trainable, accumulate((len(net.layers[j].params) for j in trainable), initial=0)))
    n = x_train.shape[0]
    batch = workload.training.batch_size
    probe_x, probe_y = x_train[:PROBE_SIZE], y_train[:PROBE_SIZE]
    held_x, held_y = x_test[:HELD_OUT_SIZE], y_test[:HELD_OUT_SIZE]
    per_epoch, every = -(-n // batch), workload.training.alignment_every
    alignment: list[AlignmentRecord] = []
    step = 0

    def measure(epoch: int) -> None:
        if record and diagnostics and measures_at(step, per_epoch, every):
            if device is not None:
                device.settle()
            alignment.extend(AlignmentRecord(step, epoch, name, *values)
                             for name, values in measure_alignment(net, rule, held_x, held_y).items())

    measure(1)
    history: list[EpochRecord] = []
    diverged = None
    for epoch in range(1, epochs + 1):
        optimizer.lr = opt_cfg.learning_rate * opt_cfg.lr_decay ** (epoch - 1)
        order = shuffle.permutation(n)
        loss_sum = 0.0
        correct = 0
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            xb, yb = x_train[idx], y_train[idx]
            cache = net.forward(xb)
            loss, e = softmax_cross_entropy(cache.logits, yb)
            if not np.isfinite(loss):  # divergence: stop this rule at once, say where
                diverged = Divergence(epoch=epoch, step=counter.step + 1)
                break
            loss_sum += loss * len(idx)
            correct += int(np.count_nonzero(cache.logits.argmax(axis=1) == yb))
            result = rule.backward(net, cache, e, yb, weight_grads=not fused)
            rule.learn_feedback(net, cache)
            weights = [layer.weight for layer in net.weight_layers]
            if fused and device is not None:  # device hook 2, each layer's pulses beside the next layer's step
                device.write(weights, _sgd_steps(net, trainable, result, cache, optimizer, first_param))
            else:
                if fused:
                    _sgd_layers(net, trainable, result, cache, optimizer, first_param)
                else:
                    optimizer.step([g for j in trainable for g in result.grads[j]])
                if device is not None:  # device hook 2: the update sent as pulses
                    device.write(weights)
            counter.tick(correct / (start + len(idx)))
            step += 1
            measure(epoch)
        if device is not None:  # the last step's pulses, before the test pass and anything that reads W
            device.settle()
        if diverged is not None:
            break
        if record:
            history.append(
                EpochRecord(
                    epoch=epoch,
                    loss=loss_sum / n,
                    train_accuracy=correct / n,
                    test_accuracy=float(np.mean(net.predict(x_test) == y_test)),
                    alignment_deg=alignment_deg(net, rule, probe_x, probe_y) if diagnostics else {},
                )
            )
    return history, diverged, alignment


def _sgd_layers(net: Network, trainable: list[int], result: Backward, cache: ForwardCache, optimizer: SGD,
                first_param: dict[int, int]) -> None:
    """Plain SGD, layer by layer: a weight layer from its δ (a dense layer as one sgemm into ``W``,
    :meth:`~.layers.WeightLayer.sgd_update`), any other from the gradients the backward formed.
    The same step as :class:`SGD` in exact arithmetic, each layer at the rate ``optimizer`` gives
    its parameters (``first_param[j]``: the index of layer ``j``'s first one; ``optimizer.layer_lr``
    scales a whole layer); every δ is taken before any weight moves."""
    weight_index = net.weight_index
    for j in trainable:
        layer = net.layers[j]
        rate = optimizer.rate(first_param[j])
        if j in weight_index:
            layer.sgd_update(result.deltas[weight_index[j]], cache.layers[j], rate)
        else:
            for p, g in zip(layer.params, result.grads[j]):
                sgd_step(p, g, rate)


def _sgd_steps(net: Network, trainable: list[int], result: Backward, cache: ForwardCache, optimizer: SGD,
               first_param: dict[int, int]) -> Callable[[int], None]:
    """:func:`_sgd_layers` for the device's write hook: every trainable layer without
    weights now, and ``step(i)`` the ``i``-th weight layer's (if it trains) when the hook asks."""
    weighted = net.weight_index
    _sgd_layers(net, [j for j in trainable if j not in weighted], result, cache, optimizer, first_param)
    mine = {weighted[j]: j for j in trainable if j in weighted}

    def step(index: int) -> None:
        if index in mine:
            _sgd_layers(net, [mine[index]], result, cache, optimizer, first_param)

    return step


def _trains(rule: Rule, net: Network, j: int) -> bool:
    """Layer ``j`` is updated: a weight layer its plan trains; a batchnorm not frozen that the error reaches."""
    if j in net.weight_positions:
        return rule.plan[net.weight_positions.index(j)].trainable
    before = [i for i, p in enumerate(net.weight_positions) if p < j]
    if not before or net.layers[j].name in rule.frozen:
        return False
    owner = before[-1]
    needed = ("output", "chain", "direct") if net.output_of.get(j) == owner else ("chain",)
    return rule.plan[owner].error in needed
