"""The papers' own figures, reproduced from the presets alone (reference sheet s.1)."""

import pytest

from crosstrain.golden import config
from crosstrain.rollup.cost import area, reram_cost, tile_power_mw
from crosstrain.rollup.mapper import Technique, gemms, map_layer, map_network
from crosstrain.rollup.networks import Layer, mlp


def block_cost(preset):
    nm = map_network(mlp((128, 128)), config.load(preset), Technique(replication=1), batch=1)
    return reram_cost(nm, name=preset, description="")


@pytest.mark.parametrize("preset", ["panther", "panther-sim"])
def test_panther_block_mvm_and_opa(preset):
    # PANTHER per 128x128 block: MVM 16 steps x 8 slice crossbars x 309 pJ = 39.55 nJ; OPA 16
    # row-bit steps x 16 update crossbars x 88.8 pJ = 22.7 nJ
    c = block_cost(preset)
    assert c.phases["forward"].components["mvm"] == pytest.approx(39.55e-9, rel=1e-3)
    assert c.phases["gradient"].components["opa"] == pytest.approx(22.7e-9, rel=2e-3)


# ISAAC Table I, (power mW, area mm^2) per tile: 12 IMAs, each 8 ADCs (16 mW, 0.0096), 8 x 128
# DACs (4 mW, 0.00017), sample-and-hold (0.01, 0.00004), 8 arrays (2.4, 0.0002), 4 S+A (0.2,
# 0.00024), IR (1.24, 0.0021), OR (0.23, 0.00077); then eDRAM (20.7, 0.083), bus (7, 0.090),
# a quarter of a router (42, 0.151), 2 sigmoids (0.52, 0.0006), S+A (0.05, 0.00006), max-pool
# (0.4, 0.00024), OR (1.68, 0.0032). Tile: 330 mW, 0.372 mm^2.
IMA = {"adcs": (16, 0.0096), "dacs": (4, 0.00017), "arrays": (2.4, 0.0002),
       "core": (0.01 + 0.2 + 1.24 + 0.23, 0.00004 + 0.00024 + 0.0021 + 0.00077)}
TILE = (20.7 + 7 + 42 / 4 + 0.52 + 0.05 + 0.4 + 1.68, 0.083 + 0.090 + 0.151 / 4 + 0.0006 + 0.00006
        + 0.00024 + 0.0032)


def test_isaac_tile_summed_from_table_one():
    cfg = config.load("isaac")
    power, ar = tile_power_mw(cfg), area(cfg, 96, 96)      # one full tile: 96 arrays with ADCs
    for comp, (mw, mm2) in IMA.items():
        assert power[comp] == pytest.approx(12 * mw, rel=0.01), comp
        assert ar[comp] == pytest.approx(12 * mm2, rel=0.03), comp
    assert (power["tile"], ar["tile"]) == pytest.approx(TILE, rel=0.01)
    assert sum(power.values()) == pytest.approx(330, rel=0.01)
    assert sum(ar.values()) == pytest.approx(0.372, rel=0.01)


def test_pipelayer_conv_layer():
    # PipeLayer: a 1152 x 256 matrix (3x3 kernels, 128 -> 256 channels) needs 18 arrays of
    # 128 x 128 (logical blocks; 4 cell groups each for 16-bit weights in 4-bit cells) and its
    # convolution on a 112 x 112 map takes 12,544 MVM cycles without replication (one per pixel)
    conv = Layer("conv", "conv", in_ch=128, out_ch=256, in_h=112, in_w=112, kernel=3, stride=1,
                 padding=1)
    g, = gemms(conv)
    cfg = config.load("pipelayer")
    assert (g.rows, g.cols) == (1152, 256)
    rb, cb = g.blocks(cfg)
    assert rb * cb == 18 and cfg.arrays_per_block == 4
    lm = map_layer(conv, cfg, Technique(update="serial", replication=1), batch=1)
    assert lm.arrays["forward"] == 18 * 4
    assert g.vectors == lm.phases["forward"].counts.array_steps / (18 * 4 * cfg.input_steps) == 12544
