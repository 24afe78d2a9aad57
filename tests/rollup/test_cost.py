"""Cost model: hand-computed energies, area and lifetime; conservation over every system kind."""

import pytest

from crosstrain.golden import config
from crosstrain.rollup.cost import SECONDS_PER_YEAR, CostSettings, area, reram_cost
from crosstrain.rollup.estimate import ALL_SYSTEMS, EstimateSettings, estimate
from crosstrain.rollup.mapper import SettingError, Technique, map_network
from crosstrain.rollup.networks import builtin, mlp

PLAIN = Technique(replication=1, pipeline=False, crs_samples=3)


def mlp_300_150():
    return mlp((300, 150))


def test_panther_energy_by_hand():
    # counts of test_mapper.test_one_layer_mlp_counted_on_paper; PANTHER lumps the periphery
    # into 309 pJ per array step; OPA 88.8 pJ per array row-bit step; serial row read 6.5 nJ / 128
    # rows; cell write 1.38 pJ. eDRAM (8.6 + 3 + 0.475 pJ per 256 bits): each vector's 300 inputs
    # loaded for each of 2 column blocks, its 150 outputs stored from each of 3 row blocks, 16 bits
    # each: 1050 x 16 / 256 = 65.625 accesses
    c = reram_cost(map_network(mlp_300_150(), config.load("panther"), PLAIN, batch=3), name="p",
                   description="")
    f = c.phases["forward"].components
    assert f["mvm"] == pytest.approx(2304 * 309e-12)
    assert f["edram"] == pytest.approx(3 * 65.625 * (8.6 + 3 + 0.475) * 1e-12)
    assert c.phases["gradient"].components["opa"] == pytest.approx(3 * 6 * 16 * 16 * 88.8e-12)
    crs = c.phases["crs"].components
    assert crs["serial_read"] == pytest.approx(2 * 300 * 16 * 50.8e-12)
    assert crs["cell_write"] == pytest.approx(300 * 150 * 24 * 1.38e-12)
    # iteration at 1.28 GHz: MVMs 6274 + 3, OPAs 4992 + 1, CRS 32880 + 1 cycles (test_mapper), plus per sample
    # the forward's eDRAM accesses (2 ns each, one tile), its 150 x 16-bit outputs over the network
    # (31 ns + 2400 bits / 32 per ns) and the OPA's loads of x and the errors (also 65.625
    # accesses); lifetime: update cells take 3 OPA writes + 1 CRS rewrite per iteration at 1e11
    # (weak pulses), forward cells 1 at 1e9
    fwd = 6277 + 3 * (65.625 * 2 + 31 + 75) * 1.28
    grad = 4993 + 3 * 65.625 * 2 * 1.28
    assert c.latency_s == pytest.approx((fwd + grad + 32881) / 1.28e9)
    assert c.lifetime_iterations == min(1e11 / 4, 1e9 / 1)
    assert c.lifetime_years == pytest.approx(min(1e11 / 4, 1e9 / 1) * c.latency_s / SECONDS_PER_YEAR)


def test_opa_energy_is_what_each_phase_pulses():
    # PANTHER (reference sheet s.1, the simulator's ima.py): one OPA on a 128x128 block charges
    # 16 row-bit steps x 16 update crossbars x 88.8 pJ = 22.7 nJ; the polarity phases split each
    # step's cells, so they do not multiply the energy. Time stays the RTL's serial schedule:
    # 16 bit-steps x 4 phases x 20 ns (rtl/opa_driver.py), each phase 26 cycles of 1.28 GHz, and
    # the cycle the unit takes to finish the stretch (rtl/tile.py).
    nm = map_network(mlp((128, 128)), config.load("panther"), PLAIN, batch=1)
    g = reram_cost(nm, name="p", description="").phases["gradient"]
    assert g.components["opa"] == pytest.approx(22.7e-9, rel=2e-3)
    opa = nm.layers[0].phases["gradient"]
    assert opa.batch_cycles - opa.movement_cycles == 16 * 4 * 26 + 1


def test_puma_mvm_energy_is_the_papers_per_mvm_figure():
    # PUMA (reference sheet s.1): 43.97 nJ for one whole 16-bit 128x128 MVM (8 slices, 16 input
    # steps), whatever the number of pipeline stages its latency counts
    nm = map_network(mlp((128, 128)), config.load("puma"), PLAIN, batch=1)
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
    assert f["mvm"] == pytest.approx(2304 * 30e-12 + 3 * 16 * 8 * 450 * 1.56e-12
                                     + 3 * 16 * 8 * 600 * 0.39e-12)
    assert f["shift_add"] == pytest.approx(3 * 16 * 8 * 450 * 0.04e-12)


def test_area_is_summed_from_components():
    # 600 arrays, 300 of them with ADCs, on panther: 25 um2 per array, 1200 um2 per ADC, 128 row
    # DACs of 0.17 um2 per array; the parts of ceil(600 / 64) = 10 active cores (0.02191 mm2) and
    # ceil(600 / 512) = 2 tiles (0.2064 mm2)
    cfg = config.load("panther")
    a = area(cfg, 600, 300)
    assert a == pytest.approx({"arrays": 600 * 25e-6, "adcs": 300 * 1200e-6, "dacs": 600 * 128 * 0.17e-6,
                               "core": 10 * 0.02191, "tile": 2 * 0.2064})
    more = area(cfg.with_overrides({"converters.adcs_per_array": 4}), 600, 300)
    assert more["adcs"] - a["adcs"] == pytest.approx(300 * 3 * 1200e-6)


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


def test_digital_and_network_energy_of_one_block_by_hand():
    # One 128x128 FC block, one sample, forward, PANTHER's per-access energies (reference sheet
    # s.1; 1 ns per access): the input (128 values) loaded and the output (128) stored through
    # the eDRAM, 16 bits each = 16 accesses of 256 bits at 8.6 + 3 + 0.475 pJ; each value written
    # and read once in the data memory (0.57 pJ); 128 input-buffer writes (0.16) and one read per
    # input step (16 x 1.7); 128 output-buffer writes (0.16); 128 ALU operations (activation,
    # 0.265); 3 + 1 instructions (1.30); 128 x 16 bits to the next layer: 31 ns + 2048 / 32 ns of
    # a busy 16.13 mW router; 128 x 16 accumulated codes x 8 slices at 0.045 pJ
    nm = map_network(mlp((128, 128)), config.load("panther"), PLAIN, batch=1)
    f = reram_cost(nm, name="p", description="").phases["forward"].components
    assert f["edram"] == pytest.approx(16 * (8.6 + 3 + 0.475) * 1e-12)
    assert f["buffers"] == pytest.approx((2 * 256 * 0.57 + 128 * 0.16 + 16 * 1.7 + 128 * 0.16) * 1e-12)
    assert f["alu"] == pytest.approx(128 * 0.265e-12)
    assert f["instruction"] == pytest.approx(4 * 1.30e-12)
    assert f["network"] == pytest.approx((31 + 128 * 16 / 32) * 16.13e-12)
    assert f["shift_add"] == pytest.approx(128 * 16 * 8 * 0.045e-12)
    # on the critical path after the MVM and its store into the tile's buffer (3 cycles): 16
    # accesses x 2 ns, then the transfer (31 + 64 ns)
    fwd = nm.layers[0].phases["forward"]
    assert fwd.sample_cycles == pytest.approx(2178 + 3 + (16 * 2 + 31 + 64) * 1.28)


def test_leakage_of_active_cores_and_tiles():
    # mlp-512 (FC 512-512-512, 4 x 4 blocks per layer): layer 1 holds 16 x (8 forward + 16
    # update) arrays, layer 2 16 x 32 (+ 8 backward): 896 arrays = 14 cores of 64 arrays in 2
    # tiles of 512; PANTHER: 3.169 mW per active core, 2.090 mW per active tile, over the iteration
    c = reram_cost(map_network(builtin("mlp-512"), config.load("panther"), Technique(), batch=1),
                   name="p", description="")
    assert c.static_energy_j == pytest.approx((14 * 3.169 + 2 * 2.090) * 1e-3 * c.latency_s)
    assert c.components["leakage"] == c.static_energy_j


def test_latency_grows_with_layer_size():
    # one sample through FC layers: moving the bigger layer's values takes longer
    lat = {}
    for n in (256, 1024):
        nm = map_network(mlp((n, n)), config.load("panther"), Technique(), batch=1)
        lat[n] = reram_cost(nm, name="p", description="").latency_s
    assert lat[1024] > lat[256]
