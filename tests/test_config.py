"""Config validation: every malformed file is one line on stderr, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from neurosim.cli import cli
from neurosim.config import hw as hwcfg
from neurosim.config import workload as wlcfg
from neurosim.errors import ConfigError

from .conftest import HW_DIGITAL, HW_RRAM, WORKLOADS


def _set(data: dict, dotted: str, value) -> dict:
    """Set a dotted path (``a.b[2].c``) in nested data; value ``...`` deletes it."""
    keys: list = []
    for part in dotted.split("."):
        if "[" in part:
            name, idx = part[:-1].split("[")
            keys += [name, int(idx)]
        else:
            keys.append(part)
    node = data
    for k in keys[:-1]:
        node = node[k]
    if value is ...:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


def _mutated(src: Path, tmp_path: Path, dotted: str, value) -> Path:
    data = _set(yaml.safe_load(src.read_text()), dotted, value)
    out = tmp_path / f"bad_{src.name}"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


WL = WORKLOADS / "mnist_compare.yaml"

# (base file, dotted path, new value, text the message must contain)
MUTATIONS = [
    (WL, "epochz", 3, "epochz"),
    (WL, "training.batch_size", 0, "training.batch_size"),
    (WL, "training.batch_size", "big", "training.batch_size"),
    (WL, "training.epochs", 0, "training.epochs"),
    (WL, "training.optimizer.learning_rate", -1.0, "training.optimizer.learning_rate"),
    (WL, "training.optimizer.lr", 0.1, "training.optimizer.lr"),
    (WL, "training.optimizer.name", "rmsprop", "training.optimizer.name"),
    (WL, "network.activation", "softplus", "network.activation"),
    (WL, "network.layers[1]", 0, "network.layers[1]"),
    (WL, "network.layers", ..., "network.layers"),
    (WL, "dataset.name", "imagenet", "dataset.name"),
    (WL, "algorithms[0]", "backprop", "algorithms[0]"),
    (WL, "seed", -3, "seed"),
    (WL, "algorithms[2].fanin", 11, "exceeds the 10 output classes"),
    (WL, "algorithms[1]", {"name": "bp"}, "listed twice"),
    (WL, "network.layers[3]", 7, "network"),
    (WL, "algorithms[2].fanin2", 1, "algorithms[2].fanin2"),
    (WL, "algorithms[2].learning_rate", 0, "algorithms[2].learning_rate"),
    (HW_RRAM, "crossbar.rows", 0, "crossbar.rows"),
    (HW_RRAM, "crossbar.cols", -128, "crossbar.cols"),
    (HW_RRAM, "crossbar.adc_bits", 0, "crossbar.adc_bits"),
    (HW_RRAM, "crossbar.adc_bits", 40, "crossbar.adc_bits"),
    (HW_RRAM, "crossbar.read_cycles", 100, "crossbar.read_cycles"),
    (HW_RRAM, "crossbar.read_cycles.source", ..., "crossbar.read_cycles.source"),
    (HW_RRAM, "noc.mesh", "8by8", "noc.mesh"),
    (HW_RRAM, "noc.hops", 3, "noc.hops"),
    (HW_RRAM, "sram.size_kib", -5, "sram.size_kib"),
    (HW_RRAM, "chip.weight_storage", "flash", "chip.weight_storage"),
    (HW_RRAM, "core.macs_per_cycle", 2.5, "core.macs_per_cycle"),
    (HW_RRAM, "energy.noc.flit_hop.energy_pj", "cheap", "energy.noc.flit_hop.energy_pj"),
    (HW_DIGITAL, "energy.gpu", {"mac": {"energy_pj": 1.0, "per": "op", "source": "nowhere"}}, "energy.gpu"),
    (HW_DIGITAL, "dram", ..., "dram"),
]


def _assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    err = result.stderr.strip()
    assert "Traceback" not in result.output + result.stderr
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)


@pytest.mark.parametrize("base,dotted,value,needle", MUTATIONS, ids=[f"{b.stem}:{d}={v!r}" for b, d, v, _ in MUTATIONS])
def test_malformed_config_is_one_line_exit_2(tmp_path, base, dotted, value, needle):
    bad = _mutated(base, tmp_path, dotted, value)
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    _assert_one_line_error(result, bad.name, needle)


RAW = {
    "empty": ("", "empty"),
    "comments_only": ("# nothing here\n", "empty"),
    "syntax": ("name: x\nnetwork: {layers: [784, 10\n", "YAML syntax error"),
    "tabs": ("name: x\n\tnetwork: 1\n", "YAML syntax error"),
    "top_level_list": ("- 1\n- 2\n", "mapping"),
    "unknown_kind": ("foo: 1\n", "cannot tell the kind"),
}


@pytest.mark.parametrize("key", sorted(RAW))
def test_unparsable_file_is_one_line_exit_2(tmp_path, key):
    text, needle = RAW[key]
    bad = tmp_path / f"{key}.yaml"
    bad.write_text(text)
    _assert_one_line_error(CliRunner().invoke(cli, ["validate", str(bad)]), bad.name, needle)


def test_missing_file(tmp_path):
    _assert_one_line_error(CliRunner().invoke(cli, ["validate", str(tmp_path / "nope.yaml")]), "nope.yaml", "not found")


def test_yaml_line_number_is_reported(tmp_path):
    text = WL.read_text().replace("batch_size: 32", "batch_size: 0")
    bad = tmp_path / "line.yaml"
    bad.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "batch_size: 0" in t)
    with pytest.raises(ConfigError) as exc:
        wlcfg.load(bad)
    assert exc.value.line == line
    assert f"line.yaml:{line}: training.batch_size:" in str(exc.value)


def test_run_with_bad_hwconfig_writes_nothing(tmp_path, mnist_dir):
    bad = _mutated(HW_RRAM, tmp_path, "crossbar.rows", 0)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(bad), str(WL), "--out", str(out)])
    _assert_one_line_error(result, "crossbar.rows")
    assert not out.exists()


def test_shipped_configs_validate():
    files = [str(p) for p in sorted(WORKLOADS.glob("mnist_*.yaml")) + [WORKLOADS / "cifar10_conv_compare.yaml"]] + [str(HW_RRAM), str(HW_DIGITAL)]
    result = CliRunner().invoke(cli, ["validate", *files])
    assert result.exit_code == 0, result.stderr
    assert result.output.count(": ok") == len(files)


def test_configs_are_typed_and_frozen():
    hw = hwcfg.load(HW_RRAM)
    wl = wlcfg.load(WL)
    assert isinstance(wl.training.batch_size, int) and wl.widths[0] == 784
    assert hw.noc.mesh_rows * hw.noc.mesh_cols == hw.noc.tiles
    with pytest.raises(Exception):
        wl.seed = 5  # type: ignore[misc]


def test_bare_algorithm_names_and_defaults():
    wl = wlcfg.Workload.model_validate({"name": "x", "network": {"layers": [784, 10]}, "algorithms": ["bp", {"name": "sdfa", "fanin": 2}]})
    assert [a.name for a in wl.algorithms] == ["bp", "sdfa"]
    assert wl.algorithm("sdfa").fanin == 2
