"""Numba kernels of the numeric core (float32, C-contiguous, ``@njit(cache=True)``).

- :mod:`.dense` — fused dense forward, activation derivative, transpose-chain
  product, weight gradient, forward-mode (JVP) product;
- :mod:`.loss` — softmax cross-entropy and the output error ``e = p - onehot``;
- :mod:`.feedback` — dense and sparse direct feedback projections of ``e``;
- :mod:`.update` — in-place SGD / momentum / Adam steps;
- :mod:`.blas` — the one-thread BLAS limit that keeps results machine-independent.
"""

from .blas import single_threaded_blas
from .dense import (
    IDENTITY,
    LEAKY_RELU,
    RELU,
    SIGMOID,
    TANH,
    activation_backward,
    activation_code,
    backward_input,
    dense_forward,
    dense_jvp,
    weight_grad,
)
from .feedback import dense_project, sparse_project
from .loss import one_hot, softmax_cross_entropy
from .update import adam_step, momentum_step, sgd_step

__all__ = [
    "single_threaded_blas",
    "IDENTITY",
    "TANH",
    "RELU",
    "LEAKY_RELU",
    "SIGMOID",
    "activation_code",
    "dense_forward",
    "activation_backward",
    "backward_input",
    "dense_jvp",
    "weight_grad",
    "softmax_cross_entropy",
    "one_hot",
    "dense_project",
    "sparse_project",
    "sgd_step",
    "momentum_step",
    "adam_step",
]
