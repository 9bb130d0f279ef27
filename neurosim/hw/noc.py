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
from functools import cached_property
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

    @cached_property
    def _byte_hops(self) -> float:
        return sum(h[3] for h in self.hops)

    @cached_property
    def _flit_hops(self) -> int:
        return sum(h[4] for h in self.hops)

    def byte_hops(self) -> float:
        """Payload bytes x links crossed, per sample."""
        return self._byte_hops

    def flit_hops(self) -> int:
        """Flits x links crossed, per sample."""
        return self._flit_hops


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

    def _step_back(self, x: int, y: int, sx: int, sy: int) -> tuple[int, int]:
        """The router before ``(x, y)`` on the XY route from ``(sx, sy)`` (columns move first)."""
        if y != sy:
            return x, y + (1 if sy > y else -1)
        return x + (1 if sx > x else -1), y

    def route(self, src: int, needs: Mapping[int, frozenset], value_bytes: Callable[[int], float]) -> Route:
        """XY multicast tree from ``src`` to every tile in ``needs`` (tile -> value ids it needs).

        Hops are numbered in the order the XY routes to the destinations (ascending)
        first cross their links. XY routes from one source form a tree, so every
        router is entered by one hop: a destination's route is its predecessor's plus
        one hop (built once per router), and a hop's payload, the ids of the
        destinations downstream of it, is gathered leaves first.
        """
        sx, sy = self.xy(src)
        hop_into: dict[tuple[int, int], int] = {(sx, sy): -1}  # router -> the hop entering it
        hop_link: list[int] = []
        hop_parent: list[int] = []
        hop_node: list[int] = []
        dest_hop: dict[int, int] = {}
        for d in sorted(needs):
            if d == src:
                continue
            node = self.xy(d)
            missing = []
            while node not in hop_into:
                missing.append(node)
                node = self._step_back(*node, sx, sy)
            for x, y in reversed(missing):  # from the tree outwards, as the route crosses them
                px, py = node
                parent = hop_into[node]
                hop_into[(x, y)] = len(hop_link)
                hop_link.append(self._links[(px, py, x, y)])
                hop_parent.append(parent)
                hop_node.append(self.tile_at(x, y))
                node = (x, y)
            dest_hop[d] = hop_into[self.xy(d)]
        n = len(hop_link)
        # ids each hop carries: its router's own needs and every child's (children come after their parent)
        own: list[frozenset | None] = [None] * n
        for d, h in dest_hop.items():
            own[h] = needs[d]
        carried: list[frozenset] = [frozenset()] * n
        kids: list[list[int]] = [[] for _ in range(n)]
        for h in range(n):
            if hop_parent[h] >= 0:
                kids[hop_parent[h]].append(h)
        for h in range(n - 1, -1, -1):
            acc = own[h]
            for c in kids[h]:
                part = carried[c]
                acc = part if acc is None or acc is part else acc | part
            carried[h] = acc if acc is not None else frozenset()
        hops = []
        children: dict[int, list[int]] = {-1: []}
        depth = [0] * n
        max_flits = [0] * n
        for h in range(n):
            nbytes = value_bytes(len(carried[h]))
            flits = self.flits(nbytes)
            hops.append((hop_link[h], hop_parent[h], hop_node[h], float(nbytes), flits))
            children.setdefault(hop_parent[h], []).append(h)
            p = hop_parent[h]
            depth[h] = depth[p] + 1 if p >= 0 else 1
            max_flits[h] = max(max_flits[p], flits) if p >= 0 else flits
        dests = {d: (depth[h], max_flits[h]) for d, h in dest_hop.items()}
        return Route(src, tuple(hops), {k: tuple(v) for k, v in children.items()}, dests)

    def arrival_cycles(self, route: Route, dest: int, samples: float) -> float:
        """Contention-free cycles from injection until the tail of ``samples`` samples reaches ``dest``."""
        hops, max_fps = route.dests[dest]
        head = self.cfg.router_cycles_per_hop.value + self.cfg.link_cycles_per_hop.value
        return hops * head + (samples * max_fps - 1) * self.cfg.link_cycles_per_hop.value
