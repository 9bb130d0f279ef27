"""Workload config: dataset, network, training schedule and learning rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import StrictModel, load_model
from .dataflow import RuleDataflow
from .network import LayerShape, NetworkConfig, infer_shapes

__all__ = [
    "ALGORITHMS",
    "DatasetConfig",
    "NetworkConfig",
    "DATASET_INPUT_SHAPES",
    "OptimizerConfig",
    "TrainingConfig",
    "AlgorithmConfig",
    "TransferConfig",
    "HybridDFAConfig",
    "Workload",
    "load",
]

#: Every learning rule neurosim knows, by its config name.
ALGORITHMS: tuple[str, ...] = ("bp", "fa", "dfa", "sdfa", "sign_dfa", "drtp", "fdfa", "hybrid_dfa", "fwd_grad")


#: Per-sample input shape ``(channels, height, width)`` of each dataset.
DATASET_INPUT_SHAPES: dict[str, tuple[int, int, int]] = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}

#: Classes of each dataset.
DATASET_CLASSES: dict[str, int] = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10}


class DatasetConfig(StrictModel):
    name: Literal["mnist", "fashion_mnist", "cifar10"] = "mnist"
    #: Folder with the dataset's files (MNIST: the four IDX files; CIFAR-10: the python
    #: batches or cifar-10-python.tar.gz); searched before $NEUROSIM_DATA_DIR.
    data_dir: str | None = None
    #: Use only the first N training / test images (None: all).
    train_limit: int | None = Field(default=None, gt=0)
    test_limit: int | None = Field(default=None, gt=0)
    #: Keep only the central crop x crop pixels of each image (MLP+NeuroSim uses 20x20).
    crop: int | None = Field(default=None, ge=1, le=28)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        channels, rows, cols = DATASET_INPUT_SHAPES[self.name]
        if self.crop is None:
            return channels, rows, cols
        return channels, self.crop, self.crop

    @property
    def n_classes(self) -> int:
        return DATASET_CLASSES[self.name]


class OptimizerConfig(StrictModel):
    name: Literal["sgd", "momentum", "adam"] = "sgd"
    learning_rate: float = Field(default=0.01, gt=0, le=10)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.999, ge=0, lt=1)
    eps: float = Field(default=1e-8, gt=0)
    #: Per-epoch factor on the learning rate: epoch k (1-based) uses learning_rate · lr_decay^(k-1)
    #: (the sparse-DFA authors' ``--decay``; 1: constant).
    lr_decay: float = Field(default=1.0, gt=0, le=1)
    #: Learning rate of the named layers (weight and bias), in place of learning_rate (or of a
    #: rule's own learning_rate); lr_decay applies to them too. E.g. ``{fc2: 0.2}``
    #: (MLP_NeuroSim_V3.0 Param.cpp: alpha1 0.4 for the first layer, alpha2 0.2 for the second).
    layer_lr: dict[str, Annotated[float, Field(gt=0, le=10)]] = Field(default_factory=dict)


class TrainingConfig(StrictModel):
    epochs: int = Field(default=20, gt=0)
    batch_size: int = Field(default=32, gt=0)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)  # a factory: no validator built at import
    #: Steps between two measures of the error-signal alignment (Launay et al. 2020; alignment.csv).
    #: None: every 10 steps in the first epoch, then 4 times per epoch.
    alignment_every: int | None = Field(default=None, gt=0)


class TransferConfig(StrictModel):
    """Transfer (Crafton et al. 2019): these layers are loaded and frozen; the rest train with the rule."""

    #: Weight (or batchnorm) layers to load and freeze, by name.
    layers: list[str] = Field(min_length=1)
    #: An .npz of trained parameters (``<layer>.weight``, ``<layer>.bias``, ...), relative to the workload file's folder.
    checkpoint: str | None = None
    #: Or: train the whole network with BP for this many epochs first, then freeze.
    bp_epochs: int | None = Field(default=None, gt=0, le=1000)
    #: Learning rate of that BP pre-training (None: the rule's, else training.optimizer's).
    learning_rate: float | None = Field(default=None, gt=0, le=10)

    @model_validator(mode="after")
    def _one_source(self) -> "TransferConfig":
        if (self.checkpoint is None) == (self.bp_epochs is None):
            raise ValueError("give exactly one of checkpoint and bp_epochs")
        return self


class _Algorithm(StrictModel):
    dataflow: ClassVar[RuleDataflow]
    #: Name of this entry in every output (default: the rule's name); lets a workload list
    #: one rule twice, e.g. sparse DFA from scratch and on transferred layers.
    label: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    #: Overrides training.optimizer.learning_rate for this rule only (None: use it).
    #: Rules differ in the gradient scale they produce, so a fair comparison tunes each.
    learning_rate: float | None = Field(default=None, gt=0, le=10)
    #: Layers loaded and frozen before training (None: train every layer).
    transfer: TransferConfig | None = None

    @property
    def run_name(self) -> str:
        """The entry's name in outputs: ``label``, else the rule's name."""
        return self.label or self.name  # type: ignore[attr-defined]


class _Rule(_Algorithm):
    #: Scale of the fixed random feedback (B ~ U(-a, a) with a = scale / sqrt(fan)).
    feedback_scale: float = Field(default=1.0, gt=0)


class BPConfig(_Algorithm):
    dataflow = RuleDataflow(path="chain", chain_matrix="W")
    name: Literal["bp"]


class FAConfig(_Rule):
    dataflow = RuleDataflow(path="chain", chain_matrix="B", feedback="dense", feedback_in_arrays_allowed=True)
    name: Literal["fa"]


class DFAConfig(_Rule):
    dataflow = RuleDataflow(path="direct", signal="error", feedback="dense", feedback_in_arrays_allowed=True)
    name: Literal["dfa"]


class SDFAConfig(_Rule):
    dataflow = RuleDataflow(path="direct", signal="error", feedback="sparse")
    name: Literal["sdfa"]
    #: s: how many of the C output errors each hidden neuron listens to.
    fanin: int = Field(default=1, gt=0)


class SignDFAConfig(_Rule):
    dataflow = RuleDataflow(path="direct", signal="sign_error", feedback="dense", feedback_in_arrays_allowed=True)
    name: Literal["sign_dfa"]
    #: sign(e) never shrinks and is mostly a per-unit constant, which saturates the hidden layers and
    #: then destabilises the output layer at the shared step: 0.05 suits plain SGD on the shipped
    #: MNIST MLP (docs/validation.md, "Every rule learns at its shipped defaults"). None: use the optimizer's.
    learning_rate: float | None = Field(default=0.05, gt=0, le=10)


class DRTPConfig(_Rule):
    dataflow = RuleDataflow(path="direct", signal="label", feedback="column")
    name: Literal["drtp"]


class FDFAConfig(_Rule):
    dataflow = RuleDataflow(path="direct", signal="error_tangent", feedback="dense", feedback_in_arrays_allowed=True,
                            learns_feedback=True)
    name: Literal["fdfa"]
    #: How B learns from the tangent estimate Ĵ (see neurosim.learning.rules): ``ema`` a moving
    #: average; ``sgd`` / ``adam`` a step on the authors' feedback gradient B − Ĵ
    #: (Florian-BACHO/FDFA main.py: Adam, ``--b-lr`` 1e-4, not decayed).
    feedback_optimizer: Literal["ema", "sgd", "adam"] = "ema"
    #: The moving-average rate (ema) or the feedback learning rate (sgd, adam; the authors' 1e-4 with adam).
    feedback_rate: float = Field(default=0.01, gt=0, le=1)


class ForwardGradientConfig(_Algorithm):
    """Activity-perturbed forward gradient (the FDFA paper's baseline): one forward-mode pass
    with a random tangent at every hidden output; layer l's error is ``u_l (e·d)``."""

    dataflow = RuleDataflow(path="direct", signal="directional_derivative", feedback="none", mapped=False)
    name: Literal["fwd_grad"]


class HybridDFAConfig(_Rule):
    """Modular DFA (Han et al. 2020): DFA across modules, BP inside (see :mod:`.dataflow`)."""

    dataflow = RuleDataflow(path="hybrid", chain_matrix="W", signal="error", feedback="dense", feedback_in_arrays_allowed=True)
    name: Literal["hybrid_dfa"]
    #: Hidden weight layers that end a module and receive the direct projection of e.
    direct_to: list[str]
    #: s nonzeros per row of each B_l (sparse feedback); None: dense B_l.
    fanin: int | None = Field(default=None, gt=0)
    #: Direct projection onto conv outputs at every d-th position per axis (a dilated grid).
    feedback_dilation: int = Field(default=1, gt=0, le=64)
    #: The BP chain through conv layers as a grouped transposed convolution.
    error_groups: int = Field(default=1, gt=0, le=4096)


AlgorithmConfig = Annotated[
    Union[BPConfig, FAConfig, DFAConfig, SDFAConfig, SignDFAConfig, DRTPConfig, FDFAConfig, HybridDFAConfig,
          ForwardGradientConfig],
    Field(discriminator="name"),
]


class Workload(StrictModel):
    config_kind: ClassVar[str] = "workload"

    #: Names the default output folder, so a plain file name: no '/', no '..'.
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(default=0, ge=0)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    network: NetworkConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    algorithms: list[AlgorithmConfig] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _bare_names(cls, data):  # "algorithms: [bp, dfa]" is shorthand for [{name: bp}, ...]
        if isinstance(data, dict) and isinstance(data.get("algorithms"), list):
            algs = []
            for a in data["algorithms"]:
                algs.append({"name": a} if isinstance(a, str) else a)
            data = {**data, "algorithms": algs}
        return data

    @field_validator("network")
    @classmethod
    def _fits_dataset(cls, net: NetworkConfig, info: ValidationInfo) -> NetworkConfig:
        ds = info.data.get("dataset")
        if ds is not None:
            infer_shapes(net, ds.input_shape)  # raises ValueError naming the layer that does not fit
            if net.n_classes != ds.n_classes:
                raise ValueError(f"the last layer must be {ds.n_classes} for {ds.name} ({ds.n_classes} classes), got {net.n_classes}")
        return net

    @field_validator("training")
    @classmethod
    def _layer_lr_names(cls, training: TrainingConfig, info: ValidationInfo) -> TrainingConfig:
        net, ds = info.data.get("network"), info.data.get("dataset")
        if net is None or ds is None or not training.optimizer.layer_lr:
            return training
        shapes = infer_shapes(net, ds.input_shape)
        names = sorted({s.name for s in shapes if s.has_weights or s.kind == "batchnorm"})
        for name in training.optimizer.layer_lr:
            if name not in names:
                raise ValueError(f"optimizer.layer_lr: {name!r} is not a layer with parameters (those are {', '.join(names)})")
        return training

    @field_validator("algorithms")
    @classmethod
    def _unique_and_consistent(cls, algs: list, info: ValidationInfo) -> list:
        names = [a.run_name for a in algs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"algorithm listed twice: {', '.join(dup)} (give one a label)")
        net = info.data.get("network")
        ds = info.data.get("dataset")
        if net is None or ds is None:
            return algs
        shapes = infer_shapes(net, ds.input_shape)
        weight_names = [s.name for s in shapes if s.has_weights]
        trainable_names = set(weight_names) | {s.name for s in shapes if s.kind == "batchnorm"}
        for a in algs:
            fanin = getattr(a, "fanin", None)
            if fanin is not None and fanin > net.n_classes:
                raise ValueError(f"{a.name} fanin {fanin} exceeds the {net.n_classes} output classes")
            for name in getattr(a, "direct_to", None) or []:
                if name not in weight_names[:-1]:
                    raise ValueError(f"{a.name} direct_to: {name!r} is not a hidden weight layer (those are {', '.join(weight_names[:-1])})")
            _check_error_groups(a, shapes)
            if a.transfer is not None:
                for name in a.transfer.layers:
                    if name not in trainable_names:
                        raise ValueError(f"{a.name} transfer.layers: {name!r} is not a layer with parameters (those are {', '.join(sorted(trainable_names))})")
                if set(weight_names) <= set(a.transfer.layers):
                    raise ValueError(f"{a.name} transfer freezes every weight layer: nothing is left to train")
        return algs

    @property
    def shapes(self) -> list[LayerShape]:
        """Every layer with its shapes resolved on this dataset's input."""
        return infer_shapes(self.network, self.dataset.input_shape)

    @property
    def widths(self) -> list[int]:
        """``[n_0, n_1, ..., n_L]`` of an MLP (only dense layers); ValueError otherwise."""
        if not self.network.is_mlp:
            raise ValueError("this network has non-dense layers: it has shapes, not a list of widths")
        shapes = self.shapes
        return [shapes[0].in_units] + [s.out_units for s in shapes]

    def algorithm(self, name: str) -> AlgorithmConfig:
        """The entry whose :attr:`run_name` (label, else rule name) is ``name``."""
        for a in self.algorithms:
            if a.run_name == name:
                return a
        raise KeyError(name)


def _check_error_groups(algo, shapes: list[LayerShape]) -> None:
    """A grouped transposed conv (hybrid ``error_groups``) needs ungrouped conv layers whose channels it divides."""
    from .dataflow import layer_plan

    groups = getattr(algo, "error_groups", 1)
    if groups == 1:
        return
    by_name = {s.name: s for s in shapes}
    plans = layer_plan(algo, shapes)
    for below, plan in zip(plans[:-1], plans[1:]):
        layer = by_name[plan.name]
        if layer.kind != "conv2d" or below.error != "chain":
            continue
        if layer.groups != 1 or layer.channels_in % groups or layer.channels_out % groups:
            raise ValueError(
                f"{algo.name} error_groups {groups}: the chain through {layer.name} needs an ungrouped conv whose "
                f"{layer.channels_in} input and {layer.channels_out} output channels it divides"
            )


def load(path: str | Path) -> Workload:
    """Read and validate a workload YAML file (raises ConfigError).

    A relative ``transfer.checkpoint`` is resolved against the file's folder.
    """
    wl = load_model(path, Workload)
    folder = Path(path).resolve().parent
    algos = []
    for a in wl.algorithms:
        if a.transfer is not None and a.transfer.checkpoint is not None and not Path(a.transfer.checkpoint).is_absolute():
            transfer = a.transfer.model_copy(update={"checkpoint": str(folder / a.transfer.checkpoint)})
            a = a.model_copy(update={"transfer": transfer})
        algos.append(a)
    return wl.model_copy(update={"algorithms": algos})
