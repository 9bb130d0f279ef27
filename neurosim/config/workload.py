"""Workload config: dataset, network, training schedule and learning rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import StrictModel, load_model
from .network import LayerShape, NetworkConfig, infer_shapes

__all__ = [
    "ALGORITHMS",
    "DatasetConfig",
    "NetworkConfig",
    "DATASET_INPUT_SHAPES",
    "OptimizerConfig",
    "TrainingConfig",
    "AlgorithmConfig",
    "Workload",
    "load",
]

#: Every learning rule neurosim knows, by its config name.
ALGORITHMS: tuple[str, ...] = ("bp", "fa", "dfa", "sdfa", "sign_dfa", "drtp", "fdfa")


#: Per-sample input shape ``(channels, height, width)`` of each dataset.
DATASET_INPUT_SHAPES: dict[str, tuple[int, int, int]] = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28)}

#: Classes of each dataset.
DATASET_CLASSES: dict[str, int] = {"mnist": 10, "fashion_mnist": 10}


class DatasetConfig(StrictModel):
    name: Literal["mnist", "fashion_mnist"] = "mnist"
    #: Folder with the four IDX gzip files; searched before $NEUROSIM_DATA_DIR.
    data_dir: str | None = None
    #: Use only the first N training / test images (None: all).
    train_limit: int | None = Field(default=None, gt=0)
    test_limit: int | None = Field(default=None, gt=0)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return DATASET_INPUT_SHAPES[self.name]

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


class TrainingConfig(StrictModel):
    epochs: int = Field(default=20, gt=0)
    batch_size: int = Field(default=32, gt=0)
    optimizer: OptimizerConfig = OptimizerConfig()


class _Algorithm(StrictModel):
    #: Overrides training.optimizer.learning_rate for this rule only (None: use it).
    #: Rules differ in the gradient scale they produce, so a fair comparison tunes each.
    learning_rate: float | None = Field(default=None, gt=0, le=10)


class _Rule(_Algorithm):
    #: Scale of the fixed random feedback (B ~ U(-a, a) with a = scale / sqrt(fan)).
    feedback_scale: float = Field(default=1.0, gt=0)


class BPConfig(_Algorithm):
    name: Literal["bp"]


class FAConfig(_Rule):
    name: Literal["fa"]


class DFAConfig(_Rule):
    name: Literal["dfa"]


class SDFAConfig(_Rule):
    name: Literal["sdfa"]
    #: s: how many of the C output errors each hidden neuron listens to.
    fanin: int = Field(default=1, gt=0)


class SignDFAConfig(_Rule):
    name: Literal["sign_dfa"]


class DRTPConfig(_Rule):
    name: Literal["drtp"]


class FDFAConfig(_Rule):
    name: Literal["fdfa"]
    #: Moving-average rate of the learned feedback B (forward DFA).
    feedback_rate: float = Field(default=0.01, gt=0, le=1)


AlgorithmConfig = Annotated[
    Union[BPConfig, FAConfig, DFAConfig, SDFAConfig, SignDFAConfig, DRTPConfig, FDFAConfig],
    Field(discriminator="name"),
]


class Workload(StrictModel):
    name: str = Field(min_length=1)
    seed: int = Field(default=0, ge=0)
    dataset: DatasetConfig = DatasetConfig()
    network: NetworkConfig
    training: TrainingConfig = TrainingConfig()
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

    @field_validator("algorithms")
    @classmethod
    def _unique_and_consistent(cls, algs: list, info: ValidationInfo) -> list:
        names = [a.name for a in algs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"algorithm listed twice: {', '.join(dup)}")
        net = info.data.get("network")
        for a in algs:
            if net is not None and isinstance(a, SDFAConfig) and a.fanin > net.n_classes:
                raise ValueError(f"sdfa fanin {a.fanin} exceeds the {net.n_classes} output classes")
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
        for a in self.algorithms:
            if a.name == name:
                return a
        raise KeyError(name)


def load(path: str | Path) -> Workload:
    """Read and validate a workload YAML file (raises ConfigError)."""
    return load_model(path, Workload)
