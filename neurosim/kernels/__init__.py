"""Numba kernels of the numeric core (float32, C-contiguous, ``@njit(cache=True)``).

- :mod:`.dense` — fused dense forward, activation derivative, transpose-chain
  product, weight gradient, forward-mode (JVP) product;
- :mod:`.loss` — softmax cross-entropy and the output error ``e = p - onehot``;
- :mod:`.feedback` — dense and sparse direct feedback projections of ``e``;
- :mod:`.update` — in-place SGD / momentum / Adam steps;
- :mod:`.conv` — 2-D convolution (im2col + BLAS): forward, input and weight gradient;
- :mod:`.pool` — max / average pooling, forward, backward and tangent;
- :mod:`.batchnorm` — batch normalisation (train / eval), forward and backward;
- :mod:`.stats` — float64 sums over float32 arrays (the alignment's estimator figures);
- :mod:`.blas` — the one-thread BLAS limit that keeps results machine-independent;
- :mod:`._cache` — numba's cache folder, named by a hash of these modules' sources
  (set here, before any kernel is decorated).
"""

from pathlib import Path as _Path

from ._cache import use_keyed_cache as _use_keyed_cache

_use_keyed_cache(_Path(__file__).resolve().parent)

from .blas import single_threaded_blas
from .dense import (
    IDENTITY,
    LEAKY_RELU,
    RELU,
    SIGMOID,
    TANH,
    activation_backward,
    activation_code,
    activate,
    bias_activation,
    backward_input,
    dense_forward,
    dense_jvp,
    dense_sgd_update,
    weight_grad,
)
from .batchnorm import batchnorm_backward, batchnorm_eval, batchnorm_eval_backward, batchnorm_train
from .conv import col2im, conv2d_forward, conv2d_input_grad, conv2d_weight_grad, conv_out_size, im2col
from .pool import avgpool_backward, avgpool_forward, maxpool_backward, maxpool_forward, maxpool_gather
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
    "activate",
    "bias_activation",
    "activation_backward",
    "backward_input",
    "dense_jvp",
    "weight_grad",
    "dense_sgd_update",
    "softmax_cross_entropy",
    "one_hot",
    "dense_project",
    "sparse_project",
    "sgd_step",
    "momentum_step",
    "adam_step",
    "im2col",
    "col2im",
    "conv_out_size",
    "conv2d_forward",
    "conv2d_input_grad",
    "conv2d_weight_grad",
    "maxpool_forward",
    "maxpool_backward",
    "maxpool_gather",
    "avgpool_forward",
    "avgpool_backward",
    "batchnorm_train",
    "batchnorm_eval",
    "batchnorm_backward",
    "batchnorm_eval_backward",
]
