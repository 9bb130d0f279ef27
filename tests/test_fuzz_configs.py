"""Property-based fuzzing of both config kinds (hypothesis): 1,000 generated files each.

Each example mutates the shipped hwconfig (or a small workload) at one to three
places -- a value replaced by a hostile one (bool, None, NaN, infinity, huge or
negative numbers, strings, lists, mappings), a key deleted, an unknown key added
-- and runs ``neurosim validate HW WL``: the file check, then the run's
preflight on the pair. The outcome must be exit 0 with the plan accepted, or
exit 2 with one ``neurosim: error:`` line per problem; never a traceback,
another exit code or a hang (``max_examples`` bounds the work; derandomized so
every run tries the same files).
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurosim.cli import cli

from .conftest import HW_RRAM

SMALL_WL = {
    "name": "fuzz",
    "dataset": {"name": "mnist", "train_limit": 256},
    "network": {"layers": [784, 16, 10], "activation": "tanh"},
    "training": {"epochs": 1, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 0.05}},
    "algorithms": [{"name": "bp"}, {"name": "fdfa"}],  # fdfa: the rule with the most ways to fail
}
HW_BASE = yaml.safe_load(HW_RRAM.read_text())
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

HOSTILE = st.one_of(
    st.booleans(), st.none(),
    st.integers(min_value=-(10 ** 15), max_value=10 ** 15),
    st.sampled_from([0, 1, 2, 3, 8, 64, 128, 4096, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 1e-300, 1e308, float("nan"), float("inf"), -float("inf")]),
    st.text(alphabet="abxyz019 .-_/:", max_size=6),
    st.sampled_from(["8x8", "0x4", "1x1", "xy", "sram", "crossbar", "relu", "adam", "bp", "fdfa", "mnist", "fashion_mnist",
                     "../../escaped"]),
    st.lists(st.integers(min_value=-5, max_value=1000), max_size=4),
    st.dictionaries(st.sampled_from(["value", "source", "kind", "units", "x"]), st.integers(-2, 300), max_size=2),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _mutation(base: dict):
    paths = [p for p in _paths(base) if p]
    return st.tuples(st.sampled_from(["set", "set", "set", "delete", "add"]), st.sampled_from(paths), HOSTILE)


def _apply(base: dict, mutations) -> dict:
    data = copy.deepcopy(base)
    for op, path, value in mutations:
        node = data
        try:
            for p in path[:-1]:
                node = node[p]
            if op == "set":
                node[path[-1]] = value
            elif op == "delete":
                del node[path[-1]]
            elif isinstance(node, dict):
                node[f"unknown_{path[-1]}"] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return data


def _check(result) -> None:
    assert result.exit_code in (0, 2), (result.exit_code, result.output, repr(result.exception))
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert "preflight passed" in result.stdout, result.stdout
    else:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert lines and all(ln.startswith("neurosim: error: ") for ln in lines), result.stderr
        assert all(len(ln) < 1000 for ln in lines)


FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _run(tmp_path: Path, hw: dict, wl: dict):
    hw_file, wl_file = tmp_path / "hw.yaml", tmp_path / "wl.yaml"
    hw_file.write_text(yaml.dump(hw, Dumper=_DUMPER, sort_keys=False))
    wl_file.write_text(yaml.dump(wl, Dumper=_DUMPER, sort_keys=False))
    return CliRunner().invoke(cli, ["validate", str(hw_file), str(wl_file)])


@FUZZ
@given(mutations=st.lists(_mutation(HW_BASE), min_size=1, max_size=3))
def test_fuzzed_hwconfigs_give_a_plan_or_one_line_per_problem(tmp_path, mutations):
    _check(_run(tmp_path, _apply(HW_BASE, mutations), SMALL_WL))


@FUZZ
@given(mutations=st.lists(_mutation(SMALL_WL), min_size=1, max_size=3))
def test_fuzzed_workloads_give_a_plan_or_one_line_per_problem(tmp_path, mutations):
    _check(_run(tmp_path, HW_BASE, _apply(SMALL_WL, mutations)))
