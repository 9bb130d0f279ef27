"""Layers -> blocks -> tiles.

Each matrix the training step keeps in arrays is cut into blocks: on a crossbar
chip a block is ``crossbar.rows`` inputs by ``crossbar.weights_per_row`` weights
(a weight spans ``cells_per_weight`` columns); on an all-digital chip a block is
``sram_weights.block_rows x block_cols`` weights of tile SRAM. Matrices:

- ``W`` of every weight layer, unrolled: ``rows × cols`` with ``rows = n_in``
  (dense) or ``k·k·C_in/groups`` (conv2d, as NeuroSim and ISAAC map it: one
  array column per output channel, one MVM per output position), ``cols`` =
  output units or channels;
- ``B`` of a layer when the rule's feedback lives in arrays
  (``chip.feedback_storage: crossbar`` on a chip with crossbars, and the rule's
  ``dataflow.feedback_in_arrays_allowed``): for a chain rule that multiplies by
  ``B`` (FA) the matrix that replaces ``W``'s transpose, same shape as ``W``, on
  every layer whose error runs through it; for a direct projection with a dense
  ``B`` the ``C`` rows × ``U_d`` projected units of the layer (a conv layer's
  units are channel-major, ``U_d = C_out·⌈H'/d⌉·⌈W'/d⌉``). Sparse and
  label-selected feedback stays in SRAM (a crossbar would multiply all C
  components, zeros included).

Placement is layer-contiguous: matrices in order (W_1, B_1, W_2, B_2, ...), each
starting on a fresh tile, tiles taken along the mesh's serpentine order so
consecutive tiles are neighbours. Inside a matrix blocks go column-block-major;
when a whole column block (all its row blocks) fits a tile, tiles hold whole
column blocks (``blocks_per_tile // row_blocks`` of them), so the partial sums of
a column block reduce inside one tile. Otherwise blocks fill tiles in order.

A column block's *home* is the tile holding most of its blocks (ties: lowest
tile); the home reduces its partial sums, applies the activation (and any
pooling / batchnorm that follows) and owns those output units' (channels')
derivatives and errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config.hw import HwConfig
from ..config.network import LayerShape
from ..errors import MappingError
from ..stages import WeightStage, stages

if TYPE_CHECKING:  # pandas is imported only to build the placement table
    import pandas as pd

__all__ = ["Block", "MatrixPlacement", "Placement", "place", "feedback_in_arrays", "array_feedback", "describe", "FRAME_COLUMNS"]

#: Columns of :meth:`Placement.frame` (placement.csv).
FRAME_COLUMNS = [
    "layer",
    "matrix",
    "block_row",
    "block_col",
    "tile",
    "tile_x",
    "tile_y",
    "rows_used",
    "cols_used",
    "row_start",
    "weight_start",
    "weights_used",
    "home_tile",
]


@dataclass(frozen=True)
class Block:
    layer: str
    matrix: str
    block_row: int
    block_col: int
    tile: int
    tile_x: int
    tile_y: int
    #: first input (row) and number of rows used
    row_start: int
    rows_used: int
    #: first output (weight) and number of weights used
    weight_start: int
    weights_used: int
    #: physical columns used (weights x cells_per_weight on a crossbar)
    cols_used: int


@dataclass(frozen=True)
class MatrixPlacement:
    layer: str
    #: 1-based layer index l of fc{l}
    index: int
    matrix: str
    n_rows: int
    n_cols: int
    row_blocks: int
    col_blocks: int
    blocks: tuple[Block, ...]
    #: tiles holding the matrix, ascending
    tiles: tuple[int, ...]
    #: home tile of each column block
    home: tuple[int, ...]
    _per_tile: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        per_tile: dict[int, list[Block]] = {}
        for b in self.blocks:
            per_tile.setdefault(b.tile, []).append(b)
        object.__setattr__(self, "_per_tile", per_tile)

    def tile_blocks(self, tile: int) -> list[Block]:
        return list(self._per_tile.get(tile, ()))


@dataclass(frozen=True)
class Placement:
    """Where every block of every array-resident matrix sits on the mesh."""

    matrices: tuple[MatrixPlacement, ...]
    mesh_rows: int
    mesh_cols: int
    block_rows: int
    block_weights: int
    blocks_per_tile: int
    #: "crossbar" or "sram": what a block is
    storage: str
    cells_per_weight: int
    _by_key: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {(m.layer, m.matrix): m for m in self.matrices})

    def matrix(self, layer: str, matrix: str = "W") -> MatrixPlacement | None:
        return self._by_key.get((layer, matrix))

    @property
    def blocks(self) -> list[Block]:
        return [b for m in self.matrices for b in m.blocks]

    @property
    def tiles_used(self) -> int:
        return len({t for m in self.matrices for t in m.tiles})

    @property
    def tiles_total(self) -> int:
        return self.mesh_rows * self.mesh_cols

    def frame(self) -> "pd.DataFrame":
        """One row per block (placement.csv)."""
        rows = []
        for m in self.matrices:
            for b in m.blocks:
                rows.append(
                    {
                        "layer": b.layer,
                        "matrix": b.matrix,
                        "block_row": b.block_row,
                        "block_col": b.block_col,
                        "tile": b.tile,
                        "tile_x": b.tile_x,
                        "tile_y": b.tile_y,
                        "rows_used": b.rows_used,
                        "cols_used": b.cols_used,
                        "row_start": b.row_start,
                        "weight_start": b.weight_start,
                        "weights_used": b.weights_used,
                        "home_tile": m.home[b.block_col],
                    }
                )
        import pandas as pd  # only the placement table needs it

        return pd.DataFrame(rows, columns=FRAME_COLUMNS)

    def summary(self) -> str:
        return (
            f"{len(self.blocks)} blocks on {self.tiles_used}/{self.tiles_total} tiles, "
            f"{self.block_rows}x{self.block_weights} {self.storage} blocks, {self.blocks_per_tile} per tile"
        )


def feedback_in_arrays(hw: HwConfig, algo) -> bool:
    """Whether the rule's dense feedback matrices live in crossbar arrays on this chip
    (asked of the rule's ``dataflow``, see :mod:`neurosim.config.dataflow`)."""
    return hw.crossbar is not None and hw.chip.feedback_storage == "crossbar" and type(algo).dataflow.feedback_in_arrays_allowed


def array_feedback(stage: WeightStage, below: WeightStage | None, algo) -> tuple[int, int] | None:
    """(rows, cols) of the feedback matrix of ``stage`` kept in arrays (when the chip
    keeps feedback in arrays), or None: FA's ``B`` replacing ``W``'s transpose where
    the chain runs through it, or a dense direct projection's ``C × U_d``."""
    flow = type(algo).dataflow
    if flow.chain_matrix == "B" and below is not None and below.plan.error == "chain":
        return stage.shape.rows, stage.shape.cols
    if stage.plan.error == "direct" and flow.feedback == "dense" and stage.plan.fanin == stage.n_classes:
        return stage.n_classes, stage.projected_units
    return None


def describe(shapes: list[LayerShape]) -> str:
    """A network in one token: ``784-800-800-10`` for an MLP, else the layer names."""
    if all(s.kind == "dense" for s in shapes):
        return "-".join(str(v) for v in [shapes[0].in_units] + [s.out_units for s in shapes])
    return "x".join(map(str, shapes[0].in_shape)) + ":" + "-".join(s.name for s in shapes)


def _block_geometry(hw: HwConfig) -> tuple[int, int, int, int, str]:
    """(block rows, block weights, blocks per tile, cells per weight, storage)."""
    if hw.chip.weight_storage == "crossbar":
        xb = hw.crossbar
        assert xb is not None
        return xb.rows, xb.weights_per_row, hw.chip.crossbars_per_tile, xb.cells_per_weight, "crossbar"
    sw = hw.sram_weights
    assert sw is not None
    return sw.block_rows, sw.block_cols, sw.blocks_per_tile, 1, "sram"


def _tile_xy(tile: int, cols: int) -> tuple[int, int]:
    y, r = divmod(tile, cols)
    return (r if y % 2 == 0 else cols - 1 - r), y


def place(hw: HwConfig, shapes: list[LayerShape], algo) -> Placement:
    """Place every array-resident matrix of one training step of ``algo``.

    Raises :class:`~neurosim.errors.MappingError` when the blocks need more tiles
    than the mesh has.
    """
    chain = stages(shapes, algo)
    name = algo.name
    br, bw, per_tile, cpw, storage = _block_geometry(hw)
    fb_arrays = feedback_in_arrays(hw, algo)
    # feedback matrices in arrays are always crossbar-blocked (even next to SRAM weights)
    fb_geom = (hw.crossbar.rows, hw.crossbar.weights_per_row, hw.chip.crossbars_per_tile, hw.crossbar.cells_per_weight) if fb_arrays else None

    specs: list[tuple[str, int, str, int, int, tuple[int, int, int, int]]] = []
    for st in chain:
        l = st.index + 1
        specs.append((st.name, l, "W", st.shape.rows, st.shape.cols, (br, bw, per_tile, cpw)))
        fb = array_feedback(st, chain[st.index - 1] if st.index > 0 else None, algo) if fb_arrays else None
        if fb is not None:
            specs.append((st.name, l, "B", fb[0], fb[1], fb_geom))
    # first pass: how many tiles each matrix needs
    plans = []
    total_tiles = 0
    total_blocks = 0
    for layer, l, kind, n_rows, n_cols, (gr, gw, gpt, gcpw) in specs:
        R = -(-n_rows // gr)
        Cb = -(-n_cols // gw)
        if R <= gpt:
            per = gpt // R
            n_tiles = -(-Cb // per)
        else:
            per = 0
            n_tiles = -(-(R * Cb) // gpt)
        plans.append((layer, l, kind, n_rows, n_cols, gr, gw, gpt, gcpw, R, Cb, per))
        total_tiles += n_tiles
        total_blocks += R * Cb
    mesh_tiles = hw.noc.tiles
    if total_tiles > mesh_tiles:
        what = "arrays" if storage == "crossbar" else "SRAM weight blocks"
        raise MappingError(
            f"network {describe(shapes)} ({name}) needs {total_tiles} tiles "
            f"({total_blocks} {what} of {br}x{bw} weights, {per_tile} per tile) "
            f"but the {hw.noc.mesh} mesh of {hw.name} has {mesh_tiles}"
        )

    matrices: list[MatrixPlacement] = []
    next_tile = 0
    for layer, l, kind, n_rows, n_cols, gr, gw, gpt, gcpw, R, Cb, per in plans:
        blocks: list[Block] = []
        tile_of: dict[tuple[int, int], int] = {}
        if per:
            for c in range(Cb):
                t = next_tile + c // per
                for r in range(R):
                    tile_of[(r, c)] = t
        else:
            i = 0
            for c in range(Cb):
                for r in range(R):
                    tile_of[(r, c)] = next_tile + i // gpt
                    i += 1
        for c in range(Cb):
            for r in range(R):
                t = tile_of[(r, c)]
                x, y = _tile_xy(t, hw.noc.mesh_cols)
                rows_used = min(gr, n_rows - r * gr)
                w_used = min(gw, n_cols - c * gw)
                blocks.append(Block(layer, kind, r, c, t, x, y, r * gr, rows_used, c * gw, w_used, w_used * gcpw))
        tiles = tuple(sorted({b.tile for b in blocks}))
        home = []
        for c in range(Cb):
            cnt: dict[int, int] = {}
            for r in range(R):
                cnt[tile_of[(r, c)]] = cnt.get(tile_of[(r, c)], 0) + 1
            home.append(min(cnt, key=lambda t: (-cnt[t], t)))
        matrices.append(MatrixPlacement(layer, l, kind, n_rows, n_cols, R, Cb, tuple(blocks), tiles, tuple(home)))
        next_tile = tiles[-1] + 1
    return Placement(
        tuple(matrices),
        mesh_rows=hw.noc.mesh_rows,
        mesh_cols=hw.noc.mesh_cols,
        block_rows=br,
        block_weights=bw,
        blocks_per_tile=per_tile,
        storage=storage,
        cells_per_weight=cpw,
    )
