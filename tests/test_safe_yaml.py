"""Hostile YAML and strict values: each case is one clean line (or one per problem), exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from neurosim.cli import cli
from neurosim.config import hw as hwcfg
from neurosim.config import workload as wlcfg
from neurosim.config.safe_yaml import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, MAX_VALUES
from neurosim.errors import ConfigError

from .conftest import HW_RRAM, REPO, WORKLOADS

WL = WORKLOADS / "mnist_sdfa.yaml"


def _errors(result) -> list[str]:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln]
    assert lines and all(ln.startswith("neurosim: error: ") for ln in lines), result.stderr
    return lines


def _validate(path: Path) -> list[str]:
    return _errors(CliRunner().invoke(cli, ["validate", str(path)]))


HOSTILE = {
    "self_alias": ("name: x\nloop: &loop [*loop]\nnetwork: {layers: [784, 10]}\n", "recursive"),
    "deep_nesting": ("a: " + "[" * 1500 + "]" * 1500 + "\n", f"deeper than {MAX_DEPTH}"),
    "deep_mapping": ("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n", f"deeper than {MAX_DEPTH}"),
    "billion_laughs": ("a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi")) + "network: *i\n", "alias bomb"),
    "many_aliases": ("a: &a 1\nlist: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n", "aliases"),
    "many_values": ("a: [" + "1, " * (MAX_VALUES + 1) + "1]\n", f"more than {MAX_VALUES} values"),
    "duplicate_key": ("name: x\nname: y\nnetwork: {layers: [784, 10]}\n", "duplicate key 'name' (first on line 1)"),
    "nul_bytes": ("name: x\x00\n", "NUL"),
    "not_utf8": (b"name: \xff\xfe\n", "UTF-8"),
}


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_hostile_yaml_is_one_line(tmp_path, key):
    text, needle = HOSTILE[key]
    f = tmp_path / f"{key}.yaml"
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    (line,) = _validate(f)
    assert f.name in line and needle in line, line


def test_large_file_refused_without_reading_it_all(tmp_path):
    f = tmp_path / "big.yaml"
    with open(f, "wb") as out:
        out.write(b"name: x\ncomment: '")
        out.truncate(50 << 20)  # 50 MB (sparse)
    (line,) = _validate(f)
    assert f"larger than {MAX_BYTES // 1024} KiB" in line


def test_dev_zero_is_refused():
    (line,) = _validate(Path("/dev/zero"))
    assert "/dev/zero" in line and "device" in line


def test_billion_laughs_in_a_subprocess_stays_small(tmp_path):
    """The bomb is refused from its composed graph: the process never grows past 1 GB."""
    f = tmp_path / "bomb.yaml"
    f.write_text(HOSTILE["billion_laughs"][0])
    code = ("import resource,sys\nfrom neurosim.cli import main\nsys.argv=['neurosim','validate',sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, e.code)\n")
    out = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True, cwd=REPO, timeout=120)
    maxrss_kib, rc = out.stdout.split()
    assert rc == "2" and int(maxrss_kib) < (1 << 20), out
    assert "Traceback" not in out.stderr


# ---------------------------------------------------------------- strict values

def _mutate(base: Path, tmp_path: Path, dotted: str, value, name="bad.yaml") -> Path:
    data = yaml.safe_load(base.read_text())
    node = data
    parts = [int(p) if p.isdigit() else p for p in dotted.split(".")]
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value
    f = tmp_path / name
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    return f


STRICT = [
    (WL, "training.batch_size", True, "training.batch_size"),
    (WL, "training.batch_size", 1e30, "training.batch_size"),
    (WL, "training.batch_size", "32", "training.batch_size"),
    (WL, "network.layers", [784, True, 10], "network.layers[1]"),
    (WL, "algorithms.0.feedback_scale", 1e308, "algorithms[0].feedback_scale"),
    (WL, "algorithms.0.feedback_scale", float("inf"), "algorithms[0].feedback_scale"),
    (WL, "algorithms.0.feedback_scale", float("nan"), "algorithms[0].feedback_scale"),
    (WL, "name", "../../escaped", "name"),
    (HW_RRAM, "chip.clock_mhz.value", 0, "chip.clock_mhz.value"),
    (HW_RRAM, "chip.clock_mhz.value", float("inf"), "chip.clock_mhz.value"),
    (HW_RRAM, "chip.clock_mhz.value", 1e9, "chip.clock_mhz.value"),
    (HW_RRAM, "dram.bandwidth_bytes_per_cycle.value", 0, "dram.bandwidth_bytes_per_cycle.value"),
    (HW_RRAM, "crossbar.rows", True, "crossbar.rows"),
    (HW_RRAM, "noc.mesh", "1000x1000", "noc.mesh"),
    (HW_RRAM, "energy.adc.convert.energy_pj", float("inf"), "energy.adc.convert.energy_pj"),
    (HW_RRAM, "crossbar.adc_scaling.reference_bits", 0, "crossbar.adc_scaling.reference_bits"),
]


@pytest.mark.parametrize("base,dotted,value,needle", STRICT, ids=[f"{b.stem}:{d}={v!r}" for b, d, v, _ in STRICT])
def test_strict_values(tmp_path, base, dotted, value, needle):
    (line,) = _validate(_mutate(base, tmp_path, dotted, value))
    assert f" {needle}:" in line, line


def test_misspelled_energy_action_is_named(tmp_path):
    data = yaml.safe_load(HW_RRAM.read_text())
    data["energy"]["adc"]["convrt"] = data["energy"]["adc"].pop("convert")
    f = tmp_path / "typo.yaml"
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    (line,) = _validate(f)
    assert "energy.adc.convrt: not an action of adc (those are convert)" in line


def test_every_problem_reported_with_its_line(tmp_path):
    text = WL.read_text().replace("batch_size: 32", "batch_size: 0").replace("epochs: 20", "epochs: -1")
    text = text.replace("name: mnist_sdfa", "name: mnist_sdfa\nbogus_key: 1")
    f = tmp_path / "three.yaml"
    f.write_text(text)
    lines = _validate(f)
    assert len(lines) == 3, lines
    src = text.splitlines()
    for needle, field in (("batch_size: 0", "training.batch_size"), ("epochs: -1", "training.epochs"), ("bogus_key", "bogus_key")):
        n = next(i for i, t in enumerate(src, 1) if needle in t)
        assert any(f"three.yaml:{n}: {field}:" in ln for ln in lines), (field, lines)
    with pytest.raises(ConfigError) as exc:
        wlcfg.load(f)
    assert len(exc.value.problems) == 3


def test_problem_lines_are_capped(tmp_path):
    f = tmp_path / "many.yaml"
    f.write_text(WL.read_text() + "".join(f"unknown_{i}: 1\n" for i in range(30)))
    lines = _validate(f)
    assert len(lines) == ConfigError.MAX_LINES + 1 and lines[-1].endswith("... and 10 more problems"), lines[-3:]


def test_swapped_arguments_are_named(tmp_path):
    with pytest.raises(ConfigError, match="this is a workload .* but a hwconfig is expected here .arguments are HW then WL"):
        hwcfg.load(WL)
    result = CliRunner().invoke(cli, ["run", str(WL), str(HW_RRAM), "--out", str(tmp_path / "o")])
    (line,) = _errors(result)
    assert "this is a workload" in line and "HW then WL" in line


def test_validate_accepts_every_shipped_file():
    files = [str(HW_RRAM), *(str(p) for p in sorted(WORKLOADS.glob("*.yaml")))]
    result = CliRunner().invoke(cli, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert "sweep_example.yaml: ok (sweep file)" in result.output


def test_validate_pair_runs_the_preflight(tmp_path):
    result = CliRunner().invoke(cli, ["validate", str(HW_RRAM), str(WORKLOADS / "mnist_bp.yaml")])
    assert result.exit_code == 0 and "preflight passed: bp" in result.output, result.output
    bad = _mutate(HW_RRAM, tmp_path, "noc.mesh", "1x1", "tiny.yaml")
    (line,) = _errors(CliRunner().invoke(cli, ["validate", str(bad), str(WORKLOADS / "mnist_bp.yaml")]))
    assert "tiles" in line or "fit" in line, line



@pytest.mark.parametrize(("path", "kind", "unneeded"), [
    (HW_RRAM, "hwconfig", ["neurosim.config.workload", "neurosim.config.network", "neurosim.counts", "neurosim.hw.units",
                           "neurosim.hw.noc", "neurosim.hw.crossbar", "neurosim.preflight", "neurosim.sweep", "neurosim.sim",
                           "numpy"]),
    (WORKLOADS / "mnist_sdfa.yaml", "workload", ["neurosim.config.hw", "neurosim.preflight", "neurosim.hw", "neurosim.sweep",
                                                 "numpy"]),
])
def test_validate_loads_only_what_the_file_needs(path, kind, unneeded):
    # a fresh interpreter: which modules `neurosim validate FILE` has loaded when it is done
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from neurosim.cli import cli\n"
        f"result = CliRunner().invoke(cli, ['validate', {str(path)!r}])\n"
        f"assert result.exit_code == 0 and 'ok ({kind})' in result.output, result.output\n"
        f"print(' '.join(m for m in {unneeded!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"validating a {kind} loaded {done.stdout.strip()}"
