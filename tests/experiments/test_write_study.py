"""The write study: its totals against its own per-phase counts and hand-computed costs."""

import math

import numpy as np
import pytest

from crosstrain.experiments import write_study as ws
from crosstrain.experiments.training import TrainingSettings
from crosstrain.golden import config
from crosstrain.golden import write_elim as we
from crosstrain.golden.events import Events
from crosstrain.rollup.networks import NetBuilder, builtin


@pytest.fixture(scope="module")
def report():
    cfg = config.load("pipelayer")
    cands = {"zero-row": (we.POLICIES["zero-row"],),
             "small-row-5pct": (we.POLICIES["small-row-5pct"],),
             "both": (we.POLICIES["unchanged-cell"], we.POLICIES["update-cell"])}
    return ws.run_study(cfg, TrainingSettings(epochs=1), cands, duty=0.5)


def test_report_has_what_the_cli_promises(report):
    assert 0 < report["accuracy_baseline"] <= 1
    for p in report["policies"]:
        for key in ("name", "eliminated_fraction", "write_energy_saving", "lifetime_gain", "accuracy"):
            assert key in p
    assert [p["name"] for p in report["policies"]] == ["zero-row", "small-row-5pct", "both"]


def test_totals_follow_from_the_phases(report):
    cfg = config.load("pipelayer")
    for p in report["policies"]:
        offered = sum(d["cells_offered"] for d in p["phases"].values())
        written = sum(d["cells_written"] for d in p["phases"].values())
        assert math.isclose(p["eliminated_fraction"], 1 - written / offered)
        # energy is per cell, so the saving is offered / written cells
        assert math.isclose(p["write_energy_saving"], offered / written)
        rows_off = sum(d["rows_offered"] for d in p["phases"].values())
        rows_w = sum(d["rows_written"] for d in p["phases"].values())
        assert math.isclose(p["write_time_saving"], rows_off / rows_w)
        for d in p["phases"].values():
            elim = sum(d["eliminated_by_reason"].values())
            assert math.isclose(elim, d["eliminated_fraction"], abs_tol=1e-12)
            assert math.isclose(d["write_energy_pj"], d["cells_written"] * cfg.device.write_energy_pj)


def test_ungoverned_phases_are_the_baseline(report):
    zero_row = report["policies"][0]
    up = zero_row["phases"]["updates"]
    assert up["cells_written"] == up["cells_offered"] and up["eliminated_fraction"] == 0


def test_loss_free_candidates_keep_the_baseline_accuracy(report):
    by = {p["name"]: p for p in report["policies"]}
    assert by["zero-row"]["accuracy"] == report["accuracy_baseline"]
    assert by["both"]["accuracy"] == report["accuracy_baseline"]
    assert not by["small-row-5pct"]["exact"]
    assert by["small-row-5pct"]["gradient_mvm_energy_saved_pj"] > 0


def test_lifetime_uses_the_hottest_cell_and_the_duty(report):
    years = report["lifetime_years_baseline"]["1e+09"]
    # the baseline writes every cell once a step
    assert math.isclose(years, 1e9 * report["step_seconds"] / 0.5 / (365.25 * 86400))


def test_mvm_energy_prices_parts_or_the_lumped_step():
    ev = Events(array_steps=10, adc_conversions=100, dac_conversions=50, shift_adds=100)
    pipelayer = config.load("pipelayer")
    t, c = pipelayer.tile, pipelayer.converters
    assert math.isclose(ws.mvm_energy_pj(ev, pipelayer),
                        10 * t.array_read_energy_pj + 100 * c.adc_energy_pj
                        + 50 * c.dac_energy_pj + 100 * t.shift_add_energy_pj)
    panther = config.load("panther")
    assert math.isclose(ws.mvm_energy_pj(ev, panther), 10 * panther.tile.mvm_step_energy_pj
                        + 100 * panther.tile.shift_add_energy_pj)     # shift-and-add outside the step


def test_vgg8_volumes():
    cfg = config.load("pipelayer")            # 4 slice arrays per value
    vol = ws.write_volumes(builtin("vgg8-cifar10"), 2, cfg)
    assert vol["activations", "conv2"] == (4 * 2 * 32 * 32 * 128, 4 * 2 * 32 * 32)
    assert vol["errors", "conv1"] == (4 * 2 * 32 * 32 * 128, 4 * 2 * 32 * 32)
    assert vol["updates", "conv6"] == (4 * 9 * 512 * 512, 4 * 9 * 512)
    assert vol["updates", "fc1"] == (4 * 8192 * 1024, 4 * 8192)


def test_carry_over_weights_measured_fractions_by_volume():
    b = NetBuilder("three", (2, 1, 1))
    for name, width in (("a", 2), ("b", 2), ("c", 4)):
        b.fc(width, name=name)
    net = b.build()
    def ph(frac):
        return {"cells_offered": 100, "cells_written": 100 * (1 - frac),
                "rows_offered": 10, "rows_written": 10 * (1 - frac)}
    measured = {"x": ph(0.5), "y": ph(0.0), "z": ph(1.0)}
    rep = {"layers": ["x", "y", "z"], "settings": {"batch": 1},
           "policies": [{"name": "p", "exact": True, "lifetime_gain": 2.0, "accuracy": 0.9,
                         "layers": {phase: measured for phase in we.PHASES}}]}
    out = ws.carry_over(rep, net, config.load("pipelayer"))[0]
    # per phase: a (<- x, half written), b (<- y, the middle: all), c (<- z, none)
    vol = ws.write_volumes(net, 1, config.load("pipelayer"))
    written = sum(v[0] * {"a": 0.5, "b": 1.0, "c": 0.0}[ly] for (_, ly), v in vol.items())
    total = sum(v[0] for v in vol.values())
    assert math.isclose(out["eliminated_fraction"], 1 - written / total)
    assert out["lifetime_gain"] == 2.0 and out["accuracy"] == 0.9


def test_write_energy_and_time_come_from_the_preset():
    cfg = config.load("pipelayer")
    ev = Events(cell_writes=10, rows_written=3)
    assert ws.write_energy_pj(ev, cfg) == 10 * cfg.device.write_energy_pj
    # rows are programmed in whole periphery cycles (50.88 ns -> 51 cycles of 1 ns)
    assert ws.write_time_ns(ev, cfg) == 3 * 51


def test_training_learns_and_loss_free_policies_do_not_change_it():
    cfg = config.load("pipelayer")
    base = we.Ledger(cfg)
    r0 = ws.train(cfg, TrainingSettings(epochs=1), [base])
    assert r0.accuracy > 0.6                  # chance is 0.1
    acting = we.Ledger(cfg, [we.POLICIES["zero-row"], we.POLICIES["update-cell"]])
    r1 = ws.train(cfg, TrainingSettings(epochs=1), [acting])
    assert r1.accuracy == r0.accuracy
    for layer in ("conv1", "conv2", "fc"):
        assert np.array_equal(acting.stores["updates", layer].array.weights,
                              base.stores["updates", layer].array.weights)
    assert acting.summary("errors").tally.events.cell_writes < base.summary("errors").tally.offered_cells


def test_recorded_writes_are_the_training_values():
    cfg = config.load("pipelayer")
    seen = []

    class Recorder(we.Ledger):
        def write(self, phase, layer, new):
            seen.append((phase, layer, np.array(new)))
            return super().write(phase, layer, new)

    ws.train(cfg, TrainingSettings(epochs=1, batch=400), [Recorder(cfg)])
    acts = {ly: m for ph, ly, m in seen if ph == "activations"}
    errs = {ly: m for ph, ly, m in seen if ph == "errors"}
    assert acts["conv1"].shape == (400 * 64, 1) and errs["conv1"].shape == (400 * 64, 8)
    assert (acts["conv2"] >= 0).all() and (acts["fc"] >= 0).all()          # after ReLU
    assert (errs["conv1"] == 0).mean() > 0.5                               # ReLU' and pooling
    assert (errs["fc"] != 0).mean() > 0.9                                  # softmax error
    assert 3 * 3 == len([1 for ph, _, _ in seen if ph == "updates"])        # 3 steps x 3 layers


def test_observers_must_be_loss_free():
    cfg = config.load("pipelayer")
    with pytest.raises(ValueError, match="small-row-1pct"):
        ws.train(cfg, TrainingSettings(epochs=1), [we.Ledger(cfg), we.Ledger(cfg, [we.POLICIES["small-row-1pct"]])])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_training_reaches_ninety_percent(seed):
    cfg = config.load("pipelayer")
    r = ws.train(cfg, TrainingSettings(seed=seed), [we.Ledger(cfg)])
    assert r.accuracy >= 0.9, f"seed={seed}: {r.epoch_accuracy}"


def test_progress_wraps_every_training_step():
    seen = {}

    def progress(iterable, *, desc, total):
        seen.update(desc=desc, total=total)
        for step in iterable:
            seen["last"] = step
            yield step
    result = ws.train(config.load("pipelayer"), TrainingSettings(epochs=1),
                      [we.Ledger(config.load("pipelayer"))], progress=progress)
    assert seen == {"desc": "training, every write kept", "total": result.steps,
                    "last": result.steps - 1}
    assert len(result.epoch_accuracy) == 1
