"""Reference accounting (presets panther-sim, puma-sim): our designs costed the way PANTHER's and
PUMA's simulators charge them (reference sheet s.1), labelled as such in every output, never
taken for a schedule the RTL runs."""

import json

import pytest

from crosstrain.cli import main
from crosstrain.golden import config, cycles
from crosstrain.rollup.cost import area, reram_cost
from crosstrain.rollup.estimate import EstimateSettings, estimate
from crosstrain.rollup.mapper import Technique, map_network
from crosstrain.rollup.networks import mlp


def one_block(preset):
    nm = map_network(mlp((128, 128)), config.load(preset), Technique(replication=1), batch=1)
    return nm, reram_cost(nm, name=preset, description="")


def test_panther_sim_charges_panthers_stages():
    # PANTHER: a 16-bit MVM takes 100 ns x (16 + 2 pipeline stages) = 1,800 ns; an OPA 4 polarity
    # phases x 20 ns = 80 ns whatever the bit count; energies as panther (39.55 nJ, 22.7 nJ)
    nm, c = one_block("panther-sim")
    cfg = nm.cfg
    f, g = nm.layers[0].phases["forward"], nm.layers[0].phases["gradient"]
    assert cycles.cycles_to_seconds(cfg, f.batch_cycles - f.movement_cycles) == pytest.approx(1800e-9)
    assert cycles.cycles_to_seconds(cfg, g.batch_cycles - g.movement_cycles) == pytest.approx(80e-9)
    assert c.phases["forward"].components["mvm"] == pytest.approx(39.55e-9, rel=1e-3)
    assert c.phases["gradient"].components["opa"] == pytest.approx(22.7e-9, rel=2e-3)


def test_puma_sim_reproduces_pumas_mvm():
    # PUMA: one 16-bit 128x128 MVM = 18 stages x 128 ns = 2,304 ns and 43.97 nJ (within 5 %)
    nm, c = one_block("puma-sim")
    f = nm.layers[0].phases["forward"]
    assert cycles.cycles_to_seconds(nm.cfg, f.batch_cycles - f.movement_cycles) == \
        pytest.approx(2304e-9, rel=0.05)
    assert c.phases["forward"].components["mvm"] == pytest.approx(43.97e-9, rel=0.05)


def test_panther_sim_tile_is_panthers():
    # PANTHER's tile: 8 cores x 2 MVM units x 32 crossbars, 4 ADCs per core (update crossbars
    # have none), 0.444 mm^2 (reference sheet s.1); a network filling one tile: 512 arrays, 256
    # of them MVM arrays
    assert sum(area(config.load("panther-sim"), 512, 256).values()) == pytest.approx(0.444, rel=1e-3)


def test_accounting_is_labelled_in_every_output(tmp_path, capsys):
    est = estimate(mlp((128, 128)), EstimateSettings(batch=1, preset="panther-sim"), ["panther", "digital"])
    assert [s.schedule for s in est.systems] == ["roofline", "reference accounting", "reference accounting"]
    rtl = estimate(mlp((128, 128)), EstimateSettings(batch=1), ["panther"])
    assert rtl.systems[1].schedule == "rtl"
    out = tmp_path / "r"
    assert main(["estimate", "--network", "mlp-512", "--preset", "panther-sim", "--systems", "panther",
                 "--out", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "reference accounting" in text and "not a schedule our RTL runs" in text
    data = json.loads((out / "report.json").read_text())
    assert data["systems"][1]["schedule"] == "reference accounting"
    assert "reference accounting" in (out / "report.md").read_text()
    assert "reference accounting" in (out / "systems.csv").read_text()
