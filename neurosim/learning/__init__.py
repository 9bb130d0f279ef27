"""Training with backprop and the feedback-alignment family.

- :mod:`.network` — the :class:`MLP` (weights, forward pass);
- :mod:`.rules` — one :class:`Rule` per algorithm, producing the hidden errors δ_l;
- :mod:`.optim` — SGD / momentum / Adam;
- :mod:`.trainer` — :func:`train`, returning a :class:`TrainResult`.
"""

from .network import MLP, ForwardCache, layer_names
from .optim import Optimizer, make_optimizer
from .rules import Rule, make_rule
from .trainer import EpochRecord, TrainResult, alignment_deg, train

__all__ = [
    "train",
    "TrainResult",
    "EpochRecord",
    "MLP",
    "ForwardCache",
    "layer_names",
    "Rule",
    "make_rule",
    "Optimizer",
    "make_optimizer",
    "alignment_deg",
]
