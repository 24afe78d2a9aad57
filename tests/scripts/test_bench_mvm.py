"""``crosstrain bench mvm`` / ``bench sim``: real runs of the RTL, checked against the cycle model."""

import json

import pytest

from crosstrain.cli import main
from crosstrain.golden.cycles import mvm_schedule
from crosstrain.golden.periphery import periphery_params
from crosstrain.tb.tile_bench import SMALL_PERIPHERY, SMALL_TILE


def run_json(capsys, *args):
    assert main(["bench", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_bench_mvm_reaches_the_adc_bound_with_the_models_latency(capsys):
    d = run_json(capsys, "mvm", "--vectors", "2")
    for key in ("adc_utilization", "rtl_latency_cycles", "model_latency_cycles",
                "rtl_interval_cycles", "model_interval_cycles", "bit_exact"):
        assert key in d
    s = mvm_schedule(periphery_params().cfg)
    assert d["bit_exact"] is True
    assert d["adc_utilization"] >= 0.95
    assert d["rtl_latency_cycles"] == d["model_latency_cycles"] == s.latency
    assert d["rtl_interval_cycles"] == d["model_interval_cycles"] == s.interval


def test_bench_mvm_read_bound_parameters(capsys):
    """Two ADCs per array: conversions take 64 of every 128-cycle (100 ns) step, as the model says."""
    d = run_json(capsys, "mvm", "--vectors", "2", "--set", "converters.adcs_per_array=2")
    s = mvm_schedule(periphery_params({"converters.adcs_per_array": 2}).cfg)
    assert d["rtl_latency_cycles"] == s.latency and d["rtl_interval_cycles"] == s.interval
    assert d["model_adc_utilization"] == s.adc_utilization < 0.95
    assert d["whole_run_adc_utilization"] <= s.adc_utilization <= d["adc_utilization"]


@pytest.mark.cocotb
@pytest.mark.slow
def test_bench_sim_runs_every_simulator(capsys):
    """Both workloads on the three simulators (slow: it builds the tile for Verilator). With one
    round, an iteration of the tile's LOOP issues 3 words per unit, one a cycle, and each unit
    takes one MVM per interval: it lasts the longer of the two."""
    d = run_json(capsys, "sim", "--vectors", "1", "--tile-iterations", "5", "--tile-iterations-slow", "3",
                 "--tile-rounds", "1")
    assert set(d["simulators"]) == {"amaranth", "icarus", "verilator"}
    assert d["simulated_cycles"] > mvm_schedule(periphery_params().cfg).latency
    for name, r in d["simulators"].items():
        assert r["bit_exact"] is True, name
        assert r["cycles_per_s"] > 0 and r["run_s"] > 0 and r["build_s"] >= 0, name
        assert r["rtl_latency_cycles"] == mvm_schedule(periphery_params().cfg).latency, name
    tiles = d["tile"]["simulators"]
    assert set(tiles) == {"amaranth", "icarus", "verilator"}
    period = max(3 * SMALL_TILE.units, mvm_schedule(periphery_params(SMALL_PERIPHERY).cfg).interval)
    for name, t in tiles.items():
        assert t["bit_exact"] is True and t["cycles_match_model"] is True, name
        assert t["simulated_cycles"] == t["model_cycles"] and t["cycles_per_s"] > 0, name
    # two more iterations on Verilator: two more periods
    assert tiles["verilator"]["simulated_cycles"] - tiles["icarus"]["simulated_cycles"] == 2 * period


@pytest.mark.parametrize("args, needle", [
    (("mvm", "--vectors", "0"), "argument --vectors: '0' is out of range: an integer from 1 to 10,000"),
    (("mvm", "--param", "pipeline_cycles=1"), "tile.pipeline_cycles = 1 is too short"),
    (("mvm", "--set", "tile.pipeline_cycles=1"), "tile.pipeline_cycles = 1 is too short"),
    (("mvm", "--set", "periphery.out_width=4"), "out_width = 4 is too narrow"),
    (("mvm", "--param", "adc_bits=0"), "converters.adc_bits"),
    (("sim", "--tile-rounds", "22"), "argument --tile-rounds: '22' is out of range: an integer from 1 to 21"),
])
def test_bad_input_is_one_line(capsys, args, needle):
    assert main(["bench", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_missing_simulator_is_one_line(capsys, monkeypatch):
    monkeypatch.setattr("crosstrain.tools.verilator_bin_dir", lambda: None)
    assert main(["bench", "sim", "--vectors", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Verilator" in err[0] and "not installed" in err[0]
