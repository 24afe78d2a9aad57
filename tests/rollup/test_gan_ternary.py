"""PIM-TGAN-like ternary weights in the roll-up: the pim-tgan preset and system on the GAN iteration."""

import pytest

from crosstrain.golden import config
from crosstrain.golden.ternary import cell_pair
from crosstrain.rollup.estimate import EstimateSettings, estimate
from crosstrain.rollup.networks import builtin, dcgan


def test_pim_tgan_preset_stores_a_ternary_weight_in_one_cell_pair():
    cfg = config.load("pim-tgan")
    g_plus, g_minus = cell_pair([[1, 0, -1]])
    # one cell of each sign per weight, a cell holds one bit: two 1-bit arrays per block
    assert (cfg.arrays_per_block, cfg.cell_max) == (len((g_plus, g_minus)), int(g_plus.max()))
    assert cfg.crossbar.encoding == "differential" and cfg.precision.weight_bits == 1


def test_ternary_forward_drives_half_the_arrays_of_pipelayers_four_slices():
    # same 128 x 128 arrays, 16 one-bit input steps and mapping: the pipelayer preset stores a
    # 16-bit weight in four 4-bit slices (4 arrays per block), pim-tgan a ternary one in a pair
    assert config.load("pipelayer").arrays_per_block == 4
    st = EstimateSettings(batch=2)
    by = {s.name: s for s in estimate(builtin("dcgan-discriminator"), st, ["pipelayer", "pim-tgan"]).systems}
    for phase in ("forward", "backward"):
        ternary = by["pim-tgan"].phases[phase].events["array_steps"]
        assert ternary == pytest.approx(by["pipelayer"].phases[phase].events["array_steps"] / 2, rel=1e-12)


def test_pim_tgan_costs_the_same_gan_iteration():
    est = estimate(dcgan(), EstimateSettings(batch=2), ["pipelayer", "pim-tgan"]).as_dict()
    by = {s["name"]: s for s in est["systems"]}
    assert list(by["pim-tgan"]["passes"]) == list(by["gpu"]["passes"]) == [
        p["name"] for p in est["network_info"]["passes"]]
    assert by["pim-tgan"]["hardware"] == "pim-tgan" and by["pim-tgan"]["lifetime_years"] > 0
