"""What a sweep is: two base configs, the overrides to try, the algorithms.

A *point* is one set of overrides ``{dotted.key: value}`` applied to the base
hwconfig and workload; its keys are routed to one or the other as
:mod:`neurosim.sweep.keys` describes, its values read as :mod:`neurosim.sweep.values`
describes and set as :mod:`neurosim.sweep.overrides` does.

Points come from ``grid`` (the cartesian product of each key's values, keys in
the order given) crossed with ``points`` (a list of coupled settings, e.g.
square crossbars ``{crossbar.rows: 128, crossbar.cols: 128}``). With only one of
the two, that one alone gives the points.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ..config.base import StrictModel, read_yaml, validate_mapping
from ..config.hw import HwConfig
from ..config.workload import ALGORITHMS, Workload
from ..errors import ConfigError
from .keys import HW_SECTIONS, Key, SweepError, parse_key
from .overrides import apply_overrides, known_path
from .values import as_numbers, format_value, parse_set, parse_sets, parse_value, point_id, split_values

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
    "known_path",
    "parse_sets",
    "format_value",
]

#: Executors ``run_sweep`` knows (``serial``: in this process, for debugging).
EXECUTORS: tuple[str, ...] = ("local", "dask", "serial")


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
        bad = [n for n in names if not _RUN_NAME.match(str(n))]
        if not names or bad:
            raise ValueError(f"expected rule names ({', '.join(ALGORITHMS)}) or labels of the workload's entries; got {bad}")
        return names


#: What a run name can be (the pattern of ``AlgorithmConfig.label``; rule names match it too).
_RUN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def check_algorithm_names(names: list[str], labels: list[str], where: str) -> None:
    """Each name is a rule (``bp``, ``dfa``...) or the label of one of the workload's
    entries (its ``AlgorithmConfig.run_name``), else a one-line SweepError."""
    bad = [n for n in names if n not in ALGORITHMS and n not in labels]
    if not names or bad:
        known = f"{', '.join(ALGORITHMS)}" + (f", or the workload's labels {', '.join(labels)}" if labels else "")
        raise SweepError(f"{where}: algorithms: expected names from {known}; got {names!r}")


def _workload_labels(path: Path) -> list[str] | None:
    """The labels of a workload file's entries, read without validating it (the
    plan validates it, and checks the names again, before anything runs)."""
    try:
        data, _ = read_yaml(path)
    except Exception:  # noqa: BLE001 - an unreadable workload is reported by the plan
        return None
    entries = data.get("algorithms") if isinstance(data, dict) else None
    return [str(a["label"]) for a in entries or [] if isinstance(a, dict) and a.get("label")]


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
            labels = _workload_labels(self.workload) if any(a not in ALGORITHMS for a in self.algorithms) else []
            if labels is not None:  # None: the workload is unreadable; the plan says so
                check_algorithm_names(self.algorithms, labels, where)
            self.algorithms = list(dict.fromkeys(self.algorithms))
        grid = {}
        for k, vals in dict(self.grid).items():
            if not isinstance(vals, (list, tuple)):
                vals = [vals]
            if not vals:
                raise SweepError(f"{where}: grid.{k}: expected a non-empty list of values")
            grid[str(k)] = [as_numbers(v) for v in vals]
            if any(isinstance(v, float) and not math.isfinite(v) for v in grid[str(k)]):
                raise SweepError(f"{where}: grid.{k}: values must be finite; got {vals!r}")
        self.grid = grid
        pts = []
        for i, p in enumerate(self.points):
            if not isinstance(p, dict) or not p:
                raise SweepError(f"{where}: points[{i}]: expected a mapping {{dotted.key: value}}")
            pts.append({str(k): as_numbers(v) for k, v in p.items()})
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

