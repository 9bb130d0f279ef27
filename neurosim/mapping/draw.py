"""Draw a placement on the mesh (matplotlib). One drawer serves both callers:
:meth:`Placement.draw` (from the object) and the run report (from placement.csv)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes

    from .placement import Placement

__all__ = ["draw_placement", "draw_placement_frame"]


def draw_placement_frame(ax: "Axes", frame: "pd.DataFrame", rows: int, cols: int, title: str) -> None:
    """Draw a placement frame (the columns of placement.csv) on ``ax``: each used
    tile coloured by the matrix it holds and labelled with its block count; tiles
    homing column blocks are outlined."""
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    cmap = colormaps["tab20"]
    labels = list(dict.fromkeys(frame["layer"] + ":" + frame["matrix"])) if len(frame) else []
    homes = set(frame["home_tile"]) if len(frame) else set()
    for x in range(cols):
        for y in range(rows):
            ax.add_patch(Rectangle((x, y), 0.95, 0.95, facecolor="#f0f0f0", edgecolor="#cccccc", linewidth=0.5))
    if len(frame):
        per_tile = frame.groupby(["layer", "matrix", "tile", "tile_x", "tile_y"], sort=False).size().reset_index(name="blocks")
        for r in per_tile.itertuples(index=False):
            home = r.tile in homes
            ax.add_patch(
                Rectangle(
                    (r.tile_x, r.tile_y), 0.95, 0.95,
                    facecolor=cmap(labels.index(f"{r.layer}:{r.matrix}") % 20),
                    edgecolor="black" if home else "none", linewidth=1.2 if home else 0,
                )
            )
            ax.text(r.tile_x + 0.475, r.tile_y + 0.475, str(r.blocks), ha="center", va="center", fontsize=7)
    for k, lab in enumerate(labels):
        ax.plot([], [], "s", color=cmap(k % 20), label=lab)
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    ax.set_xlabel("tile x")
    ax.set_ylabel("tile y")
    ax.set_title(title)
    if labels:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="layer:matrix", title_fontsize=7)


def draw_placement(placement: "Placement", path: str | Path, title: str | None = None) -> Path:
    """Write a PNG of ``placement`` on its mesh (Agg canvas; no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    rows, cols = placement.mesh_rows, placement.mesh_cols
    fig = Figure(figsize=(max(4.0, cols * 0.7 + 2.5), max(3.5, rows * 0.7)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    default = f"{len(placement.blocks)} blocks on {placement.tiles_used}/{placement.tiles_total} tiles"
    draw_placement_frame(ax, placement.frame(), rows, cols, title or default)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
