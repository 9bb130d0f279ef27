"""The network every learning rule trains, built from a workload's layer shapes.

The layers (:mod:`.layers`) run in order on a batch reshaped to the dataset's
per-sample input shape; the last layer is a linear dense layer whose outputs are the
logits. The activation follows each weight layer but the last, after its batchnorm
if one follows (:mod:`neurosim.config.network`).

Initialisation: every weight layer, in order, draws its weights and then its bias
``U(-1/√fan_in, 1/√fan_in)`` from the one generator passed in (PyTorch's default for
``nn.Linear`` and ``nn.Conv2d``: kaiming-uniform with ``a = √5``; ``fan_in`` is
``n_in`` or ``C_in/groups·k·k``); batchnorm starts at ``γ = 1, β = 0``, running
mean 0 and variance 1. For an MLP this is the same stream of draws as before the
layered network, so a seed gives the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.config.network import LayerShape, NetworkConfig, infer_shapes
from neurosim.kernels import activation_code

from .layers import BatchNorm, Layer, LayerCache, WeightLayer, make_layer

__all__ = ["Network", "ForwardCache", "layer_names"]


def layer_names(n_layers: int) -> list[str]:
    """``["fc1", ..., f"fc{n_layers}"]``: the weight layers of an MLP."""
    return [f"fc{i + 1}" for i in range(n_layers)]


@dataclass(frozen=True)
class ForwardCache:
    """What the backward phases need from one forward pass: one :class:`LayerCache` per layer."""

    layers: list[LayerCache]

    @property
    def logits(self) -> np.ndarray:
        return self.layers[-1].h


class Network:
    """Layers in order, with the weight layers and who carries each one's activation."""

    def __init__(self, config: NetworkConfig, input_shape: tuple[int, ...], rng: np.random.Generator):
        self.shapes: list[LayerShape] = infer_shapes(config, input_shape)
        act = activation_code(config.activation)
        slope = float(config.leaky_slope)
        self.layers: list[Layer] = [make_layer(s, spec, act, slope, rng) for s, spec in zip(self.shapes, config.layers)]
        #: Indices (into :attr:`layers`) of the weight layers, in order.
        self.weight_positions: list[int] = [j for j, layer in enumerate(self.layers) if isinstance(layer, WeightLayer)]
        #: Layer index of weight layer i → i (the inverse of :attr:`weight_positions`).
        self.weight_index: dict[int, int] = {j: i for i, j in enumerate(self.weight_positions)}
        #: Layer index carrying the activation (output) of hidden weight layer i → i.
        self.output_of: dict[int, int] = {}
        for i, j in enumerate(self.weight_positions[:-1]):
            nxt = j + 1
            self.output_of[nxt if isinstance(self.layers[nxt], BatchNorm) else j] = i

    @property
    def weight_layers(self) -> list[WeightLayer]:
        return [self.layers[j] for j in self.weight_positions]  # type: ignore[misc]

    @property
    def names(self) -> list[str]:
        """The weight layers' names."""
        return [self.layers[j].name for j in self.weight_positions]

    @property
    def n_classes(self) -> int:
        return self.shapes[-1].out_units

    def output_layer(self, i: int) -> Layer:
        """The layer whose output ``h`` is hidden weight layer ``i``'s (its batchnorm, if any)."""
        return self.layers[next(j for j, w in self.output_of.items() if w == i)]

    def state(self) -> dict[str, np.ndarray]:
        """Every named array: ``<layer>.weight``, ``.bias``, ``.scale``, ``.shift``, ``.running_mean``, ``.running_var``."""
        out: dict[str, np.ndarray] = {}
        for layer in self.layers:
            out.update(layer.state())
        return out

    def forward(self, x: np.ndarray, train: bool = True, update: bool = True) -> ForwardCache:
        """Forward pass keeping every layer's cache. ``train``: batchnorm uses batch statistics
        (and, with ``update``, moves its running averages)."""
        h = x.reshape((x.shape[0],) + self.shapes[0].in_shape)
        caches = []
        for layer in self.layers:
            h, cache = layer.forward(h, train, update)
            caches.append(cache)
        return ForwardCache(caches)

    def predict(self, x: np.ndarray, chunk: int = 1000) -> np.ndarray:
        """Predicted class per row of ``x`` (eval mode), ``chunk`` rows at a time."""
        out = np.empty(x.shape[0], dtype=np.int64)
        for start in range(0, x.shape[0], chunk):
            out[start : start + chunk] = self.forward(x[start : start + chunk], train=False).logits.argmax(axis=1)
        return out
