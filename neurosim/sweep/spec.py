"""What a sweep is: two base configs, the overrides to try, the algorithms.

A *point* is one set of overrides ``{dotted.key: value}`` applied to the base
hwconfig and workload. Keys are routed by their first part: a top-level
hwconfig section (``chip``, ``crossbar``, ``core``, ``sram``, ``noc``, ``dram``,
``energy``) addresses the hwconfig, anything else the workload
(``training.batch_size``, ``seed``, ``network.layers[1]``...); an explicit
``hw.`` or ``wl.`` prefix overrides the routing. List items are addressed as
``layers[1]`` (or ``layers.1``).

Points come from ``grid`` (the cartesian product of each key's values, keys in
the order given) crossed with ``points`` (a list of coupled settings, e.g.
square crossbars ``{crossbar.rows: 128, crossbar.cols: 128}``). With only one of
the two, that one alone gives the points.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Union

import yaml
from pydantic import BaseModel, Field, field_validator

from ..config.base import StrictModel, read_yaml, validate_mapping
from ..config.hw import HwConfig
from ..config.workload import ALGORITHMS, Workload
from ..errors import ConfigError, NeurosimError

__all__ = [
    "HW_SECTIONS",
    "EXECUTORS",
    "SweepError",
    "Key",
    "Point",
    "SweepSpec",
    "parse_key",
    "parse_value",
    "parse_set",
    "split_values",
    "point_id",
    "apply_overrides",
]

#: First parts of a dotted key that route it to the hwconfig.
HW_SECTIONS: tuple[str, ...] = ("chip", "crossbar", "core", "sram", "noc", "dram", "energy", "device")

#: Executors ``run_sweep`` knows (``serial``: in this process, for debugging).
EXECUTORS: tuple[str, ...] = ("local", "dask", "serial")


class SweepError(NeurosimError):
    """A sweep's specification or output folder is unusable (one line)."""


# --------------------------------------------------------------------------- keys

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Key:
    """A routed dotted key: which config (``hw``/``wl``) and the path inside it."""

    target: Literal["hw", "wl"]
    path: tuple[str | int, ...]

    @property
    def dotted(self) -> str:
        """``network.layers[1]``: the path without the routing prefix."""
        out = ""
        for p in self.path:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
        return out

    @property
    def column(self) -> str:
        """The column name in results.csv: the dotted path, prefixed only where
        the plain path would route elsewhere (e.g. ``hw.name``)."""
        implied = "hw" if isinstance(self.path[0], str) and self.path[0] in HW_SECTIONS else "wl"
        return self.dotted if implied == self.target else f"{self.target}.{self.dotted}"


def parse_key(text: str, where: str = "--set") -> Key:
    """Route ``text`` (``crossbar.rows``, ``hw.name``, ``network.layers[1]``)."""
    raw = str(text).strip()
    parts: list[str | int] = []
    pos = 0
    for m in _PART.finditer(raw):
        if m.start() != pos and (pos == 0 or raw[pos:m.start()] != "."):
            raise SweepError(f"{where}: bad key {text!r}: expected dotted names like crossbar.rows or network.layers[1]")
        pos = m.end()
        if m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            name = m.group(1).strip()
            parts.append(int(name) if name.isdigit() else name)
    if not raw or pos != len(raw) or not parts or isinstance(parts[0], int):
        raise SweepError(f"{where}: bad key {text!r}: expected dotted names like crossbar.rows or network.layers[1]")
    if parts[0] in ("hw", "wl"):
        target, path = parts[0], tuple(parts[1:])
        if not path or isinstance(path[0], int):
            raise SweepError(f"{where}: bad key {text!r}: nothing after the {parts[0]}. prefix")
    else:
        target = "hw" if parts[0] in HW_SECTIONS else "wl"
        path = tuple(parts)
    return Key(target, path)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- values

_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _numbers(v: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; take it as the number it is (YAML 1.2)."""
    if isinstance(v, str) and _FLOAT.match(v.strip()):
        return float(v)
    if isinstance(v, list):
        return [_numbers(x) for x in v]
    if isinstance(v, dict):
        return {k: _numbers(x) for k, x in v.items()}
    return v


def parse_value(text: str) -> Any:
    """One value with YAML scalar rules: ``64`` int, ``0.5`` / ``1e-3`` float,
    ``4x4`` str, ``null`` None, ``[784, 64, 10]`` list."""
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        raise SweepError(f"--set: cannot read value {text!r} as YAML") from None
    if v is None and text.strip() not in ("null", "~", "Null", "NULL"):
        v = text  # an empty string stays a string
    return _numbers(v)


def split_values(text: str) -> list[str]:
    """Split ``a,b,[1,2],c`` at the commas outside brackets and quotes."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return [v.strip() for v in out]


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``crossbar.rows=64,128,256`` -> ``("crossbar.rows", [64, 128, 256])``."""
    if "=" not in text:
        raise SweepError(f"--set {text!r}: expected KEY=V1,V2,... (e.g. crossbar.rows=64,128)")
    key, _, values = text.partition("=")
    parse_key(key.strip(), "--set")
    vals = split_values(values)
    if not values.strip() or any(v == "" for v in vals):
        raise SweepError(f"--set {text!r}: expected a comma list of values after '='")
    parsed = [parse_value(v) for v in vals]
    for v in parsed:
        if isinstance(v, float) and not math.isfinite(v):
            raise SweepError(f"--set {text!r}: values must be finite (got {v})")
    return key.strip(), parsed


def parse_sets(sets) -> dict[str, list[Any]]:
    """Several ``--set`` options into a grid; a key given twice is an error, not "last wins"."""
    grid: dict[str, list[Any]] = {}
    for s in sets:
        k, vals = parse_set(s)
        if k in grid:
            raise SweepError(f"--set {k}: given twice; put every value in one option, e.g. {k}={','.join(map(str, grid[k] + vals))}")
        grid[k] = vals
    return grid


def _canonical(v: Any) -> Any:
    """JSON-stable form of a value (tuples as lists, -0.0 as 0.0)."""
    if isinstance(v, (list, tuple)):
        return [_canonical(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _canonical(x) for k, x in v.items()}
    if isinstance(v, float) and v == 0:
        return 0.0
    return v


def point_id(overrides: dict[Key, Any]) -> str:
    """Stable 12-hex id of a point: a hash of its routed overrides (order-free)."""
    items = sorted(([k.target, [str(p) if isinstance(p, str) else p for p in k.path], _canonical(v)] for k, v in overrides.items()),
                   key=lambda t: json.dumps(t[:2]))
    blob = json.dumps(items, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- schema check


def _unwrap(t: Any) -> Any:
    while True:
        origin = typing.get_origin(t)
        if origin is typing.Annotated:
            t = typing.get_args(t)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(t) if a is not type(None)]
            if len(args) == 1:
                t = args[0]
                continue
        return t


def known_path(model: type[BaseModel], path: tuple[str | int, ...]) -> bool:
    """Whether ``path`` can address a field of ``model`` (unions are taken leniently)."""
    t: Any = model
    for part in path:
        t = _unwrap(t)
        origin = typing.get_origin(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            if not isinstance(part, str) or part not in t.model_fields:
                return False
            t = t.model_fields[part].annotation
        elif origin is list:
            if not isinstance(part, int):
                return False
            t = typing.get_args(t)[0]
        elif origin is dict:
            kt, vt = typing.get_args(t)
            if typing.get_origin(kt) is Literal and part not in typing.get_args(kt):
                return False
            t = vt
        elif origin in (Union, types.UnionType):  # e.g. the algorithm configs: any member will do
            members = [_unwrap(a) for a in typing.get_args(t)]
            return any(isinstance(m, type) and issubclass(m, BaseModel) and part in m.model_fields for m in members)
        else:
            return False
    return True


def apply_overrides(base: dict, overrides: dict[Key, Any], target: str) -> dict:
    """A deep copy of ``base`` with the overrides of ``target`` set (missing
    mappings on the way are created; list indices must exist)."""
    data = copy.deepcopy(base)
    for key, value in overrides.items():
        if key.target != target:
            continue
        node: Any = data
        for i, part in enumerate(key.path):
            last = i == len(key.path) - 1
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    raise SweepError(f"{key.column}: index [{part}] is not an item of the base config's list")
                if last:
                    node[part] = copy.deepcopy(value)
                else:
                    node = node[part]
            else:
                if not isinstance(node, dict):
                    raise SweepError(f"{key.column}: {part!r} is set below a value that is not a mapping")
                if last:
                    node[part] = copy.deepcopy(value)
                else:
                    if not isinstance(node.get(part), (dict, list)):
                        node[part] = {}
                    node = node[part]
    return data


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its id, its overrides by routed key, and the
    results.csv columns (``column -> value``)."""

    id: str
    overrides: dict[Key, Any]

    @property
    def params(self) -> dict[str, Any]:
        return {k.column: v for k, v in self.overrides.items()}


class _SweepFile(StrictModel):
    """The schema of a sweep YAML file."""

    config_kind: ClassVar[str] = "sweep file"

    hw: str = Field(min_length=1)
    workload: str = Field(min_length=1)
    grid: dict[str, Any] = {}
    points: list[dict[str, Any]] = []
    algorithms: list[str] | str | None = None
    out: str | None = None
    executor: Literal["local", "dask", "serial"] = "local"
    scheduler: str | None = None
    workers: int | None = Field(default=None, gt=0)
    epochs: int | None = Field(default=None, gt=0)
    retry_failed: bool = False

    @field_validator("algorithms")
    @classmethod
    def _names(cls, v):
        if v is None:
            return v
        names = [n.strip() for n in v.split(",")] if isinstance(v, str) else v
        bad = [n for n in names if n not in ALGORITHMS]
        if not names or bad:
            raise ValueError(f"expected algorithm names from {', '.join(ALGORITHMS)}; unknown {bad}")
        return names


def _resolve_input(path: str, base: Path) -> Path:
    """A path in a sweep file: relative to the file's folder, else to the current one."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    near = base / p
    return near if near.exists() or not p.exists() else p


@dataclass
class SweepSpec:
    """Everything a sweep needs. Build it directly, from a sweep file
    (:meth:`load`) or from command-line pieces (:meth:`from_cli`).

    ``grid``: ``{dotted.key: [values]}`` (cartesian product); ``points``: list of
    ``{dotted.key: value}`` settings crossed with the grid. ``algorithms``: the
    rules to run (default: the workload's). ``out``: the sweep folder (default
    ``reports/sweep__<workload>__<hw>/``). ``executor``: ``local`` (process pool),
    ``dask`` (a LocalCluster, or the cluster at ``scheduler``) or ``serial``
    (in this process). ``workers``: processes (default: the usable cores).
    ``epochs``: override ``training.epochs`` of the base workload.
    ``retry_failed``: recompute points recorded as failed.
    ``dask_processes``: LocalCluster workers are processes (True) or threads.
    """

    hw: Path
    workload: Path
    grid: dict[str, list[Any]] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=list)
    algorithms: list[str] | None = None
    out: Path | None = None
    executor: str = "local"
    scheduler: str | None = None
    workers: int | None = None
    epochs: int | None = None
    retry_failed: bool = False
    dask_processes: bool = True
    #: Replace another sweep found in ``out`` (else refused).
    force: bool = False
    #: The sweep file this spec came from (named in error messages).
    source: str | None = None

    def __post_init__(self) -> None:
        self.hw = Path(self.hw)
        self.workload = Path(self.workload)
        self.out = Path(self.out) if self.out is not None else None
        where = self.source or "sweep"
        if self.scheduler and self.executor == "local":
            self.executor = "dask"  # a scheduler address only makes sense for dask
        if self.executor not in EXECUTORS:
            raise SweepError(f"{where}: executor: expected one of {', '.join(EXECUTORS)}; got {self.executor!r}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise SweepError(f"{where}: workers: expected a positive integer; got {self.workers!r}")
        if self.epochs is not None and (not isinstance(self.epochs, int) or self.epochs < 1):
            raise SweepError(f"{where}: epochs: expected a positive integer; got {self.epochs!r}")
        if self.algorithms is not None:
            bad = [a for a in self.algorithms if a not in ALGORITHMS]
            if not self.algorithms or bad:
                raise SweepError(f"{where}: algorithms: expected names from {', '.join(ALGORITHMS)}; got {self.algorithms!r}")
            self.algorithms = list(dict.fromkeys(self.algorithms))
        grid = {}
        for k, vals in dict(self.grid).items():
            if not isinstance(vals, (list, tuple)):
                vals = [vals]
            if not vals:
                raise SweepError(f"{where}: grid.{k}: expected a non-empty list of values")
            grid[str(k)] = [_numbers(v) for v in vals]
            if any(isinstance(v, float) and not math.isfinite(v) for v in grid[str(k)]):
                raise SweepError(f"{where}: grid.{k}: values must be finite; got {vals!r}")
        self.grid = grid
        pts = []
        for i, p in enumerate(self.points):
            if not isinstance(p, dict) or not p:
                raise SweepError(f"{where}: points[{i}]: expected a mapping {{dotted.key: value}}")
            pts.append({str(k): _numbers(v) for k, v in p.items()})
        self.points = pts

    # ------------------------------------------------------------- constructors

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> "SweepSpec":
        """Read a sweep YAML file (keys: hw, workload, grid, points, algorithms,
        out, executor, scheduler, workers, epochs, retry_failed). ``overrides``
        (non-None) replace the file's values; ``grid`` entries are merged in."""
        path = Path(path)
        data, lines = read_yaml(path)
        if isinstance(data, dict) and "wl" in data and "workload" not in data:
            data = {("workload" if k == "wl" else k): v for k, v in data.items()}
        f = validate_mapping(_SweepFile, data, str(path), lines)
        base = path.parent
        grid = dict(f.grid)
        grid.update(overrides.pop("grid", None) or {})
        kw: dict[str, Any] = dict(
            hw=_resolve_input(f.hw, base),
            workload=_resolve_input(f.workload, base),
            grid=grid,
            points=f.points,
            algorithms=f.algorithms,
            out=Path(f.out) if f.out else None,
            executor=f.executor,
            scheduler=f.scheduler,
            workers=f.workers,
            epochs=f.epochs,
            retry_failed=f.retry_failed,
            source=str(path),
        )
        kw.update({k: v for k, v in overrides.items() if v is not None})
        if overrides.get("scheduler") and "executor" not in overrides:
            kw["executor"] = "dask"
        return cls(**kw)

    @classmethod
    def from_cli(cls, hw: str | Path, workload: str | Path, sets: list[str] | tuple[str, ...] = (), **kw: Any) -> "SweepSpec":
        """Build from ``--set KEY=V1,V2`` strings (values with YAML scalar rules)."""
        grid = parse_sets(sets)
        return cls(hw=Path(hw), workload=Path(workload), grid=grid, **{k: v for k, v in kw.items() if v is not None})

    # ------------------------------------------------------------- expansion

    def keys(self) -> list[Key]:
        """Every swept key, routed, in order (grid keys, then point keys)."""
        where = self.source or "--set"
        grid: dict[Key, str] = {}
        for raw in self.grid:
            key = parse_key(raw, where)
            if key in grid:
                raise SweepError(f"{where}: grid: {raw!r} and {grid[key]!r} name the same field")
            grid[key] = raw
        out = list(grid)
        for i, p in enumerate(self.points):
            pk = [parse_key(k, where) for k in p]
            if len(set(pk)) != len(pk):
                raise SweepError(f"{where}: points[{i}]: a field is given twice")
            both = set(grid) & set(pk)
            if both:
                raise SweepError(f"{where}: points[{i}]: {sorted(k.column for k in both)} also swept by the grid")
            out += [k for k in pk if k not in out]
        return out

    def expand(self) -> list[Point]:
        """The points, in a deterministic order (grid order, then ``points``);
        duplicates dropped."""
        where = self.source or "--set"
        gkeys = [parse_key(k, where) for k in self.grid]
        combos = list(itertools.product(*self.grid.values())) if self.grid else [()]
        extra = [{parse_key(k, where): v for k, v in p.items()} for p in self.points] or [{}]
        out, seen = [], set()
        for combo in combos:
            for p in extra:
                ov = dict(zip(gkeys, combo))
                ov.update(p)
                pid = point_id(ov)
                if pid not in seen:
                    seen.add(pid)
                    out.append(Point(pid, ov))
        return out

    def check_keys(self, hw_base: dict, wl_base: dict) -> None:
        """Every key must name a field of its config (before anything runs)."""
        where = self.source or "--set"
        for key in self.keys():
            model = HwConfig if key.target == "hw" else Workload
            if not known_path(model, key.path):
                kind = "hwconfig" if key.target == "hw" else "workload"
                hint = "" if key.target == "hw" else f" (keys starting with {', '.join(HW_SECTIONS)} go to the hwconfig)"
                raise ConfigError(where, key.column, f"not a field of the {kind}{hint}")
            try:
                apply_overrides(hw_base if key.target == "hw" else wl_base, {key: None}, key.target)
            except SweepError as exc:
                raise SweepError(f"{where}: {exc}") from None

    def default_out(self, hw_name: str, wl_name: str) -> Path:
        safe = lambda s: re.sub(r"[^A-Za-z0-9_.-]+", "_", s)  # noqa: E731
        return Path("reports") / f"sweep__{safe(wl_name)}__{safe(hw_name)}"

    def n_workers(self) -> int:
        if self.workers:
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)


def format_value(v: Any) -> Any:
    """A value as a results.csv cell: scalars as they are, lists/dicts as compact JSON."""
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(_canonical(v), separators=(",", ":"))
    if isinstance(v, float) and math.isnan(v):
        return v
    return v
