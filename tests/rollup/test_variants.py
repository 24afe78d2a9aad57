"""PANTHER's baselines: its flow with only the units of its crossbar operations changed (reference
sheet s.1, figures per access: digital MVM unit 897 ns / 1.274 mW, CMOS outer-product unit
256 ns / 1.134 mW, PipeLayer-like serial-write update 475 ns / 238.06 mW with 2.74 mW MVM
steps); and PANTHER's tile."""

import pytest

from crosstrain.golden import config, cycles
from crosstrain.rollup.cost import reram_cost
from crosstrain.rollup.estimate import EstimateSettings, estimate
from crosstrain.rollup.mapper import Technique, map_network
from crosstrain.rollup.networks import builtin, mlp
from crosstrain.rollup.variants import VARIANTS, variant


def systems(preset="panther"):
    est = estimate(mlp((128, 128)), EstimateSettings(batch=1, preset=preset), ["panther", *VARIANTS])
    return {s.name: s for s in est.systems}


def test_energy_per_block_and_sample():
    # one MVM of a 128x128 block = 16 input steps x 8 slices = 128 accesses; one OPA = 16 row-bit
    # steps x 16 update arrays = 256 accesses
    s = systems()
    mvm = {n: s[n].phases["forward"].components["mvm"] for n in s if n != "gpu"}
    opa = {n: s[n].phases["gradient"].components["opa"] for n in s if n != "gpu"}
    assert mvm["digital"] == pytest.approx(128 * 897 * 1.274e-12, rel=1e-4)     # 1,142.6 pJ each
    assert opa["digital"] == opa["cmos-op"] == pytest.approx(256 * 256 * 1.134e-12, rel=1e-4)
    assert mvm["cmos-op"] == mvm["panther"] == pytest.approx(128 * 309e-12)
    assert mvm["pipelayer-panther"] == pytest.approx(128 * 100 * 2.74e-12)
    assert opa["pipelayer-panther"] == pytest.approx(256 * 475 * (2.74 + 4.44 * 53) * 1e-12)
    assert opa["panther"] == pytest.approx(256 * 88.8e-12)


def test_digital_has_no_carry_resolution_and_no_wear():
    s = systems()
    assert s["digital"].kind == "digital" and s["digital"].phases["crs"].energy_j == 0
    assert s["digital"].lifetime_years is None and s["panther"].lifetime_years > 0
    assert s["cmos-op"].phases["crs"].energy_j == pytest.approx(s["panther"].phases["crs"].energy_j)


def test_baselines_have_panthers_area():
    s = systems()
    for name in VARIANTS:
        assert s[name].area_breakdown == pytest.approx(s["panther"].area_breakdown), name


def test_unit_latencies():
    # digital: each MVM step takes the digital unit's 897 ns (1149 cycles of 1.28 GHz, the last
    # conversions and 2 register cycles after); CMOS OP / serial writes: each OPA access 256 /
    # 475 ns, 16 row-bit steps x 4 phases of them in the RTL-backed serial schedule
    cfg = config.load("panther")
    d = cycles.mvm_schedule(variant(cfg, "digital"))
    assert cycles.cycles_to_seconds(cfg, d.latency) == pytest.approx((16 * 897 + 100 + 2 / 1.28) * 1e-9,
                                                                     rel=1e-3)
    for name, ns in (("cmos-op", 256), ("pipelayer-panther", 475)):
        assert cycles.cycles_to_seconds(cfg, cycles.opa_cycles(variant(cfg, name))) == \
            pytest.approx(64 * ns * 1e-9, rel=2e-3), name


def test_panthers_tile_and_adcs():
    # PANTHER's tile: 8 cores x 2 MVM units x 32 crossbars (8 forward, 8 backward, 16 update); the
    # update crossbars have no ADCs. mlp-512 on it: layer 1 16 blocks x (8 + 16) arrays, layer 2
    # 16 x 32 = 896 arrays, 384 of them with an ADC, in 14 cores of 64 and 2 tiles of 512
    nm = map_network(builtin("mlp-512"), config.load("panther"), Technique(), batch=1)
    c = reram_cost(nm, name="p", description="")
    assert (c.arrays, c.tiles) == (896, 2)
    assert c.area_breakdown["adcs"] == pytest.approx(384 * 1200e-6)
    assert c.area_breakdown["core"] == pytest.approx(14 * 0.02191)
