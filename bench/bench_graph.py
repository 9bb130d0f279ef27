"""Where one ``cost_step`` spends its CPU time, part by part: placement, the op graph's
construction (``build_step_graph``), its encoding, the DES of the epoch window and of
the lone step, and the whole ``cost_step`` (784-800-800-10 on ``rram_tile``, batch 32),
CPU seconds (``time.process_time``), best of ``--repeats`` in one process. The parts
are timed with Python's cyclic collector paused, as ``cost_step`` runs them
(``--gc``: with it on, as a caller of the parts would have it). Each case prints its cycles (step, epoch)
so that two checkouts can be compared (run it with PYTHONPATH pointing at each).

    PYTHONPATH=. python bench/bench_graph.py [--arrays 256x256,64x64,64x32] [--mesh 16x16] [--rule bp] [--repeats 3] [--gc]
"""

from __future__ import annotations

import argparse
import gc
import time

from pydantic import TypeAdapter

from neurosim.config import hw as hwcfg
from neurosim.config.network import NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig
from neurosim.mapping.placement import place
from neurosim.sim import cost_step
from neurosim.sim.engine import simulate, simulate_window
from neurosim.sim.engine_arrays import encode
from neurosim.sim.graph import build_step_graph, default_chunks


def split(rows: int, cols: int, mesh: str, rule: str, repeats: int, collect: bool) -> tuple[dict[str, float], float, float, int]:
    hw = hwcfg.load("hwconfigs/rram_tile.yaml")
    hw = hw.model_copy(update={"crossbar": hw.crossbar.model_copy(update={"rows": rows, "cols": cols}),
                               "noc": hw.noc.model_copy(update={"mesh": mesh})})
    shapes = infer_shapes(NetworkConfig(layers=[784, 800, 800, 10]), (784,))
    algo = TypeAdapter(AlgorithmConfig).validate_python({"name": rule})
    clock = time.process_time
    best: dict[str, float] = {}

    def timed(name, fn):
        t0 = clock()
        out = fn()
        best[name] = min(best.get(name, float("inf")), clock() - t0)
        return out

    for _ in range(repeats):
        if not collect:
            gc.disable()
        pl = timed("place", lambda: place(hw, shapes, algo))
        graph = timed("build", lambda: build_step_graph(hw, shapes, 32, algo, placement=pl, chunks=default_chunks(32)))
        enc = timed("encode", lambda: encode(graph))
        _, lone = timed("window", lambda: simulate_window(graph, 4, enc, times_only=True))
        timed("lone", lambda: lone or simulate(graph, 1, enc))
        gc.enable()
        cost = timed("cost_step", lambda: cost_step(hw, shapes, 32, algo, steps_per_epoch=250))
    return best, cost.cycles_per_step, cost.cycles_per_epoch, len(graph.ops)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arrays", default="256x256,64x64,64x32")
    ap.add_argument("--mesh", default="16x16")
    ap.add_argument("--rule", default="bp")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gc", action="store_true", help="time the parts with the cyclic collector on")
    args = ap.parse_args()
    warm_hw = hwcfg.load("hwconfigs/rram_tile.yaml")
    warm = TypeAdapter(AlgorithmConfig).validate_python({"name": args.rule})
    cost_step(warm_hw, infer_shapes(NetworkConfig(layers=[100, 40, 10]), (100,)), 4, warm, steps_per_epoch=2)
    base = None
    print(f"784-800-800-10 {args.rule} on rram_tile, {args.mesh} mesh: CPU s, best of {args.repeats}")
    for arrays in args.arrays.split(","):
        rows, cols = (int(v) for v in arrays.split("x"))
        best, cycles, epoch, n_ops = split(rows, cols, args.mesh, args.rule, args.repeats, args.gc)
        base = base or best["cost_step"]
        parts = "  ".join(f"{k} {v:.3f}" for k, v in best.items())
        print(f"  {arrays:>8}: {parts}  ({best['cost_step'] / base:.1f}x the first)  ops {n_ops}  "
              f"cycles/step {cycles}  cycles/epoch {epoch}")


if __name__ == "__main__":
    main()
