"""The plan of a sweep: every point validated and its training runs keyed,
before anything is written.

Training depends only on the workload, never on the chip, so each distinct
(numeric workload settings, algorithm) is one training run, cached under
:func:`numerics_key`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..config.base import read_yaml, validate_mapping
from ..config.hw import HwConfig
from ..config.workload import ALGORITHMS, AlgorithmConfig, Workload
from ..data import load_dataset
from ..errors import NeurosimError
from .spec import Key, Point, SweepSpec, apply_overrides, check_algorithm_names
from .store import SweepDir
from .tasks import device_numerics, one_line

__all__ = ["Plan", "PlannedPoint", "plan_sweep", "numerics_key", "select_algorithms"]


def _hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:n]


def numerics_key(wl: Workload, algo: Any, data_id: dict, hw: HwConfig | None = None) -> str:
    """Cache key of a training run: everything in the workload that can change the
    numbers (not its name, nor the list of other algorithms), the algorithm's
    config (not its label: an output name), which data it read, the hwconfig's device numerics (if any) and the
    neurosim version."""
    w = wl.model_dump(mode="json")
    w.pop("name", None)
    w.pop("algorithms", None)
    w["dataset"].pop("data_dir", None)  # where the files were found is in data_id
    a = algo.model_dump(mode="json")
    a.pop("label", None)
    key = {"workload": w, "algorithm": a, "data": data_id, "version": __version__}
    device = device_numerics(hw)
    if device is not None:
        key["device"] = device
    return _hash(key)


@dataclass
class PlannedPoint:
    point: Point
    error: str | None = None
    hw: dict | None = None
    wl: dict | None = None
    #: run name (the entry's label, else its rule name) -> the algorithm config, dumped
    algos: dict[str, dict] = field(default_factory=dict)
    #: run name -> numerics key
    keys: dict[str, str] = field(default_factory=dict)
    n_train: int = 0
    base_dir: str | None = None
    source_dir: str | None = None


@dataclass
class Plan:
    spec: SweepSpec
    out: Path
    algorithms: list[str]
    params: list[str]
    points: list[PlannedPoint]
    fingerprint: str
    manifest: dict
    hw_name: str
    wl_name: str


def select_algorithms(wl: Workload, names: list[str] | None, where: str) -> list[AlgorithmConfig]:
    """The entries to run by run name (:attr:`AlgorithmConfig.run_name`: a label, else
    the rule's name): the workload's entry of that name, else (a rule the workload
    does not list) that rule with its defaults; all of the workload's without names."""
    from ..pipeline import resolve_algorithms

    labels = [a.run_name for a in wl.algorithms if a.run_name not in ALGORITHMS]
    if names is not None:
        check_algorithm_names(names, labels, where)
    return resolve_algorithms(wl, names)


def _load_base(path: Path, model):
    data, lines = read_yaml(path)
    validate_mapping(model, data, str(path), lines)
    return data


def plan_sweep(spec: SweepSpec) -> Plan:
    """Validate everything before anything is written: base configs, keys, data,
    output folder; then build and validate every point (an invalid point carries
    its one-line error instead of configs)."""
    hw_base = _load_base(spec.hw, HwConfig)
    wl_base = _load_base(spec.workload, Workload)
    if spec.epochs is not None:
        wl_base = apply_overrides(wl_base, {Key("wl", ("training", "epochs")): spec.epochs}, "wl")
    spec.check_keys(hw_base, wl_base)
    hw0 = HwConfig.model_validate(hw_base)
    wl0 = Workload.model_validate(wl_base)
    select_algorithms(wl0, spec.algorithms, spec.source or "sweep")
    algorithms = list(spec.algorithms) if spec.algorithms else [a.run_name for a in wl0.algorithms]
    base_dir = str(spec.workload.parent)

    datasets: dict[str, dict] = {}

    def data_id(wl: Workload) -> dict:
        k = wl.dataset.model_dump_json()
        if k not in datasets:
            d = load_dataset(wl.dataset, base_dir=base_dir)
            datasets[k] = {"source_dir": os.path.realpath(d.source_dir), "n_train": d.n_train, "n_test": d.n_test}
        return datasets[k]

    base_data = data_id(wl0)  # a base dataset that cannot be found is the user's error, now
    out = spec.out or spec.default_out(hw0.name, wl0.name)
    SweepDir(out).check_usable()
    from ..preflight import check_out_dir

    check_out_dir(Path(out), len(algorithms))

    points = spec.expand()
    params: list[str] = list(dict.fromkeys(k.column for k in spec.keys()))
    planned: list[PlannedPoint] = []
    for p in points:
        pp = PlannedPoint(point=p, base_dir=base_dir)
        try:
            hw = validate_mapping(HwConfig, apply_overrides(hw_base, p.overrides, "hw"), str(spec.hw))
            wl = validate_mapping(Workload, apply_overrides(wl_base, p.overrides, "wl"), str(spec.workload))
            algos = select_algorithms(wl, algorithms, str(spec.workload))
            did = data_id(wl)
        except NeurosimError as exc:
            pp.error = one_line(exc)
        else:
            pp.hw = hw.model_dump(mode="json")
            pp.wl = wl.model_dump(mode="json")
            pp.algos = {a.run_name: a.model_dump(mode="json") for a in algos}
            pp.keys = {a.run_name: numerics_key(wl, a, did, hw) for a in algos}
            pp.n_train = did["n_train"]
            pp.source_dir = did["source_dir"]
        planned.append(pp)

    fingerprint = _hash({
        "hw": hw0.model_dump(mode="json"),
        "workload": wl0.model_dump(mode="json"),
        "data": base_data,
        "version": __version__,
    })
    manifest = {
        "neurosim_version": __version__,
        "hwconfig_path": str(spec.hw),
        "workload_path": str(spec.workload),
        "hw_name": hw0.name,
        "workload_name": wl0.name,
        "algorithms": algorithms,
        "parameters": params,
        "grid": spec.grid,
        "points": spec.points,
        "epochs": wl0.training.epochs,
        "n_points": len(planned),
        "point_ids": [p.point.id for p in planned],
        "base_fingerprint": fingerprint,
        "dataset": base_data,
        "sweep_file": spec.source,
    }
    return Plan(spec, Path(out), algorithms, params, planned, fingerprint, manifest, hw0.name, wl0.name)

