r"""The network a workload trains: layer specs, and the shapes they imply.

A workload's ``network.layers`` is a list of layer specs, applied in order to
the dataset's input (``(channels, height, width)`` per sample):

=============  ==================================================================
kind           fields (defaults)                       output shape per sample
=============  ==================================================================
``dense``      ``units``                               ``(units,)``; flattens a
                                                       ``(C, H, W)`` input first
``conv2d``     ``channels``, ``kernel``, ``stride``    ``(channels, H', W')`` with
               (1), ``padding`` (0), ``groups`` (1)    ``H' = ⌊(H + 2p - k)/s⌋ + 1``
``maxpool``,   ``kernel`` (2), ``stride`` (kernel)     ``(C, ⌊(H - k)/s⌋ + 1, …)``
``avgpool``
``flatten``    —                                       ``(C·H·W,)``
``batchnorm``  ``momentum`` (0.1), ``eps`` (1e-5)      unchanged (per channel or
                                                       per feature)
=============  ==================================================================

The activation follows every weight layer (``dense``, ``conv2d``) but the last,
after the ``batchnorm`` that directly follows it if there is one. The last
layer must be a ``dense`` layer with one unit per class.

Shorthand: ``layers: [784, 800, 800, 10]`` (all integers) is the MLP with input
width 784 (which must equal the dataset's flattened input) and dense layers of
800, 800 and 10 units.

Names: each spec may set ``name``; otherwise weight and other layers are
numbered per kind: ``fc1, fc2, …`` for dense, ``conv1, …`` for conv2d,
``pool1, …`` for pooling, ``bn1, …`` for batchnorm, ``flatten1, …``.

A weight layer unrolls to a matrix of ``rows × cols`` applied at ``positions``
output positions per sample (a conv layer as NeuroSim and ISAAC map it:
``rows = k·k·C_in/groups`` per group, ``cols = C_out``, ``positions = H'·W'``;
a dense layer: ``rows = n_in``, ``cols = n_out``, ``positions = 1``), which is
what counts, mapping and the op graph use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Annotated, Literal, Union

from pydantic import Discriminator, Field, Tag, model_validator

from .base import StrictModel

__all__ = [
    "DenseSpec",
    "Conv2dSpec",
    "PoolSpec",
    "FlattenSpec",
    "BatchNormSpec",
    "LayerSpec",
    "NetworkConfig",
    "LayerShape",
    "infer_shapes",
    "WEIGHT_KINDS",
]

#: Layer kinds that hold a trainable weight matrix.
WEIGHT_KINDS: tuple[str, ...] = ("dense", "conv2d")

_PREFIX = {"dense": "fc", "conv2d": "conv", "maxpool": "pool", "avgpool": "pool", "flatten": "flatten", "batchnorm": "bn"}


class _Spec(StrictModel):
    #: Layer name in every output (default: numbered per kind, see the module doc).
    name: str | None = Field(default=None, min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class DenseSpec(_Spec):
    kind: Literal["dense"]
    units: int = Field(gt=0, le=1_000_000)


class Conv2dSpec(_Spec):
    kind: Literal["conv2d"]
    channels: int = Field(gt=0, le=65_536)
    kernel: int = Field(gt=0, le=64)
    stride: int = Field(default=1, gt=0, le=64)
    padding: int = Field(default=0, ge=0, le=64)
    #: Grouped convolution: input and output channels split into this many groups.
    groups: int = Field(default=1, gt=0, le=65_536)


class PoolSpec(_Spec):
    kind: Literal["maxpool", "avgpool"]
    kernel: int = Field(default=2, gt=0, le=64)
    #: None: equal to ``kernel`` (non-overlapping windows).
    stride: int | None = Field(default=None, gt=0, le=64)


class FlattenSpec(_Spec):
    kind: Literal["flatten"]


class BatchNormSpec(_Spec):
    kind: Literal["batchnorm"]
    momentum: float = Field(default=0.1, gt=0, le=1)
    eps: float = Field(default=1e-5, gt=0, le=1)


LayerSpec = Annotated[
    Union[DenseSpec, Conv2dSpec, PoolSpec, FlattenSpec, BatchNormSpec],
    Field(discriminator="kind"),
]


def _entry_kind(value) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return "width"
    if isinstance(value, dict):
        return "spec"
    return getattr(value, "kind", None) and "spec"


#: One entry of ``network.layers`` as written: a width (shorthand) or a layer spec.
_Entry = Annotated[
    Union[Annotated[Annotated[int, Field(gt=0, le=1_000_000)], Tag("width")], Annotated[LayerSpec, Tag("spec")]],
    Discriminator(_entry_kind, custom_error_type="layer", custom_error_message="expected a width (integer) or a layer spec {kind: ...}"),
]


class NetworkConfig(StrictModel):
    #: Layer specs in order (the all-integer MLP shorthand is turned into specs, see the module doc).
    layers: list[_Entry] = Field(min_length=1)
    #: Input width stated by the shorthand ``[n_0, n_1, …]``; None for spec lists.
    input_units: int | None = Field(default=None, gt=0)
    activation: Literal["tanh", "relu", "leaky_relu", "sigmoid"] = "tanh"
    leaky_slope: float = Field(default=0.01, gt=0, lt=1)

    @model_validator(mode="after")
    def _well_formed(self) -> "NetworkConfig":
        widths = [v for v in self.layers if isinstance(v, int)]
        if widths:
            if len(widths) != len(self.layers):
                raise ValueError("layers: either all widths [n_0, n_1, ...] or all layer specs, not a mix")
            if len(widths) < 2:
                raise ValueError("the shorthand [n_0, n_1, ...] needs the input width and at least one layer")
            if self.input_units is not None:
                raise ValueError("input_units goes with a list of layer specs, not with the [n_0, n_1, ...] shorthand")
            # frozen model: the shorthand is normalised once, here, into specs
            object.__setattr__(self, "input_units", widths[0])
            object.__setattr__(self, "layers", [DenseSpec(kind="dense", units=v) for v in widths[1:]])
        last = self.layers[-1]
        if not isinstance(last, DenseSpec):
            raise ValueError("the last layer must be a dense layer with one unit per class")
        if last.units < 2:
            raise ValueError("the last layer is the class count and must be at least 2")
        names = [s.name for s in self.layers if s.name is not None]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"layer name used twice: {', '.join(dup)}")
        return self

    @property
    def n_classes(self) -> int:
        return self.layers[-1].units

    @property
    def is_mlp(self) -> bool:
        """Only dense layers (the shapes reduce to a list of widths)."""
        return all(isinstance(s, DenseSpec) for s in self.layers)

    def names(self) -> list[str]:
        """Every layer's name, in order (see the module doc)."""
        seen: dict[str, int] = {}
        out = []
        for spec in self.layers:
            prefix = _PREFIX[spec.kind]
            seen[prefix] = seen.get(prefix, 0) + 1
            out.append(spec.name or f"{prefix}{seen[prefix]}")
        if len(set(out)) != len(out):
            raise ValueError(f"layer names clash: {out}")
        return out


@dataclass(frozen=True)
class LayerShape:
    """One layer with its shapes resolved; per-sample shapes, ``(n,)`` or ``(C, H, W)``."""

    name: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    #: conv/pool window and stride, conv padding and groups (1/0 for other kinds)
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    groups: int = 1
    #: An activation function follows this layer (weight layers but the last, or their batchnorm).
    activated: bool = False

    @property
    def has_weights(self) -> bool:
        return self.kind in WEIGHT_KINDS

    @property
    def in_units(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_units(self) -> int:
        return math.prod(self.out_shape)

    @property
    def channels_in(self) -> int:
        return self.in_shape[0]

    @property
    def channels_out(self) -> int:
        return self.out_shape[0]

    @property
    def positions(self) -> int:
        """Output positions per sample at which the unrolled matrix is applied (1 for dense)."""
        return math.prod(self.out_shape[1:]) if self.kind == "conv2d" else 1

    @property
    def rows(self) -> int:
        """Fan-in of one output unit: rows of one group's unrolled weight matrix."""
        if self.kind == "conv2d":
            return self.kernel * self.kernel * self.channels_in // self.groups
        if self.kind == "dense":
            return self.in_units
        return 0

    @property
    def cols(self) -> int:
        """Output channels (conv) or units (dense): columns of the unrolled matrix."""
        if self.kind == "conv2d":
            return self.channels_out
        if self.kind == "dense":
            return self.out_units
        return 0

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """``(n_out, n_in)`` for dense, ``(C_out, C_in/groups, k, k)`` for conv, ``()`` otherwise."""
        if self.kind == "dense":
            return (self.out_units, self.in_units)
        if self.kind == "conv2d":
            return (self.channels_out, self.channels_in // self.groups, self.kernel, self.kernel)
        return ()

    @property
    def n_params(self) -> int:
        """Trainable parameters: weights and biases (batchnorm: scale and shift per channel)."""
        if self.has_weights:
            return math.prod(self.weight_shape) + self.cols
        if self.kind == "batchnorm":
            return 2 * self.channels_in
        return 0

    @property
    def macs_per_sample(self) -> int:
        """Forward MACs per sample (weight layers): ``positions · rows · cols``."""
        return self.positions * self.rows * self.cols if self.has_weights else 0


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def infer_shapes(net: NetworkConfig, input_shape: tuple[int, ...]) -> list[LayerShape]:
    """Resolve every layer's shapes from the per-sample ``input_shape``.

    Raises ``ValueError`` (one sentence naming the layer) when a layer does not
    fit its input: a window larger than the padded map, channels not divisible
    by ``groups``, a conv or pool on a flat input, an input width unlike the
    shorthand's ``n_0``.
    """
    shape = tuple(int(v) for v in input_shape)
    if net.input_units is not None and net.input_units != math.prod(shape):
        raise ValueError(
            f"layers[0] must be {math.prod(shape)} (the dataset's input is {'x'.join(map(str, shape))}), got {net.input_units}"
        )
    names = net.names()
    last_weight = max(i for i, s in enumerate(net.layers) if s.kind in WEIGHT_KINDS)
    out: list[LayerShape] = []
    for i, (spec, name) in enumerate(zip(net.layers, names)):
        where = f"layer {i} ({name})"
        if spec.kind == "dense":
            new = LayerShape(name, "dense", (math.prod(shape),), (spec.units,))
        elif spec.kind == "flatten":
            new = LayerShape(name, "flatten", shape, (math.prod(shape),))
        elif spec.kind == "batchnorm":
            new = LayerShape(name, "batchnorm", shape, shape)
        else:
            if len(shape) != 3:
                raise ValueError(f"{where}: {spec.kind} needs a (channels, height, width) input, got {shape}")
            channels, height, width = shape
            if spec.kind == "conv2d":
                if channels % spec.groups or spec.channels % spec.groups:
                    raise ValueError(f"{where}: groups={spec.groups} must divide the {channels} input and {spec.channels} output channels")
                k, s, p = spec.kernel, spec.stride, spec.padding
                h2, w2 = _conv_out(height, k, s, p), _conv_out(width, k, s, p)
                new_shape = (spec.channels, h2, w2)
                extra = {"kernel": k, "stride": s, "padding": p, "groups": spec.groups}
            else:
                k = spec.kernel
                s = spec.stride or k
                h2, w2 = _conv_out(height, k, s, 0), _conv_out(width, k, s, 0)
                new_shape = (channels, h2, w2)
                extra = {"kernel": k, "stride": s}
            if h2 < 1 or w2 < 1:
                raise ValueError(f"{where}: a {k}x{k} window does not fit the {height}x{width} input")
            new = LayerShape(name, spec.kind, shape, new_shape, **extra)
        out.append(new)
        shape = new.out_shape
    # the activation follows each weight layer but the last, after its batchnorm if any
    for i, layer in enumerate(out):
        if layer.has_weights and i != last_weight:
            j = i + 1 if i + 1 < len(out) and out[i + 1].kind == "batchnorm" else i
            out[j] = replace(out[j], activated=True)
    return out
