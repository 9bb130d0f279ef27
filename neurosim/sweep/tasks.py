"""The work a sweep farms out: picklable functions of plain data.

Both tasks take dicts (validated configs dumped to JSON-able form) and return
dicts, never raise: a failure comes back as ``{"error": "<one line>"}``. So a
task runs the same in a local process pool, on a Dask worker of another machine
(which needs only ``neurosim`` installed and the dataset findable) or in this
process, and no exception object has to survive pickling. Workers write no
files; the driver owns the sweep folder.
"""

from __future__ import annotations

import math
import os
import select
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from .. import ledger
from ..config.hw import COMPONENTS, HwConfig
from ..config.workload import AlgorithmConfig, Workload
from ..data import Dataset, load_dataset
from ..errors import NeurosimError
from ..learning import train
from ..learning.cell_setting import CellSetting
from ..learning.device_stats import LayerWriteStats
from ..pipeline import ledger_needs_training, measured_write_cycles, step_ledger
from ..records import PHASES
from ..sim import cost_step
from .columns import LEVELS

__all__ = ["train_task", "cost_task", "one_line", "worker_init", "device_numerics", "CPU_SECONDS", "DEVICE_WRITES"]

#: The worker's CPU seconds for a task (timing.json; not a result).
CPU_SECONDS = "cpu_seconds"
#: A device-numerics training's measured programming per layer (LayerWriteStats as dicts; numerics/<key>.json)
DEVICE_WRITES = "device_writes"

ALGO = TypeAdapter(AlgorithmConfig)
_DATA: dict[tuple, Dataset] = {}
_DATA_LOCK = threading.Lock()


def one_line(exc: BaseException) -> str:
    """An exception as one line: a NeurosimError's own text, else ``Type: message``."""
    text = str(exc) if isinstance(exc, NeurosimError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text[:500] if text else type(exc).__name__


def _die_with_driver(driver_pid: int) -> None:
    """Exit this worker as soon as the driver process ends, even by ``kill -9``.

    The pool's fork server cannot do it: each worker holds the fork server's
    "alive" pipe, so the fork server outlives the driver as long as its workers
    do. A daemon thread waits on a pidfd of the driver (readable once it has
    exited; Linux 5.3+), else polls it every half second.
    """
    def watch() -> None:
        try:
            fd = os.pidfd_open(driver_pid)
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            select.select([fd], [], [])
        else:
            while True:
                try:
                    os.kill(driver_pid, 0)
                except ProcessLookupError:
                    break
                except PermissionError:
                    pass
                time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="neurosim-driver-watch", daemon=True).start()


def worker_init(driver_pid: int | None = None) -> None:
    """Local pool workers leave Ctrl-C to the driver (which stops them) and die with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if driver_pid is not None:
        _die_with_driver(driver_pid)


def _dataset(wl: Workload, base_dir: str | None, source_dir: str | None) -> Dataset:
    """Load (once per process) the data the driver found; if this machine does
    not see the driver's folder, find it the usual way (data_dir, env, cache)."""
    cfg = wl.dataset
    if source_dir and Path(source_dir).is_dir():
        cfg = cfg.model_copy(update={"data_dir": source_dir})
    key = (cfg.model_dump_json(), base_dir)
    with _DATA_LOCK:
        if key not in _DATA:
            _DATA[key] = load_dataset(cfg, base_dir=base_dir)
        return _DATA[key]


def device_numerics(hw: HwConfig | None) -> dict | None:
    """The part of a hwconfig training depends on: none for ``numerics: ideal``; for
    ``device`` the :class:`~neurosim.learning.cell_setting.CellSetting` the device model is built from."""
    if hw is None or hw.numerics != "device" or hw.crossbar is None or hw.device is None:
        return None
    return CellSetting.of(hw).key()


def train_task(wl_dict: dict, algo_dict: dict, base_dir: str | None, source_dir: str | None, hw_dict: dict | None = None) -> dict[str, Any]:
    """Train one algorithm on one workload (through the chip's cells if its numerics
    is device); return the figures results.csv needs."""
    try:
        wl = Workload.model_validate(wl_dict)
        hw = HwConfig.model_validate(hw_dict) if hw_dict is not None else None
        algo = ALGO.validate_python(algo_dict)
        data = _dataset(wl, base_dir, source_dir)
        t0, cpu0 = time.perf_counter(), time.process_time()
        res = train(wl, algo, data.x_train, data.y_train, data.x_test, data.y_test, hw=hw, diagnostics=False)
        if res.diverged is not None:
            return {"error": f"{algo.name} diverged (non-finite loss) at epoch {res.diverged.epoch}, step {res.diverged.step}"}
        last = res.history[-1]
        out = {
            "test_accuracy": float(res.final_test_accuracy),
            "train_accuracy": float(last.train_accuracy),
            "final_loss": float(last.loss),
            "epochs": int(len(res.history)),
            "train_seconds": round(time.perf_counter() - t0, 3),
            CPU_SECONDS: round(time.process_time() - cpu0, 3),
        }
        if hw is not None and ledger_needs_training(hw):  # what the chip tasks cost the programming from
            out[DEVICE_WRITES] = [asdict(s) for s in res.device_writes]
        return out
    except Exception as exc:  # noqa: BLE001 - reported as the point's error
        return {"error": one_line(exc)}


def _metrics(hw: HwConfig, wl: Workload, algo, steps_per_epoch: int, hw_label: str,
             writes: tuple[LayerWriteStats, ...] = ()) -> dict[str, float]:
    shapes = wl.shapes
    batch = wl.training.batch_size
    cycles = measured_write_cycles(hw, writes)  # as pipeline.run_algorithm costs a device run (none: {})
    cost = cost_step(hw, shapes, batch, algo, steps_per_epoch=steps_per_epoch, write_cycles=cycles)
    df = step_ledger(hw, shapes, batch, algo, cost, hw_label, writes)  # the ledger is the single source of energy
    macs = ledger.macs_by_phase(df)
    energy = ledger.energy_by_component(df)
    e_total = float(sum(energy.values()))
    clock = hw.clock_hz
    m: dict[str, float] = {"steps_per_epoch": steps_per_epoch, "macs_per_step": float(sum(macs.values()))}
    m.update({f"macs_per_step_{p}": float(macs.get(p, 0.0)) for p in PHASES})
    m["cycles_per_step"] = float(cost.cycles_per_step)
    m.update({f"{p}_phase_cycles": float(cost.phase_cycles.get(p, 0.0)) for p in PHASES})
    m["cycles_per_epoch"] = float(cost.cycles_per_epoch)
    m["stall_cycles"] = float(cost.stall_cycles)
    m["latency_s_per_step"] = float(cost.cycles_per_step) / clock
    m["latency_s_per_epoch"] = float(cost.cycles_per_epoch) / clock
    m["energy_pj_per_step"] = e_total
    m.update({f"energy_pj_per_step_{c}": float(energy.get(c, 0.0)) for c in COMPONENTS})
    m["energy_pj_per_epoch"] = e_total * steps_per_epoch
    m.update({f"bytes_per_step_{lv}": float(cost.bytes_by_level.get(lv, 0.0)) for lv in LEVELS})
    writes = cost.rram_writes_per_cell_per_epoch
    m["rram_writes_per_cell_per_epoch_mean"] = float(writes.get("mean", 0.0))
    m["rram_writes_per_cell_per_epoch_max"] = float(writes.get("max", 0.0))
    m["spills"] = len(cost.spills)
    return {k: (v if isinstance(v, int) or math.isfinite(v) else None) for k, v in m.items()}


def cost_task(hw_dict: dict, wl_dict: dict, algo_dicts: list[dict], n_train: int, hw_label: str,
              device_writes: dict[str, list[dict]] | None = None) -> dict[str, dict]:
    """Cost one training step of each algorithm on one point's chip:
    ``{run name: {metric: value}}`` or ``{run name: {"error": text}}`` (run name:
    the entry's label, else its rule name), each with the task's :data:`CPU_SECONDS`
    (the driver files it in timing.json, never in a point's rows). ``device_writes``:
    per run name, its device training's :data:`DEVICE_WRITES`, which then set its
    programming time and its write rows (as :func:`neurosim.pipeline.run_algorithm` does)."""
    out: dict[str, dict] = {}
    try:
        hw = HwConfig.model_validate(hw_dict)
        wl = Workload.model_validate(wl_dict)
        algos = [ALGO.validate_python(a) for a in algo_dicts]
    except Exception as exc:  # noqa: BLE001
        return {a.get("label") or a["name"]: {"error": one_line(exc)} for a in algo_dicts}
    steps = math.ceil(n_train / wl.training.batch_size)
    for algo in algos:
        cpu0 = time.process_time()
        try:
            writes = tuple(_write_stats(d) for d in (device_writes or {}).get(algo.run_name, ()))
            out[algo.run_name] = _metrics(hw, wl, algo, steps, hw_label, writes)
        except Exception as exc:  # noqa: BLE001 - e.g. MappingError: the network does not fit this chip
            out[algo.run_name] = {"error": one_line(exc)}
        out[algo.run_name][CPU_SECONDS] = round(time.process_time() - cpu0, 3)
    return out


def _write_stats(fields: dict) -> LayerWriteStats:
    """A :class:`LayerWriteStats` from its ``asdict`` (JSON turns its tuples into lists)."""
    return LayerWriteStats(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
