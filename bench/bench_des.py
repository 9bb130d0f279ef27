"""Wall time of one ``cost_step`` (placement, op graph, DES of one step and of the
epoch window), its size in ops and engine events, and the DES events per second,
in one run (wall and CPU seconds: on a shared machine the CPU time is the steadier
figure); with ``--baseline DIR`` the same cases also run on the code in DIR
(e.g. a checkout of main before the fast engine) in a subprocess, and the ratio
is printed.

Cases: the reference conv net of issue 8 (MNIST 1x28x28 -> conv5x5-16 -> maxpool2
-> conv5x5-32 -> maxpool2 -> flatten -> dense 128 -> dense 10) and 784-800-800-10,
batch 32, on both shipped chips; then the DES cost as the crossbar blocks grow
(784-800-800-10 BP on rram_tile with a 16x16 mesh: arrays of 256x256, then the
sizes that give about 2x, 4x, 8x the blocks, then 64x64, about 12x), printed as
ratios to the first: ``--repeats`` runs of each size, the sizes in turn (round robin, so
that a drift of the shared machine's speed hits every size alike), the fastest of each;
with ``--baseline`` the baseline's fastest of as many runs per size, and its own ratios. Its
last line is the ratio the two ends would have were everything but the DES runs exactly
linear in the ops: the floor the event loops set (docs/performance.md § The Python side
grows with the ops).

The DES runs in numba kernels (``cache=True``): the first ``cost_step`` of a process
loads them from numba's on-disk cache, and the very first one after a change of the
kernels compiles them. Both are measured apart (``--cold``: a fresh process with an
empty cache directory) and excluded from the tables, which are steady state.

``--pair ROUNDS``: only the two ends of that table, 256x256 and 64x64, ``cost_step`` of each in
turn in one process (best of ``--repeats``), in ROUNDS fresh processes, alternating with as many of
``--baseline`` when given: the ratio of the two sizes measured in the same seconds, and the
checkouts in the same minutes.

``--grid``: the architects' sweep grid instead (784-800-800-10 on rram_tile, arrays of
32..256 rows x 32..256 columns on 2x2..16x16 meshes, bp, dfa and sdfa): CPU seconds of each
point's ``cost_step`` (a point that does not fit is a MappingError, timed too), their mean
and the slowest points.

    PYTHONPATH=. python bench/bench_des.py [--rules bp,dfa] [--baseline /work/main] [--quick] [--cold] [--grid]
                                           [--pair ROUNDS] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from pydantic import TypeAdapter

from neurosim.config import hw as hwcfg
from neurosim.config.network import NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig
from neurosim.sim import cost_step

CONV = [
    {"kind": "conv2d", "channels": 16, "kernel": 5},
    {"kind": "maxpool", "kernel": 2},
    {"kind": "conv2d", "channels": 32, "kernel": 5},
    {"kind": "maxpool", "kernel": 2},
    {"kind": "flatten"},
    {"kind": "dense", "units": 128},
    {"kind": "dense", "units": 10},
]
NETS = {"conv (mnist)": (CONV, (1, 28, 28)), "784-800-800-10": ([784, 800, 800, 10], (784,))}

#: runs one case (``argv[2]`` times, default once) on whatever ``neurosim`` is on PYTHONPATH and prints
#: {"wall": fastest s, "cpu": fastest s, "cycles": c, "epoch": c}
CHILD = """
import json, sys, time
from pydantic import TypeAdapter
from neurosim.config import hw as hwcfg
from neurosim.config.network import NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig
from neurosim.sim import cost_step
chip, layers, in_shape, rule, cells, mesh = json.loads(sys.argv[1])
hw = hwcfg.load(f"hwconfigs/{chip}.yaml")
if cells:
    hw = hw.model_copy(update={"crossbar": hw.crossbar.model_copy(update={"rows": cells, "cols": cells}),
                               "noc": hw.noc.model_copy(update={"mesh": mesh})})
shapes = infer_shapes(NetworkConfig(layers=layers), tuple(in_shape))
algo = TypeAdapter(AlgorithmConfig).validate_python({"name": rule})
cost_step(hw, infer_shapes(NetworkConfig(layers=[100, 40, 10]), (100,)), 4, algo, steps_per_epoch=2)  # warm-up
walls, cpus = [], []
for _ in range(max(1, int(sys.argv[2]) if len(sys.argv) > 2 else 1)):
    t0, c0 = time.perf_counter(), time.process_time()
    cost = cost_step(hw, shapes, 32, algo, steps_per_epoch=250)
    walls.append(time.perf_counter() - t0)
    cpus.append(time.process_time() - c0)
print(json.dumps({"wall": min(walls), "cpu": min(cpus), "cycles": cost.cycles_per_step, "epoch": cost.cycles_per_epoch}))
"""


#: 256x256 then 64x64 arrays (16x16 mesh, 784-800-800-10), in turn, ``argv[2]`` times; prints the fastest of each
PAIR = """
import json, sys, time
from pydantic import TypeAdapter
from neurosim.config import hw as hwcfg
from neurosim.config.network import NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig
from neurosim.sim import cost_step
rule, repeats = sys.argv[1], int(sys.argv[2])
shapes = infer_shapes(NetworkConfig(layers=[784, 800, 800, 10]), (784,))
algo = TypeAdapter(AlgorithmConfig).validate_python({"name": rule})
base = hwcfg.load("hwconfigs/rram_tile.yaml")
hws = {c: base.model_copy(update={"crossbar": base.crossbar.model_copy(update={"rows": c, "cols": c}),
                                  "noc": base.noc.model_copy(update={"mesh": "16x16"})}) for c in (256, 64)}
cost_step(hws[256], shapes, 32, algo, steps_per_epoch=250)  # warm-up
best = {c: [float("inf"), float("inf")] for c in hws}
for _ in range(repeats):
    for c, hw in hws.items():
        t0, c0 = time.perf_counter(), time.process_time()
        cost_step(hw, shapes, 32, algo, steps_per_epoch=250)
        best[c] = [min(best[c][0], time.perf_counter() - t0), min(best[c][1], time.process_time() - c0)]
print(json.dumps(best))
"""


def pair(rule: str, rounds: int, repeats: int, baseline_root: str) -> None:
    roots = [("this", os.getcwd())] + ([("base", baseline_root)] if baseline_root else [])
    runs: dict[str, list] = {label: [] for label, _ in roots}
    print(f"784-800-800-10 {rule}, rram_tile 16x16 mesh: 256x256 and 64x64 in turn, best of {repeats} per process")
    for _ in range(rounds):
        for label, root in roots:
            out = subprocess.run([sys.executable, "-c", PAIR, rule, str(repeats)], cwd=root,
                                 env=dict(os.environ, PYTHONPATH=root), capture_output=True, text=True, check=True)
            best = json.loads(out.stdout.strip().splitlines()[-1])
            (w1, c1), (w2, c2) = best["256"], best["64"]
            runs[label].append((w1, c1, w2, c2))
            print(f"  {label}: 256x256 {w1:.4f} s (cpu {c1:.4f}), 64x64 {w2:.4f} s (cpu {c2:.4f}), "
                  f"ratio {w2 / w1:5.2f}x (cpu {c2 / c1:5.2f}x)", flush=True)
    for label, _ in roots:
        w1, c1, w2, c2 = (min(r[k] for r in runs[label]) for k in range(4))
        print(f"{label}: fastest 256x256 {w1:.4f} s, 64x64 {w2:.4f} s, ratio {w2 / w1:.2f}x "
              f"(cpu {c1:.4f} s, {c2:.4f} s, {c2 / c1:.2f}x)")


def _hw(chip: str, cells: int = 0, mesh: str = ""):
    hw = hwcfg.load(f"hwconfigs/{chip}.yaml")
    if cells:
        hw = hw.model_copy(update={"crossbar": hw.crossbar.model_copy(update={"rows": cells, "cols": cells}),
                                   "noc": hw.noc.model_copy(update={"mesh": mesh})})
    return hw


def measure(chip, layers, in_shape, rule, cells=0, mesh=""):
    """(wall s of cost_step, cost, engine events, DES wall s, CPU s of cost_step) here."""
    from neurosim.sim import cost as cost_mod
    from neurosim.sim import engine

    hw = _hw(chip, cells, mesh)
    shapes = infer_shapes(NetworkConfig(layers=layers), tuple(in_shape))
    algo = TypeAdapter(AlgorithmConfig).validate_python({"name": rule})
    des_wall = [0.0]
    originals = (cost_mod.simulate, cost_mod.simulate_window)

    def timed(fn):
        def run(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                des_wall[0] += time.perf_counter() - t
        return run

    cost_mod.simulate, cost_mod.simulate_window = timed(originals[0]), timed(originals[1])
    engine.EngineStats.events = 0
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        cost = cost_step(hw, shapes, 32, algo, steps_per_epoch=250)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        cost_mod.simulate, cost_mod.simulate_window = originals
    return wall, cost, engine.EngineStats.events, des_wall[0], cpu


def baseline(root: str, chip, layers, in_shape, rule, cells=0, mesh="", repeats: int = 1) -> dict:
    env = dict(os.environ, PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps([chip, layers, list(in_shape), rule, cells, mesh]),
                          str(repeats)],
                         cwd=root, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _blocks(cells: int) -> int:
    from neurosim.mapping.placement import place

    shapes = infer_shapes(NetworkConfig(layers=[784, 800, 800, 10]), (784,))
    algo = TypeAdapter(AlgorithmConfig).validate_python({"name": "bp"})
    return len(place(_hw("rram_tile", cells, "16x16"), shapes, algo).blocks)


def growth_sizes() -> list[int]:
    """Array sizes giving about 1x, 2x, 4x, 8x the blocks of 256x256 arrays, then 64x64."""
    base = _blocks(256)
    found = {c: _blocks(c) for c in range(72, 257, 8)}
    out = [256]
    for factor in (2, 4, 8):
        out.append(min(found, key=lambda c: abs(found[c] / base - factor)))
    return out + [64]


WARM = """
import sys, time
t0, c0 = time.perf_counter(), time.process_time()
from pydantic import TypeAdapter
from neurosim.config import hw as hwcfg
from neurosim.config.network import NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig
from neurosim.sim import cost_step
t1, c1 = time.perf_counter(), time.process_time()
cost_step(hwcfg.load("hwconfigs/rram_tile.yaml"), infer_shapes(NetworkConfig(layers=[100, 40, 10]), (100,)), 32,
          TypeAdapter(AlgorithmConfig).validate_python({"name": "bp"}), steps_per_epoch=250)
t2, c2 = time.perf_counter(), time.process_time()
print(t1 - t0, c1 - c0, t2 - t1, c2 - c1)
"""


def first_call(cold: bool) -> str:
    """Import and first small ``cost_step`` of a fresh process (numba cache warm, or empty if ``cold``)."""
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    with tempfile.TemporaryDirectory() as cache:
        if cold:
            env["NUMBA_CACHE_DIR"] = cache
        out = subprocess.run([sys.executable, "-c", WARM], env=env, capture_output=True, text=True, check=True)
    imp_wall, imp_cpu, wall, cpu = map(float, out.stdout.split())
    return (f"{'cold numba cache (compiles)' if cold else 'warm numba cache'}: import {imp_wall:.2f} s wall "
            f"({imp_cpu:.2f} s cpu), first small cost_step {wall:.2f} s wall ({cpu:.2f} s cpu)")


def grid() -> None:
    from neurosim.errors import MappingError

    shapes = infer_shapes(NetworkConfig(layers=[784, 800, 800, 10]), (784,))
    base = hwcfg.load("hwconfigs/rram_tile.yaml")
    times, fits = [], 0
    for rows in (32, 64, 128, 256):
        for cols in (32, 64, 128, 256):
            for mesh in ("2x2", "4x4", "8x8", "16x16"):
                hw = base.model_copy(update={"crossbar": base.crossbar.model_copy(update={"rows": rows, "cols": cols}),
                                             "noc": base.noc.model_copy(update={"mesh": mesh})})
                for rule in ("bp", "dfa", "sdfa"):
                    algo = TypeAdapter(AlgorithmConfig).validate_python({"name": rule})
                    c0 = time.process_time()
                    try:
                        cost_step(hw, shapes, 32, algo, steps_per_epoch=250)
                        fits += 1
                    except MappingError:
                        pass
                    times.append((time.process_time() - c0, f"{rows}x{cols} arrays, {mesh} mesh, {rule}"))
    total = sum(t for t, _ in times)
    print(f"sweep grid: {len(times)} costings ({fits} fit), {total:.2f} s cpu, mean {total / len(times):.3f} s")
    for t, label in sorted(times, reverse=True)[:5]:
        print(f"  {t:6.3f} s  {label}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", default="bp,dfa")
    ap.add_argument("--baseline", default="", help="a checkout to compare with (run in a subprocess)")
    ap.add_argument("--quick", action="store_true", help="skip the table of shipped chips")
    ap.add_argument("--cold", action="store_true", help="also time the kernels' compilation (a fresh numba cache)")
    ap.add_argument("--grid", action="store_true", help="time the architects' sweep grid instead")
    ap.add_argument("--pair", type=int, default=0, metavar="ROUNDS",
                    help="only 256x256 and 64x64 in turn, in ROUNDS processes (alternating with --baseline's)")
    ap.add_argument("--repeats", type=int, default=5,
                    help="runs of each growth-table size; the table gives the fastest wall and CPU (a shared machine's load only adds)")
    args = ap.parse_args()
    rules = args.rules.split(",")
    if args.pair:
        pair(rules[0], args.pair, max(args.repeats, 1), args.baseline)
        return
    print("first call in a fresh process, " + first_call(cold=False))
    if args.cold:
        print("first call in a fresh process, " + first_call(cold=True))
    measure("rram_tile", [100, 40, 10], (100,), rules[0])  # this process: the kernels loaded, steady state below
    if args.grid:
        grid()
        return
    hdr = f"{'wall s':>7s} {'cpu s':>6s} {'ops/step':>9s} {'events':>8s} {'ev/s':>8s} {'cycles/step':>12s}"
    if args.baseline:
        hdr += f" {'base wall':>9s} {'base cpu':>8s} {'cpu ratio':>9s} same"
    if not args.quick:
        print(f"{'chip':14s} {'network':16s} {'rule':5s} " + hdr)
        for chip in ("rram_tile", "sram_digital"):
            for label, (layers, in_shape) in NETS.items():
                for rule in rules:
                    wall, cost, events, des, cpu = measure(chip, layers, in_shape, rule)
                    line = (f"{chip:14s} {label:16s} {rule:5s} {wall:7.2f} {cpu:6.2f} {cost.ops_per_step:9d} {events:8d} "
                            f"{events / des if des else 0:8.0f} {cost.cycles_per_step:12.0f}")
                    if args.baseline:
                        b = baseline(args.baseline, chip, layers, in_shape, rule)
                        same = b["cycles"] == cost.cycles_per_step and b["epoch"] == cost.cycles_per_epoch
                        line += f" {b['wall']:9.2f} {b['cpu']:8.2f} {b['cpu'] / cpu:8.1f}x {same}"
                    print(line, flush=True)
    print(f"\n784-800-800-10 {rules[0]}, rram_tile with a 16x16 mesh: DES cost as the blocks grow "
          f"(fastest of {max(args.repeats, 1)} runs each, the sizes in turn; --baseline: the same in one subprocess per size)")
    first = base_first = None
    layers, in_shape = NETS["784-800-800-10"]
    sizes = growth_sizes()
    runs_of: dict[int, list] = {cells: [] for cells in sizes}
    for _ in range(max(args.repeats, 1)):  # round robin: a drift of the machine's speed hits every size alike
        for cells in sizes:
            runs_of[cells].append(measure("rram_tile", layers, in_shape, rules[0], cells, "16x16"))
    ends = []
    for cells in sizes:
        runs = runs_of[cells]
        wall, cost, events, _, _ = min(runs, key=lambda run: run[0])
        des, cpu = min(run[3] for run in runs), min(run[4] for run in runs)
        blocks = len(cost.placement.blocks)
        first = first or (wall, blocks, cpu)
        line = (f"  {cells:3d}x{cells:<3d}: {blocks:5d} blocks ({blocks / first[1]:4.1f}x), wall {wall:6.3f} s "
                f"({wall / first[0]:5.1f}x), cpu {cpu:6.3f} s ({cpu / first[2]:5.1f}x), {cost.ops_per_step} ops, "
                f"{events} events, {events / des:7.0f} events/s")
        if args.baseline:
            b = baseline(args.baseline, "rram_tile", layers, in_shape, rules[0], cells, "16x16", max(args.repeats, 1))
            base_first = base_first or b
            same = b["cycles"] == cost.cycles_per_step and b["epoch"] == cost.cycles_per_epoch
            line += (f"; base wall {b['wall']:6.3f} s ({b['wall'] / base_first['wall']:5.1f}x), cpu {b['cpu']:6.3f} s "
                     f"({b['cpu'] / base_first['cpu']:5.1f}x), base cpu / cpu {b['cpu'] / cpu:4.1f}x same={same}")
        print(line, flush=True)
        ends.append((wall, cost.ops_per_step, des))
    (wall_1, ops_1, des_1), (_, ops_n, des_n) = ends[0], ends[-1]
    grow = ops_n / ops_1
    print(f"  the DES runs (simulate + simulate_window, fastest): {des_1:.4f} s and {des_n:.4f} s; were the rest "
          f"exactly linear in the ops ({grow:.2f}x), the last ratio would be "
          f"{grow + (des_n - grow * des_1) / wall_1:.1f}x (the floor the event loops set)")


if __name__ == "__main__":
    main()
