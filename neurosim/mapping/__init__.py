"""Mapping: each layer's weight matrix (and B where the rule keeps it in arrays)
cut into array-sized blocks and placed on the tiles of the mesh.

Imports flow one way: :mod:`.draw` (matplotlib) uses :mod:`.placement`, never
the reverse."""

from ..errors import MappingError
from .draw import draw_placement
from .placement import FRAME_COLUMNS, Block, MatrixPlacement, Placement, array_feedback, feedback_in_arrays, place

__all__ = [
    "Block",
    "MatrixPlacement",
    "Placement",
    "place",
    "draw_placement",
    "feedback_in_arrays",
    "array_feedback",
    "FRAME_COLUMNS",
    "MappingError",
]
