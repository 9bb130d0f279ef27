"""The multilayer perceptron every learning rule trains.

Layer ``l = 1..L`` (named ``fc1..fcL``) computes ``a_l = h_{l-1} W_lᵀ + b_l`` and
``h_l = f(a_l)`` with ``h_0 = x``; the last layer is linear (``h_L = a_L`` are
the logits). ``W_l`` has shape ``(n_l, n_{l-1})``.

Initialisation (LeCun-style uniform, as PyTorch's ``nn.Linear`` default):
``W_l, b_l ~ U(-1/√n_{l-1}, 1/√n_{l-1})``, drawn from the generator passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim.config.workload import NetworkConfig
from neurosim.kernels import IDENTITY, activation_code, dense_forward

__all__ = ["MLP", "ForwardCache", "layer_names"]


def layer_names(n_layers: int) -> list[str]:
    """``["fc1", ..., f"fc{n_layers}"]``: fc1 is the first weight matrix."""
    return [f"fc{i + 1}" for i in range(n_layers)]


@dataclass(frozen=True)
class ForwardCache:
    """What the backward phases need from one forward pass.

    ``h[0]`` is the input batch and ``h[l]`` the output of layer ``l``
    (``h[L]`` the logits); ``a[l - 1]`` is the pre-activation of layer ``l``.
    """

    h: list[np.ndarray]
    a: list[np.ndarray]

    @property
    def logits(self) -> np.ndarray:
        return self.h[-1]


class MLP:
    """Fully connected network with float32 parameters ``weights[l-1] = W_l``, ``biases[l-1] = b_l``."""

    def __init__(self, config: NetworkConfig, rng: np.random.Generator, input_units: int | None = None):
        if not config.is_mlp:
            raise ValueError("MLP takes dense layers only")
        n_in = input_units if input_units is not None else config.input_units
        if n_in is None:
            raise ValueError("the input width is unknown: pass input_units")
        self.sizes: list[int] = [n_in] + [spec.units for spec in config.layers]
        self.act: int = activation_code(config.activation)
        self.slope: float = float(config.leaky_slope)
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:]):
            bound = 1.0 / np.sqrt(fan_in)
            self.weights.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
            self.biases.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    @property
    def names(self) -> list[str]:
        return layer_names(self.n_layers)

    def layer_act(self, layer: int) -> int:
        """Activation code of 1-based layer ``layer`` (the output layer is linear)."""
        return IDENTITY if layer == self.n_layers else self.act

    def forward(self, x: np.ndarray) -> ForwardCache:
        """Forward pass keeping every layer's pre-activation and output."""
        h = [x]
        a = []
        for layer, (w, b) in enumerate(zip(self.weights, self.biases), start=1):
            pre, out = dense_forward(h[-1], w, b, self.layer_act(layer), self.slope)
            a.append(pre)
            h.append(out)
        return ForwardCache(h=h, a=a)

    def predict(self, x: np.ndarray, chunk: int = 1000) -> np.ndarray:
        """Predicted class per row of ``x``, evaluated ``chunk`` rows at a time."""
        out = np.empty(x.shape[0], dtype=np.int64)
        for start in range(0, x.shape[0], chunk):
            out[start : start + chunk] = self.forward(x[start : start + chunk]).logits.argmax(axis=1)
        return out
