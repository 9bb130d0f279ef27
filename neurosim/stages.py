r"""A network as the counter and the chip see it: weight layers with their plans.

:func:`stages` groups a network's ``LayerShape`` list into one
:class:`WeightStage` per weight layer (``dense`` or ``conv2d``): the layer, its
:class:`~neurosim.config.dataflow.LayerPlan` for the rule, and the non-weight
layers (``maxpool``/``avgpool``, ``batchnorm``, ``flatten``) between it and the
next weight layer, which run where the stage's outputs are produced. This is
the one place that walks the layer list; :mod:`neurosim.counts`, the mapper and
the op-graph builder ask a stage instead of testing layer kinds or rule names.

=====================  ==============================================================
quantity               meaning
=====================  ==============================================================
``positions``          output positions per sample at which the unrolled ``rows × cols``
                       matrix is applied (``H'·W'`` for conv, 1 for dense)
``feed_shape``         the per-sample shape the next weight layer reads (after pooling,
                       batchnorm, flatten)
``projected_units``    output units a direct projection reaches per sample:
                       ``C_out·⌈H'/d⌉·⌈W'/d⌉`` with dilation ``d`` (``n_out`` for dense)
``plan.error_groups``  groups of the transposed product through this layer's weights
                       that carries the error to the stage below (1 but for hybrid conv)
=====================  ==============================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config.dataflow import LayerPlan, layer_plan
from .config.network import LayerShape

__all__ = ["WeightStage", "stages", "lead_layers"]


@dataclass(frozen=True)
class WeightStage:
    """One weight layer, its plan and the non-weight layers that follow it."""

    #: 0-based position among the weight layers.
    index: int
    shape: LayerShape
    plan: LayerPlan
    #: Pooling / batchnorm / flatten layers up to the next weight layer, in order.
    after: tuple[LayerShape, ...]
    #: Classes (the last weight layer's units).
    n_classes: int

    @property
    def name(self) -> str:
        return self.shape.name

    @property
    def is_output(self) -> bool:
        return self.plan.error == "output"

    @property
    def positions(self) -> int:
        return self.shape.positions

    @property
    def feed_shape(self) -> tuple[int, ...]:
        return self.after[-1].out_shape if self.after else self.shape.out_shape

    @property
    def map_shape(self) -> tuple[int, ...]:
        """The outputs after pooling / batchnorm, before any flatten: ``(C, H, W)`` or ``(n,)``."""
        shaped = [a for a in self.after if a.kind != "flatten"]
        return shaped[-1].out_shape if shaped else self.shape.out_shape

    @property
    def projected_positions(self) -> int:
        """Positions per channel a direct projection reaches (the dilated grid)."""
        if self.shape.kind != "conv2d":
            return 1
        d = self.plan.dilation
        return math.prod(-(-size // d) for size in self.shape.out_shape[1:])

    @property
    def projected_units(self) -> int:
        return self.shape.cols * self.projected_positions

    @property
    def batchnorm(self) -> LayerShape | None:
        """The batchnorm right after this layer, if any (the activation follows it)."""
        return self.after[0] if self.after and self.after[0].kind == "batchnorm" else None


def lead_layers(shapes: list[LayerShape]) -> list[LayerShape]:
    """Non-weight layers before the first weight layer (they run on the input)."""
    out = []
    for s in shapes:
        if s.has_weights:
            break
        out.append(s)
    return out


def stages(shapes: list[LayerShape], algo) -> list[WeightStage]:
    """One :class:`WeightStage` per weight layer of ``shapes`` under ``algo``'s plan."""
    plans = layer_plan(algo, shapes)
    weights = [i for i, s in enumerate(shapes) if s.has_weights]
    n_classes = shapes[weights[-1]].cols
    out = []
    for k, i in enumerate(weights):
        end = weights[k + 1] if k + 1 < len(weights) else len(shapes)
        out.append(WeightStage(k, shapes[i], plans[k], tuple(shapes[i + 1 : end]), n_classes))
    return out
