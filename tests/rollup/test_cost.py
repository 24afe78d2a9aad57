"""Cost model: hand-computed energies, area and lifetime; conservation over every system kind."""

import pytest

from crosstrain.golden import config
from crosstrain.rollup.cost import (
    DIGITAL_AREA_RATIO,
    DIGITAL_ENERGY_RATIO,
    SECONDS_PER_YEAR,
    CostSettings,
    area,
    digital_cost,
    reram_cost,
)
from crosstrain.rollup.estimate import ALL_SYSTEMS, EstimateSettings, estimate
from crosstrain.rollup.mapper import SettingError, Technique, map_network
from crosstrain.rollup.networks import NetBuilder, builtin

PLAIN = Technique(replication=1, pipeline=False, crs_samples=3)


def mlp_300_150():
    b = NetBuilder("mlp1", (300, 1, 1))
    b.fc(150)
    return b.build()


def test_panther_energy_by_hand():
    # counts of test_mapper.test_one_layer_mlp_counted_on_paper; PANTHER lumps the periphery
    # into 309 pJ per array step; eDRAM 20.45 pJ per 256 bits; OPA 88.8 pJ per array row-bit step;
    # serial row read 6.5 nJ / 128 rows; cell write 1.38 pJ
    c = reram_cost(map_network(mlp_300_150(), config.load("panther"), PLAIN, batch=3), name="p",
                   description="")
    f = c.phases["forward"].components
    assert f["mvm"] == pytest.approx(2304 * 309e-12)
    assert f["buffer"] == pytest.approx(3 * (300 + 150) * 16 * 20.45 / 256 * 1e-12)
    assert c.phases["gradient"].components["opa"] == pytest.approx(3 * 6 * 16 * 16 * 88.8e-12)
    crs = c.phases["crs"].components
    assert crs["serial_read"] == pytest.approx(2 * 300 * 16 * 50.8e-12)
    assert crs["cell_write"] == pytest.approx(300 * 150 * 24 * 1.38e-12)
    # iteration: 6274 + 4992 + 32880 cycles at 1.28 GHz (test_mapper); lifetime: update cells take
    # 3 OPA writes + 1 CRS rewrite per iteration at 1e11 (weak pulses), forward cells 1 at 1e9
    assert c.latency_s == pytest.approx((6274 + 4992 + 32880) / 1.28e9)
    assert c.lifetime_iterations == min(1e11 / 4, 1e9 / 1)
    assert c.lifetime_years == pytest.approx(min(1e11 / 4, 1e9 / 1) * c.latency_s / SECONDS_PER_YEAR)


def test_opa_energy_is_what_each_phase_pulses():
    # PANTHER (reference sheet s.1, the simulator's ima.py): one OPA on a 128x128 block charges
    # 16 row-bit steps x 16 update crossbars x 88.8 pJ = 22.7 nJ; the polarity phases split each
    # step's cells, so they do not multiply the energy. Time stays the RTL's serial schedule:
    # 16 bit-steps x 4 phases x 20 ns (rtl/opa_driver.py), each phase 26 cycles of 1.28 GHz.
    b = NetBuilder("block", (128, 1, 1))
    b.fc(128)
    nm = map_network(b.build(), config.load("panther"), PLAIN, batch=1)
    g = reram_cost(nm, name="p", description="").phases["gradient"]
    assert g.components["opa"] == pytest.approx(22.7e-9, rel=2e-3)
    assert nm.layers[0].phases["gradient"].batch_cycles == 16 * 4 * 26


def test_puma_mvm_energy_is_the_papers_per_mvm_figure():
    # PUMA (reference sheet s.1): 43.97 nJ for one whole 16-bit 128x128 MVM (8 slices, 16 input
    # steps), whatever the number of pipeline stages its latency counts
    b = NetBuilder("block", (128, 1, 1))
    b.fc(128)
    nm = map_network(b.build(), config.load("puma"), PLAIN, batch=1)
    f = reram_cost(nm, name="p", description="").phases["forward"]
    assert f.components["mvm"] == pytest.approx(43.97e-9, rel=1e-3)


@pytest.mark.parametrize("batch", [1, 64])
def test_crs_is_charged_per_sample(batch):
    # CRS every 256 samples (4 mini-batches of 64, PANTHER's precision study, reference sheet
    # s.1), pro rata: an iteration of B samples carries B / 256 of one carry resolution. One CRS
    # of mlp-512 (FC 512-512-512, 4 x 4 blocks per layer): every update-slice row of each column
    # block read (4 x 512 rows x 16 slices per layer), every weight rewritten in its 16 update
    # slices and 8 slices per weight copy (forward only for the first layer, + backward for the
    # second); 50.8 pJ per serial row read, 1.38 pJ per cell written
    nm = map_network(builtin("mlp-512"), config.load("panther"), Technique(replication=1), batch=batch)
    crs = reram_cost(nm, name="p", description="").phases["crs"].components
    reads = 2 * 4 * 512 * 16
    writes = 512 * 512 * (16 + 8) + 512 * 512 * (16 + 16)
    assert crs["serial_read"] == pytest.approx(batch / 256 * reads * 50.8e-12)
    assert crs["cell_write"] == pytest.approx(batch / 256 * writes * 1.38e-12)


def test_isaac_energy_from_parts():
    # ISAAC lumps nothing: 30 pJ per array step, 1.56 pJ per conversion, 0.39 pJ per DAC
    # activation, 0.04 pJ per accumulated code (same counts: 128x128 arrays, 8 slices, 16 steps)
    c = reram_cost(map_network(mlp_300_150(), config.load("isaac"), PLAIN, batch=3), name="i",
                   description="")
    f = c.phases["forward"].components
    assert "mvm" not in f
    assert f["array"] == pytest.approx(2304 * 30e-12)
    assert f["adc"] == pytest.approx(3 * 16 * 8 * 450 * 1.56e-12)
    assert f["dac"] == pytest.approx(3 * 16 * 8 * 600 * 0.39e-12)
    assert f["shift_add"] == pytest.approx(3 * 16 * 8 * 450 * 0.04e-12)


def test_area_of_full_tiles_is_the_tile_area_and_adcs_add_area():
    cfg = config.load("panther")                  # 64 arrays per 0.372 mm^2 tile, 1 ADC each
    tiles, parts = area(cfg, 128, CostSettings())
    assert tiles == 2 and sum(parts.values()) == pytest.approx(2 * 0.372)
    more = cfg.with_overrides({"converters.adcs_per_array": 4})
    _, parts4 = area(more, 128, CostSettings())
    assert sum(parts4.values()) - sum(parts.values()) == pytest.approx(128 * 3 * 1200e-6)
    with pytest.raises(SettingError, match="tile.area_mm2"):
        area(cfg.with_overrides({"tile.area_mm2": 0.01}), 1, CostSettings())


def test_digital_baseline_scales_compute():
    cfg = config.load("panther")
    nm = map_network(builtin("vgg8-cifar10"), cfg, Technique(), batch=4)
    p = reram_cost(nm, name="panther", description="")
    d = digital_cost(nm, p.area_mm2)
    assert d.phases["forward"].components["mvm"] == pytest.approx(
        DIGITAL_ENERGY_RATIO * p.phases["forward"].components["mvm"])
    assert d.phases["crs"].energy_j == 0
    assert d.latency_s == pytest.approx(DIGITAL_AREA_RATIO * (p.critical_path["forward"]
                                                              + p.critical_path["backward"]))


@pytest.mark.parametrize("net", ["vgg8-cifar10", "dcgan-generator"])
def test_energy_and_busy_time_are_conserved_in_every_system(net):
    est = estimate(builtin(net), EstimateSettings(batch=4), ALL_SYSTEMS)
    for s in est.systems:
        phases = s.phases.values()
        assert sum(p.energy_j for p in phases) + s.static_energy_j == pytest.approx(s.energy_j), s.name
        assert sum(s.components.values()) == pytest.approx(s.energy_j), s.name
        for name, ph in s.phases.items():
            assert sum(l.phases.get(name, {}).get("energy_j", 0.0) for l in s.layers) == \
                pytest.approx(ph.energy_j, abs=1e-15), (s.name, name)
            assert sum(l.phases.get(name, {}).get("latency_s", 0.0) for l in s.layers) == \
                pytest.approx(ph.latency_s, abs=1e-15), (s.name, name)
        if s.area_breakdown:
            assert sum(s.area_breakdown.values()) == pytest.approx(s.area_mm2)
        assert s.latency_s > 0 and s.energy_j > 0


def test_bad_cost_settings():
    with pytest.raises(SettingError, match="duty"):
        CostSettings(duty=2.0)
    with pytest.raises(SettingError, match="serial_read_row_pj"):
        CostSettings(serial_read_row_pj=-1.0)
