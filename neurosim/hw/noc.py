"""The 2D mesh: tile coordinates, XY routes, multicast trees, flit counts.

Tiles are numbered along a serpentine (boustrophedon) walk of the mesh rows, so
consecutive tile numbers are neighbours: tile ``t`` sits at row ``y = t // cols``
and column ``x = t % cols`` on even rows, ``cols - 1 - t % cols`` on odd rows.

Routing is dimension-ordered (XY): along the source row to the destination
column, then along that column. Every directed link between neighbouring routers
is one resource. A multicast is the union of the XY routes from its source to
each destination; XY routes from one source share their prefixes, so the union
is a tree and each link carries the packet once. Payloads are *pruned*: a link
carries only the values some destination downstream of it needs (sparse DFA's
per-tile subset of the error), so its per-sample bytes are
``value_bytes(|union of downstream needs|)``.

Wormhole / cut-through timing (same in the DES and the analytic model): the head
crosses each hop in ``router + link`` cycles; a link is busy for
``flits * link`` cycles; the tail reaches destination ``d`` after
``hops(d) * (router + link) + (max flits on its path - 1) * link`` cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

from ..config.hw import NocConfig

__all__ = ["Mesh", "Route"]


@dataclass(frozen=True)
class Route:
    """A (multicast) transfer's tree, per sample."""

    src: int
    #: hops in topological order: (link id, parent hop index or -1, node reached, per-sample bytes, per-sample flits)
    hops: tuple[tuple[int, int, int, float, int], ...]
    #: children hop indices of each hop, and of the source (key -1)
    children: Mapping[int, tuple[int, ...]]
    #: destination tile -> (hop count, max per-sample flits on its path)
    dests: Mapping[int, tuple[int, int]]

    def byte_hops(self) -> float:
        """Payload bytes x links crossed, per sample (summed once per route: every chunk's transfer asks)."""
        memo = self.__dict__
        if "_byte_hops" not in memo:
            memo["_byte_hops"] = sum(h[3] for h in self.hops)
        return memo["_byte_hops"]

    def flit_hops(self) -> int:
        """Flits x links crossed, per sample (summed once per route)."""
        memo = self.__dict__
        if "_flit_hops" not in memo:
            memo["_flit_hops"] = sum(h[4] for h in self.hops)
        return memo["_flit_hops"]


class Mesh:
    """Geometry and routing of an RxC mesh."""

    def __init__(self, cfg: NocConfig):
        self.cfg = cfg
        self.rows = cfg.mesh_rows
        self.cols = cfg.mesh_cols
        self.tiles = self.rows * self.cols
        self.flit_bytes = cfg.flit_bytes
        self._links: dict[tuple[int, int, int, int], int] = {}
        for y in range(self.rows):
            for x in range(self.cols):
                for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    nx, ny = x + dx, y + dy
                    if 0 <= nx < self.cols and 0 <= ny < self.rows:
                        self._links[(x, y, nx, ny)] = len(self._links)
        self.n_links = len(self._links)
        self._link_names = {v: k for k, v in self._links.items()}

    # ----------------------------------------------------------- coordinates
    def xy(self, tile: int) -> tuple[int, int]:
        y, r = divmod(tile, self.cols)
        return (r if y % 2 == 0 else self.cols - 1 - r), y

    def tile_at(self, x: int, y: int) -> int:
        return y * self.cols + (x if y % 2 == 0 else self.cols - 1 - x)

    def link_name(self, link: int) -> tuple[int, int, int, int]:
        return self._link_names[link]

    # --------------------------------------------------------------- routing
    def xy_path(self, src: int, dst: int) -> list[int]:
        """Link ids of the XY route from ``src`` to ``dst`` (empty if equal)."""
        (x, y), (tx, ty) = self.xy(src), self.xy(dst)
        out = []
        while x != tx:
            nx = x + (1 if tx > x else -1)
            out.append(self._links[(x, y, nx, y)])
            x = nx
        while y != ty:
            ny = y + (1 if ty > y else -1)
            out.append(self._links[(x, y, x, ny)])
            y = ny
        return out

    def hops(self, src: int, dst: int) -> int:
        (x, y), (tx, ty) = self.xy(src), self.xy(dst)
        return abs(x - tx) + abs(y - ty)

    def flits(self, nbytes: float) -> int:
        return math.ceil(nbytes / self.flit_bytes) if nbytes > 0 else 0

    def route(self, src: int, needs: Mapping[int, int | frozenset], value_bytes: Callable[[int], float]) -> Route:
        """XY multicast tree from ``src`` to every tile in ``needs`` (tile -> value ids it needs:
        a bitmask, bit ``i`` for id ``i``, or a set of ids).

        Hops are numbered in the order the destinations' XY paths (sorted by tile) first
        cross them. The hops of a path already in the tree are a prefix of it (XY routes
        from one source share their prefixes), so each path is walked back from its
        destination only until it meets the tree: the work is one step per hop, not per
        (destination, hop)."""
        xy, tile_of, up, down, right, left = _walk_tables(self)
        x0, y0 = xy[src]
        hop_of_link: dict[int, int] = {}
        hop_get = hop_of_link.get
        hop_link: list[int] = []
        hop_parent: list[int] = []
        hop_node: list[int] = []
        #: per hop the ids (a bitmask) of its own destination; its subtree's are merged in below
        hop_ids: list[int] = []
        dest_last: dict[int, tuple[int, int]] = {}
        for d in sorted(needs):
            if d == src:
                continue
            tx, ty = xy[d]
            new: list[tuple[int, int, int]] = []  # (link, x, y reached), walked back from the destination
            h = -1
            x, y = tx, ty
            if y != y0:  # the column part, from its far end: the link into (x, y) from (x, y -/+ 1)
                column, step = (up[x], -1) if ty > y0 else (down[x], 1)
                while y != y0:
                    py = y + step
                    link = column[py]
                    h = hop_get(link, -1)
                    if h >= 0:
                        break
                    new.append((link, x, y))
                    y = py
            if h < 0 and x != x0:  # the row part
                row, step = (right[y0], -1) if tx > x0 else (left[y0], 1)
                while x != x0:
                    px = x + step
                    link = row[px]
                    h = hop_get(link, -1)
                    if h >= 0:
                        break
                    new.append((link, x, y0))
                    x = px
            parent = h  # the hop where the path meets the tree, or -1 (the source)
            for link, nx, ny in reversed(new):
                h = len(hop_link)
                hop_of_link[link] = h
                hop_link.append(link)
                hop_parent.append(parent)
                hop_node.append(tile_of[ny][nx])
                hop_ids.append(0)
                parent = h
            last = parent
            ids = needs[d]
            hop_ids[last] |= ids if type(ids) is int else _mask(ids)
            dest_last[d] = (abs(tx - x0) + abs(ty - y0), last)
        n_ids = [0] * len(hop_link)
        for h in range(len(hop_link) - 1, -1, -1):  # a hop carries what its subtree needs (parents come first)
            ids = hop_ids[h]
            n_ids[h] = ids.bit_count()
            if hop_parent[h] >= 0:
                hop_ids[hop_parent[h]] |= ids
        sized: dict[int, tuple[float, int]] = {}
        for k in set(n_ids):
            nbytes = value_bytes(k)
            sized[k] = (float(nbytes), self.flits(nbytes))
        size_of = [sized[k] for k in n_ids]
        flits = [f for _, f in size_of]
        hops = tuple(zip(hop_link, hop_parent, hop_node, [nb for nb, _ in size_of], flits))
        children: dict[int, list[int]] = {-1: []}
        get_children = children.get
        max_flits = list(flits)  # the most flits on any hop from the source to this one
        for h, parent in enumerate(hop_parent):
            kids = get_children(parent)
            if kids is None:
                children[parent] = [h]
            else:
                kids.append(h)
            if parent >= 0 and max_flits[parent] > max_flits[h]:
                max_flits[h] = max_flits[parent]
        dests = {d: (n_hops, max_flits[last]) for d, (n_hops, last) in dest_last.items()}
        return Route(src, hops, {k: tuple(v) for k, v in children.items()}, dests)

    def arrival_cycles(self, route: Route, dest: int, samples: float) -> float:
        """Contention-free cycles from injection until the tail of ``samples`` samples reaches ``dest``."""
        hops, max_fps = route.dests[dest]
        head = self.cfg.router_cycles_per_hop.value + self.cfg.link_cycles_per_hop.value
        return hops * head + (samples * max_fps - 1) * self.cfg.link_cycles_per_hop.value


def _mask(ids) -> int:
    """A set of ids as a bitmask."""
    out = 0
    for i in ids:
        out |= 1 << i
    return out


#: route()'s lookup tables per mesh shape (rows, cols): they depend on nothing else
_WALKS: dict[tuple[int, int], tuple] = {}


def _walk_tables(mesh: Mesh) -> tuple:
    """What :meth:`Mesh.route` looks up: per tile its (x, y); per (y, x) its tile; the link
    into (x, y) from the router before it on a column walked up / down (by x, then by the y
    of that router) and on a row walked right / left (by y, then x). Made once per shape."""
    rows, cols = mesh.rows, mesh.cols
    tables = _WALKS.get((rows, cols))
    if tables is None:
        links = mesh._links
        tables = _WALKS[(rows, cols)] = (
            [mesh.xy(t) for t in range(mesh.tiles)],
            [[mesh.tile_at(x, y) for x in range(cols)] for y in range(rows)],
            [[links.get((x, y, x, y + 1), -1) for y in range(rows)] for x in range(cols)],
            [[links.get((x, y, x, y - 1), -1) for y in range(rows)] for x in range(cols)],
            [[links.get((x, y, x + 1, y), -1) for x in range(cols)] for y in range(rows)],
            [[links.get((x, y, x - 1, y), -1) for x in range(cols)] for y in range(rows)],
        )
    return tables
