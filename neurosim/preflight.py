"""Preflight: check the whole plan of a run before any training.

Everything that would otherwise fail after minutes of training fails here, in
one line (a :class:`~neurosim.errors.NeurosimError`, exit 2):

=============================  =============================================================
check                          how
=============================  =============================================================
the chip model runs            :func:`cost_plan` costs one step of every rule (mapping,
                               op graph, DES) -- the ONE call into ``neurosim.sim``
every figure is finite         every count, byte, cycle and energy of those steps
energy table complete          the ledger prices every (component, action) the graph emits;
                               an entry for an action no chip performs (a typo) is refused
every rule trains here         one training step of every rule on two blank samples
                               (e.g. forward DFA on a net without a hidden layer)
the batch fits the data        ``batch_size`` at most the training images
the dataset is the one named   :func:`neurosim.data.identity.check_identity`
the output folder is usable    creatable, writable (a probe file), room for the outputs
=============================  =============================================================
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .config.hw import HwConfig
from .errors import ConfigError, NeurosimError, PlanError
from .hw.actions import check_energy_names

if TYPE_CHECKING:  # the chip model, numpy and the workload's models load when a plan is costed, not for `neurosim validate HW`
    from .config.workload import AlgorithmConfig, Workload
    from .sim import HardwareCost

__all__ = ["Plan", "preflight", "cost_plan", "check_energy_names", "check_out_dir", "OUTPUT_BYTES_PER_RULE"]

#: Room a run needs on disk per rule (CSV rows, plots, page), with margin.
OUTPUT_BYTES_PER_RULE = 4 << 20


@dataclass(frozen=True)
class Plan:
    """A run that passed the preflight: each rule's chip cost of one step."""

    steps_per_epoch: int
    hwcosts: dict[str, HardwareCost]


def cost_plan(hw: HwConfig, wl: Workload, algo: AlgorithmConfig, steps_per_epoch: int) -> HardwareCost:
    """The one place the run calls the chip model (its signature follows ``neurosim.sim``)."""
    from .sim import cost_step

    return cost_step(hw, wl.shapes, wl.training.batch_size, algo, steps_per_epoch=steps_per_epoch)


def _finite(what: str, value: float) -> None:
    if not math.isfinite(value):
        raise PlanError(f"{what} is {value} (not finite): a hwconfig figure is out of range")


def _check_cost(name: str, cost: HardwareCost, energy: dict[str, float]) -> None:
    for r in cost.records:
        for field in ("count", "bytes", "cycles"):
            _finite(f"{name}: {r.component}.{r.action} {field} of layer {r.layer}", float(getattr(r, field)))
    _finite(f"{name}: cycles per step", cost.cycles_per_step)
    _finite(f"{name}: cycles per epoch", cost.cycles_per_epoch)
    for comp, pj in energy.items():
        _finite(f"{name}: {comp} energy per step", pj)


def _dry_step(wl: Workload, algo: AlgorithmConfig) -> None:
    """One training step of ``algo`` on two blank samples: the rule can be built and run."""
    import numpy as np

    from .learning import train

    dataflow = type(algo).dataflow
    hidden = sum(1 for s in wl.shapes if s.has_weights) - 1
    if dataflow.learns_feedback and hidden < 1:
        raise PlanError(f"{algo.name}: learns the feedback of hidden layers, and this network has none")
    n_in = int(np.prod(wl.dataset.input_shape))
    tiny = wl.model_copy(update={"training": wl.training.model_copy(update={"epochs": 1, "batch_size": 2})})
    x = np.zeros((2, n_in), dtype=np.float32)
    y = np.arange(2, dtype=np.int64) % wl.network.n_classes
    try:
        train(tiny, algo, x, y, x, y)
    except NeurosimError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here would have come after training
        first = " ".join(str(exc).split("\n")[0].split())[:200]
        raise PlanError(f"{algo.name}: cannot train this network ({type(exc).__name__}: {first})") from None


def check_out_dir(out: Path, n_rules: int) -> None:
    """``out`` can be created and written, with room for the outputs (a probe file is made and removed)."""
    out = Path(out)
    probe_in = out
    while not probe_in.exists():
        if probe_in.parent == probe_in:
            break
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise PlanError(f"{out}: cannot create the output folder: {probe_in} is a file, not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".neurosim-probe.", dir=probe_in)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise PlanError(f"{out}: output folder is not writable ({exc.strerror or exc})") from None
    need = OUTPUT_BYTES_PER_RULE * max(1, n_rules)
    free = shutil.disk_usage(probe_in).free
    if free < need:
        raise PlanError(f"{out}: only {free // 1024} KiB free on its disk; the outputs need about {need // 1024} KiB")


def preflight(
    hw: HwConfig,
    wl: Workload,
    algorithms: list[AlgorithmConfig],
    out_dir: str | Path | None,
    *,
    n_train: int | None = None,
    hw_path: str = "hwconfig",
    wl_path: str = "workload",
    costed: Callable[[Plan], None] | None = None,
) -> Plan:
    """Check the whole plan (see the module docstring); return each rule's chip cost.
    ``costed`` is given the plan as soon as every rule's chip model has passed, before
    the dry training steps (``neurosim run`` starts drawing the chip figures from it)."""
    from . import counts, ledger  # numpy, the chip model: only a plan's check needs them, not `neurosim validate FILE`

    check_energy_names(hw, hw_path)
    if hw.numerics == "device" and not wl.network.is_mlp:
        raise PlanError(f"{hw_path}: numerics: device models the cells of dense layers only; "
                        f"{wl_path} has {', '.join(sorted({s.kind for s in wl.shapes} - {'dense'}))} layers (use numerics: ideal)")
    batch = wl.training.batch_size
    if n_train is not None and batch > n_train:
        raise ConfigError(wl_path, "training.batch_size", f"larger than the {n_train} training images (got {batch})")
    steps = math.ceil((n_train or batch) / batch)
    if out_dir is not None:
        check_out_dir(Path(out_dir), len(algorithms))
    hwcosts = {}
    for algo in algorithms:
        if not type(algo).dataflow.mapped:
            raise PlanError(f"{wl_path}: algorithms: {algo.name} is not modelled on the chip (no counts or op graph); "
                            "train it with neurosim.learning.train")
        try:
            cost = cost_plan(hw, wl, algo, steps)
        except NeurosimError:
            raise
        except (ArithmeticError, ValueError) as exc:
            raise PlanError(f"{hw_path}: {algo.name}: the chip model fails on this config ({type(exc).__name__}: {exc})") from None
        energy = ledger.energy_by_component_of(counts.step_counts(wl.shapes, batch, algo) + list(cost.records), hw, hw_path)
        _check_cost(algo.run_name, cost, energy)
        hwcosts[algo.run_name] = cost
    plan = Plan(steps_per_epoch=steps, hwcosts=hwcosts)
    if costed is not None:
        costed(plan)
    for algo in algorithms:
        _dry_step(wl, algo)
    return plan
