"""Draw a placement on the mesh (matplotlib, Agg canvas; no global backend change)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .placement import Placement

__all__ = ["draw_placement"]


def draw_placement(placement: "Placement", path: str | Path, title: str | None = None) -> Path:
    """Write a PNG of the mesh: each tile coloured by the matrix it holds, labelled
    with its block count; tiles homing column blocks are outlined."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    path = Path(path)
    rows, cols = placement.mesh_rows, placement.mesh_cols
    fig = Figure(figsize=(max(4.0, cols * 0.7 + 2.5), max(3.5, rows * 0.7)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    labels = [f"{m.layer}:{m.matrix}" for m in placement.matrices]
    cmap = fig.colormaps["tab20"] if hasattr(fig, "colormaps") else None
    if cmap is None:
        import matplotlib

        cmap = matplotlib.colormaps["tab20"]
    homes = {t for m in placement.matrices for t in m.home}
    for x in range(cols):
        for y in range(rows):
            ax.add_patch(Rectangle((x, y), 0.95, 0.95, facecolor="#f0f0f0", edgecolor="#cccccc", linewidth=0.5))
    for k, m in enumerate(placement.matrices):
        per_tile: dict[int, int] = {}
        xy: dict[int, tuple[int, int]] = {}
        for b in m.blocks:
            per_tile[b.tile] = per_tile.get(b.tile, 0) + 1
            xy[b.tile] = (b.tile_x, b.tile_y)
        for t, n in per_tile.items():
            x, y = xy[t]
            ax.add_patch(
                Rectangle(
                    (x, y),
                    0.95,
                    0.95,
                    facecolor=cmap(k % 20),
                    edgecolor="black" if t in homes else "none",
                    linewidth=1.2 if t in homes else 0,
                )
            )
            ax.text(x + 0.475, y + 0.475, str(n), ha="center", va="center", fontsize=7)
    for k, lab in enumerate(labels):
        ax.plot([], [], "s", color=cmap(k % 20), label=lab)
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    ax.set_xlabel("tile x")
    ax.set_ylabel("tile y")
    ax.set_title(title or f"{len(placement.blocks)} blocks on {placement.tiles_used}/{placement.tiles_total} tiles")
    if labels:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="layer:matrix", title_fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
