"""Mapping: layers cut into array-sized blocks and placed on the mesh."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter
import yaml

from neurosim.config import hw as hwcfg
from neurosim.config.hw import HwConfig
from neurosim.config.network import LayerShape, NetworkConfig, infer_shapes
from neurosim.config.workload import AlgorithmConfig
from neurosim.errors import MappingError, NeurosimError
from neurosim.mapping import FRAME_COLUMNS, draw_placement, place

from .conftest import HW_DIGITAL, HW_RRAM



def mlp(widths: list[int]) -> list[LayerShape]:
    """The shapes of the MLP ``widths`` (input width first)."""
    return infer_shapes(NetworkConfig(layers=list(widths)), (widths[0],))


def rule(name: str, **kw):
    return TypeAdapter(AlgorithmConfig).validate_python({"name": name, **kw})


BIG = mlp([784, 800, 800, 10])


def tiny_hw(**over) -> HwConfig:
    """rram_tile shrunk: 4x8 arrays, 2-bit cells, 2 cells per weight (4 weights per row),
    4-bit inputs on 2-bit DACs, 2 columns per ADC, 2 arrays per tile, 4x4 mesh of 16-byte flits."""
    data = yaml.safe_load(HW_RRAM.read_text())
    data["crossbar"].update(rows=4, cols=8, cells_per_weight=2, input_bits=4, dac_bits=2, cols_per_adc=2, pulses_per_write=3)
    data["chip"]["crossbars_per_tile"] = 2
    data["noc"].update(mesh="4x4", flit_bytes=16)
    for dotted, value in over.items():
        node = data
        keys = dotted.split(".")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return HwConfig.model_validate(data)


def test_a_2x3_block_layer_by_hand():
    # 7 inputs on 4-row arrays: 2 row blocks (4 + 3 rows); 10 outputs at 4 weights per row: 3 column blocks (4, 4, 2)
    pl = place(tiny_hw(), mlp([7, 10]), rule("bp"))
    m = pl.matrix("fc1", "W")
    assert (m.row_blocks, m.col_blocks) == (2, 3)
    by_pos = {(b.block_row, b.block_col): b for b in m.blocks}
    assert [by_pos[(r, 0)].rows_used for r in range(2)] == [4, 3]
    assert [by_pos[(0, c)].weights_used for c in range(3)] == [4, 4, 2]
    assert [by_pos[(0, c)].cols_used for c in range(3)] == [8, 8, 4]  # 2 cells per weight
    # a column block (2 arrays) fills a 2-array tile: one column block per tile, tiles 0, 1, 2
    assert [by_pos[(0, c)].tile for c in range(3)] == [0, 1, 2]
    assert m.home == (0, 1, 2)
    assert pl.tiles_used == 3


def test_frame_is_the_placement_csv_table():
    pl = place(hwcfg.load(HW_RRAM), BIG, rule("dfa"))
    df = pl.frame()
    assert list(df.columns) == FRAME_COLUMNS
    assert len(df) == len(pl.blocks) == 7 * 25 + 7 * 25 + 7 * 1
    assert set(df["matrix"]) == {"W"}  # dfa's B lives in SRAM on rram_tile
    # every block's tile lies on the mesh and rows/cols fit an array
    assert df["tile_x"].between(0, 7).all() and df["tile_y"].between(0, 7).all()
    assert (df["rows_used"] <= 128).all() and (df["cols_used"] <= 128).all()
    # layer-contiguous: each layer's tiles form one consecutive run, layers in order
    runs = df.groupby("layer")["tile"].agg(["min", "max", "nunique"])
    assert (runs["max"] - runs["min"] + 1 == runs["nunique"]).all()
    assert runs.loc["fc1", "max"] < runs.loc["fc2", "min"] < runs.loc["fc3", "min"]


def test_whole_column_blocks_per_tile_on_rram_tile():
    pl = place(hwcfg.load(HW_RRAM), BIG, rule("bp"))
    fc1 = pl.matrix("fc1", "W")
    # 7 row blocks per column block, 16 arrays per tile -> 2 whole column blocks per tile, 13 tiles
    assert len(fc1.tiles) == 13
    for c in range(fc1.col_blocks):
        assert len({b.tile for b in fc1.blocks if b.block_col == c}) == 1
    assert pl.tiles_used == 27


def test_feedback_matrices_in_arrays_when_the_chip_says_so():
    hw = tiny_hw(**{"chip.feedback_storage": "crossbar"})
    layers = mlp([7, 10, 6, 3])
    dfa = place(hw, layers, rule("dfa"))
    assert {(m.layer, m.matrix) for m in dfa.matrices if m.matrix == "B"} == {("fc1", "B"), ("fc2", "B")}
    b1 = dfa.matrix("fc1", "B")
    assert (b1.n_rows, b1.n_cols) == (3, 10)  # B_1: C rows x n_1 weights
    fa = place(hw, layers, rule("fa"))
    assert {m.layer for m in fa.matrices if m.matrix == "B"} == {"fc2", "fc3"}
    assert (fa.matrix("fc2", "B").n_rows, fa.matrix("fc2", "B").n_cols) == (10, 6)
    for name in ("sdfa", "drtp", "bp"):
        assert all(m.matrix == "W" for m in place(hw, layers, rule(name)).matrices)


def test_digital_chip_blocks_are_sram_weight_blocks():
    pl = place(hwcfg.load(HW_DIGITAL), BIG, rule("bp"))
    assert pl.storage == "sram" and pl.block_rows == 128 and pl.block_weights == 128
    assert len(pl.blocks) == 7 * 7 + 7 * 7 + 7 * 1
    assert pl.tiles_used == 7 + 7 + 1


def test_network_too_big_raises_mapping_error_with_counts():
    hw = tiny_hw()
    with pytest.raises(MappingError) as exc:
        place(hw, mlp([40, 40, 10]), rule("bp"))
    msg = str(exc.value)
    # 40x40: 10 row blocks x 10 column blocks = 100 arrays; 10 rows > 2 per tile -> 50 tiles;
    # 40x10: 10 x 3 = 30 arrays -> 15 tiles; 65 tiles needed, the 4x4 mesh has 16
    assert "needs 65 tiles" in msg and "130 arrays" in msg and "4x4" in msg and "has 16" in msg
    assert "\n" not in msg
    assert isinstance(exc.value, NeurosimError)


def test_draw_writes_a_png(tmp_path):
    pl = place(tiny_hw(**{"chip.feedback_storage": "crossbar"}), mlp([7, 10, 6, 3]), rule("dfa"))
    out = draw_placement(pl, tmp_path / "sub" / "placement.png")
    assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _conv_net(channels: int = 16):
    net = NetworkConfig(layers=[
        {"kind": "conv2d", "channels": channels, "kernel": 5},
        {"kind": "maxpool", "kernel": 2},
        {"kind": "flatten"},
        {"kind": "dense", "units": 10},
    ])
    return infer_shapes(net, (1, 28, 28))


def test_a_conv_layer_is_its_unrolled_matrix():
    # conv5x5-16 on 1x28x28: 25 rows (k*k*C_in) x 16 weights; on 128x128 arrays with 4 cells per weight
    # that is one block of 25 rows x 16 weights (64 columns)
    pl = place(hwcfg.load(HW_RRAM), _conv_net(), rule("dfa"))
    m = pl.matrix("conv1", "W")
    assert (m.n_rows, m.n_cols, m.row_blocks, m.col_blocks) == (25, 16, 1, 1)
    assert m.blocks[0].cols_used == 64
    fc = pl.matrix("fc1", "W")  # flatten of 16x12x12 = 2304 inputs: 18 row blocks of 128
    assert (fc.n_rows, fc.n_cols, fc.row_blocks) == (2304, 10, 18)


def test_feature_map_feedback_in_arrays():
    # DFA's B of conv1 projects the 10 classes onto 16x24x24 = 9216 units; with feedback_dilation 3
    # (hybrid DFA) onto 16 x 8 x 8 = 1024 units
    hw = hwcfg.load(HW_RRAM)
    hw = hw.model_copy(update={"chip": hw.chip.model_copy(update={"feedback_storage": "crossbar"})})
    b = place(hw, _conv_net(), rule("dfa")).matrix("conv1", "B")
    assert (b.n_rows, b.n_cols) == (10, 9216)
    hyb = place(hw, _conv_net(), rule("hybrid_dfa", direct_to=["conv1"], feedback_dilation=3)).matrix("conv1", "B")
    assert (hyb.n_rows, hyb.n_cols) == (10, 1024)
    # sparse feedback stays in SRAM
    assert place(hw, _conv_net(), rule("hybrid_dfa", direct_to=["conv1"], fanin=2)).matrix("conv1", "B") is None


def test_a_conv_net_too_big_names_its_layers():
    with pytest.raises(MappingError) as exc:
        place(tiny_hw(), _conv_net(), rule("bp"))
    assert "1x28x28:conv1-pool1-flatten1-fc1 (bp) needs" in str(exc.value)
