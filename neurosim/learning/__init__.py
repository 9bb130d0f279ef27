"""Training with backprop and the feedback-alignment family.

- :mod:`.layers` — the layer kinds (dense, conv2d, pooling, flatten, batchnorm);
- :mod:`.network` — the :class:`Network` built from a workload's layer shapes;
- :mod:`.rules` — the :class:`Rule` of an algorithm, producing every weight layer's error;
- :mod:`.optim` — SGD / momentum / Adam;
- :mod:`.checkpoint` — trained parameters as .npz, for transfer;
- :mod:`.trainer` — :func:`train`, returning a :class:`TrainResult`.


Names are loaded on first use (module ``__getattr__``), so that importing the
package (e.g. for :func:`save_checkpoint`) does not load numba and the kernels.
"""

from importlib import import_module

_HOMES = {
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "ForwardCache": "network",
    "Network": "network",
    "layer_names": "network",
    "Optimizer": "optim",
    "make_optimizer": "optim",
    "Rule": "rules",
    "make_rule": "rules",
    "EpochRecord": "trainer",
    "TrainResult": "trainer",
    "alignment_deg": "trainer",
    "train": "trainer",
}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{home}", __name__), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_HOMES))

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
