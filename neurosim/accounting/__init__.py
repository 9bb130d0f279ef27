"""Accounting views: the same training step counted as a seed paper's authors count it.

neurosim's own counts (:mod:`neurosim.counts`, component ``network``) are the
architectural view. :mod:`.ssdfa` restates the sparse-DFA authors' metrics
code (component ``ssdfa``). A view takes the network's ``LayerShape`` list, the
batch and the algorithm config, and returns :class:`~neurosim.records.Record` rows.
"""

from __future__ import annotations

from ..config.network import LayerShape, NetworkConfig, infer_shapes
from . import ssdfa

__all__ = ["ssdfa", "mlp_shapes", "VIEW_COMPONENTS"]

#: Components of the accounting views' rows (algorithm-level figures, no energy).
VIEW_COMPONENTS: frozenset[str] = frozenset({ssdfa.COMPONENT})


def mlp_shapes(widths: list[int]) -> list[LayerShape]:
    """The shapes of the MLP ``[n_0, n_1, ..., n_L]``."""
    return infer_shapes(NetworkConfig(layers=list(widths)), (widths[0],))
