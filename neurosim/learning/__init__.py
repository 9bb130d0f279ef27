"""Training with backprop and the feedback-alignment family.

- :mod:`.layers` — the layer kinds (dense, conv2d, pooling, flatten, batchnorm);
- :mod:`.network` — the :class:`Network` built from a workload's layer shapes;
- :mod:`.rules` — the :class:`Rule` of an algorithm, producing every weight layer's error;
- :mod:`.optim` — SGD / momentum / Adam;
- :mod:`.checkpoint` — trained parameters as .npz, for transfer;
- :mod:`.trainer` — :func:`train`, returning a :class:`TrainResult`.
"""

from .checkpoint import load_checkpoint, save_checkpoint
from .network import ForwardCache, Network, layer_names
from .optim import Optimizer, make_optimizer
from .rules import Rule, make_rule
from .trainer import EpochRecord, TrainResult, alignment_deg, train

__all__ = [
    "train",
    "TrainResult",
    "EpochRecord",
    "Network",
    "ForwardCache",
    "layer_names",
    "Rule",
    "make_rule",
    "Optimizer",
    "make_optimizer",
    "alignment_deg",
    "save_checkpoint",
    "load_checkpoint",
]
