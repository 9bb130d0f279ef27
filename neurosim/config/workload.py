"""Workload config: dataset, network, training schedule and learning rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import StrictModel, load_model

__all__ = [
    "ALGORITHMS",
    "DatasetConfig",
    "NetworkConfig",
    "OptimizerConfig",
    "TrainingConfig",
    "AlgorithmConfig",
    "Workload",
    "load",
]

#: Every learning rule neurosim knows, by its config name.
ALGORITHMS: tuple[str, ...] = ("bp", "fa", "dfa", "sdfa", "sign_dfa", "drtp", "fdfa")


class DatasetConfig(StrictModel):
    name: Literal["mnist", "fashion_mnist"] = "mnist"
    #: Folder with the four IDX gzip files; searched before $NEUROSIM_DATA_DIR.
    data_dir: str | None = None
    #: Use only the first N training / test images (None: all).
    train_limit: int | None = Field(default=None, gt=0)
    test_limit: int | None = Field(default=None, gt=0)


class NetworkConfig(StrictModel):
    #: Layer widths from input to output, e.g. [784, 800, 800, 10].
    layers: list[Annotated[int, Field(gt=0)]] = Field(min_length=2)
    activation: Literal["tanh", "relu", "leaky_relu"] = "tanh"
    leaky_slope: float = Field(default=0.01, gt=0, lt=1)

    @field_validator("layers")
    @classmethod
    def _output_is_classes(cls, v: list[int]) -> list[int]:
        if v[-1] < 2:
            raise ValueError("the last layer is the class count and must be at least 2")
        return v


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
        if ds is not None and ds.name in ("mnist", "fashion_mnist"):
            if net.layers[0] != 784:
                raise ValueError(f"layers[0] must be 784 for {ds.name} (28x28 images), got {net.layers[0]}")
            if net.layers[-1] != 10:
                raise ValueError(f"the last layer must be 10 for {ds.name} (10 classes), got {net.layers[-1]}")
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
            if net is not None and isinstance(a, SDFAConfig) and a.fanin > net.layers[-1]:
                raise ValueError(f"sdfa fanin {a.fanin} exceeds the {net.layers[-1]} output classes")
        return algs

    def algorithm(self, name: str) -> AlgorithmConfig:
        for a in self.algorithms:
            if a.name == name:
                return a
        raise KeyError(name)


def load(path: str | Path) -> Workload:
    """Read and validate a workload YAML file (raises ConfigError)."""
    return load_model(path, Workload)
