"""The chip's view of one weight layer: where its matrices sit, who owns its outputs,
and how its inputs are named for transfers.

Id spaces (what a transfer or a reduction names):

- a layer's **outputs** are its columns: output units (dense) or output channels
  (conv2d), ``positions`` values each per sample; the home tile of a column block
  owns those columns (``owner``), reduces their partial sums, applies the
  activation, any batchnorm and pooling after it, and keeps their errors;
- a layer's **inputs** are what its tiles receive: input features (dense; after
  a flatten, feature ``f`` comes from channel ``f // H·W`` of the producer) or
  input channels (conv2d; a whole ``H·W`` map each). A block's rows name inputs:
  dense row ``r`` is feature ``r``; conv row ``r`` (channel-major unrolling
  ``(c, i, j)``) is channel ``r // k²`` (plus the group's first channel).

For a dense-only network both spaces are the neuron indices of the MLP.

A set of ids is a bitmask (a Python ``int``, bit ``i`` for id ``i``): intersections,
unions and counts (``mask.bit_count()``) cost a few machine words instead of a
hash per id, which matters on large chips (a 64x64-array step intersects ~10^4
pairs of sets and merges them up ~10^4 multicast hops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..mapping.placement import Block, MatrixPlacement, Placement
from ..stages import WeightStage

__all__ = ["ChipLayer", "chip_layers", "ranges_mask", "ids_mask", "mask_ids"]


def ranges_mask(ranges: list[tuple[int, int]]) -> int:
    """The ids of the half-open ranges ``[a, b)`` as a bitmask."""
    out = 0
    for a, b in ranges:
        if b > a:
            out |= ((1 << (b - a)) - 1) << a
    return out


def ids_mask(ids: np.ndarray) -> int:
    """The ids of an integer array (non-negative, any order, repeats allowed) as a bitmask."""
    if len(ids) == 0:
        return 0
    bits = np.zeros(int(ids.max()) + 1, dtype=bool)
    bits[ids] = True
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def mask_ids(mask: int) -> list[int]:
    """The ids of a bitmask, ascending."""
    if mask == 0:
        return []
    bits = np.unpackbits(np.frombuffer(mask.to_bytes((mask.bit_length() + 7) // 8, "little"), np.uint8), bitorder="little")
    return np.flatnonzero(bits).tolist()


@dataclass(eq=False)
class ChipLayer:
    """One weight layer on the chip (1-based ``index`` as in fc1, fc2, ...)."""

    index: int
    stage: WeightStage
    weights: MatrixPlacement
    #: The rule's feedback matrix of this layer kept in arrays (see ``mapping.placement``).
    feedback: MatrixPlacement | None
    #: home tile of each output column (unit or channel)
    owner: np.ndarray
    homes: list[int]
    #: per home, the output ids (columns) it owns, a bitmask
    home_ids: dict[int, int]
    #: spatial size of each input channel the producer feeds (1 for flat inputs)
    input_spatial: int
    _tile_inputs: dict[int, int] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------- shapes
    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def positions(self) -> int:
        return self.stage.positions

    @property
    def is_conv(self) -> bool:
        return self.stage.shape.kind == "conv2d"

    @property
    def input_values_per_id(self) -> int:
        """Values per sample behind one input id: a whole input map for conv, 1 for dense."""
        return math.prod(self.stage.shape.in_shape[1:]) if self.is_conv else 1

    def values_at(self, home: int) -> int:
        """Output values per sample the home owns (channels × positions)."""
        return self.home_ids[home].bit_count() * self.positions

    def projected_at(self, home: int) -> int:
        """Output values per sample of the home a direct projection reaches."""
        return self.home_ids[home].bit_count() * self.stage.projected_positions

    def pooled_at(self, home: int) -> int:
        """Values per sample the home passes on after pooling (per channel: the pooled map)."""
        shape = self.stage.map_shape
        per_channel = math.prod(shape[1:]) if len(shape) == 3 else 1
        return self.home_ids[home].bit_count() * per_channel

    # ---------------------------------------------------------- id spaces
    def block_inputs(self, block: Block) -> list[tuple[int, int]]:
        """Input ids (as half-open ranges) a block's rows read."""
        if not self.is_conv:
            return [(block.row_start, block.row_start + block.rows_used)]
        s = self.stage.shape
        window = s.kernel * s.kernel
        first, last = block.row_start // window, (block.row_start + block.rows_used - 1) // window
        if s.groups == 1:
            return [(first, last + 1)]
        per_group_in, per_group_out = s.channels_in // s.groups, s.channels_out // s.groups
        g0 = block.weight_start // per_group_out
        g1 = (block.weight_start + block.weights_used - 1) // per_group_out
        return [(g * per_group_in + first, g * per_group_in + last + 1) for g in range(g0, g1 + 1)]

    def inputs_on(self, tile: int) -> int:
        """Input ids the tile's blocks of W read (a bitmask)."""
        ids = self._tile_inputs.get(tile)
        if ids is None:
            ids = self._tile_inputs[tile] = ranges_mask(
                [r for b in self.weights.tile_blocks(tile) for r in self.block_inputs(b)]
            )
        return ids

    def inputs_from(self, channels: int) -> int:
        """Input ids fed by these output channels (units) of the producer (bitmasks)."""
        if self.is_conv or self.input_spatial == 1:
            return channels
        hw = self.input_spatial
        return ranges_mask([(c * hw, (c + 1) * hw) for c in mask_ids(channels)])

    def input_owner(self, producer: "ChipLayer") -> np.ndarray:
        """Home tile (of ``producer``) of each input id of this layer."""
        n_ids = self.stage.shape.channels_in if self.is_conv else self.stage.shape.in_units
        ids = np.arange(n_ids)
        return producer.owner[ids if (self.is_conv or self.input_spatial == 1) else ids // self.input_spatial]


def _owner(m: MatrixPlacement, n_cols: int, block_weights: int) -> np.ndarray:
    own = np.empty(n_cols, dtype=np.int64)
    for c, h in enumerate(m.home):
        own[c * block_weights : min((c + 1) * block_weights, n_cols)] = h
    return own


def chip_layers(stages: list[WeightStage], placement: Placement, input_shape: tuple[int, ...]) -> dict[int, ChipLayer]:
    """Index (1-based) -> :class:`ChipLayer` for every weight layer."""
    out: dict[int, ChipLayer] = {}
    feed = input_shape
    for st in stages:
        m = placement.matrix(st.name, "W")
        assert m is not None
        own = _owner(m, st.shape.cols, placement.block_weights)
        homes = sorted(set(int(h) for h in m.home))
        home_ids = {h: ids_mask(np.nonzero(own == h)[0]) for h in homes}
        spatial = math.prod(feed[1:]) if len(feed) == 3 else 1
        out[st.index + 1] = ChipLayer(st.index + 1, st, m, placement.matrix(st.name, "B"), own, homes, home_ids, spatial)
        feed = st.map_shape
    return out
