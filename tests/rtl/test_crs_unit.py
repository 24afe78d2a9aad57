"""The CRS unit against crosstrain.golden.opa (weights, clean digits) and crosstrain.golden.cycles.crs_cycles
(amaranth.sim with the crosstrain.tb.update_array model on its port; cocotb benches in both simulators)."""

import copy
import gc

import numpy as np
import pytest

from crosstrain.golden import cycles
from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.crs_unit import CrsUnit
from crosstrain.tb.crs_bench import simulate, updated_model
from crosstrain.tb.runner import run_bench
from crosstrain.tb.update_array import check_crs

SMALL = {"crossbar.rows": 4, "crossbar.cols": 6, "converters.adcs_per_array": 2,
         "precision.weight_bits": 8, "precision.weight_frac_bits": 0, "precision.input_bits": 6,
         "precision.error_bits": 6, "precision.update_slices": 6, "crossbar.read_latency_ns": 3,
         "device.write_latency_ns": 2, "precision.update_slice_bits": 5}


def check(p, model, golden, out, note):
    check_crs(p, model, golden, out["busy"], out["moved"], note)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("extra", [
    {},                                                   # conversions (3) longer than a write (2)
    {"device.write_latency_ns": 7, "crossbar.encoding": "differential"},  # writes longer than conversions
    {"tile.pipeline_cycles": 5},                          # the pipeline longer than a read drive
    {"tile.pipeline_cycles": 1, "crossbar.cols": 5},      # only the ADC register; a gap in the last ADC
    {"converters.adcs_per_array": 1, "precision.update_slice_bits": (4, 4, 3, 3, 2, 5), "crossbar.rows": 1},
    {"converters.adcs_per_array": 6, "precision.weight_bits": 12},
])
def test_crs_matches_golden(seed, extra):
    p = periphery_params(SMALL | extra)
    model, golden = updated_model(p, np.random.default_rng(seed), 6)
    out = simulate(p, model)
    check(p, model, golden, out, f"seed={seed} {extra}")


def test_saturated_slices_and_weights():
    p = periphery_params(SMALL | {"precision.update_slice_bits": 3})
    rng = np.random.default_rng(9)
    model, golden = updated_model(p, rng, n_opa=20)
    assert golden.events.opa_saturated > 0
    lim = 1 << (p.weight_bits - 1)
    w = copy.deepcopy(golden).crs()
    assert (w == lim - 1).any() or (w == -lim).any()
    out = simulate(p, model)
    check(p, model, golden, out, "saturated")


@pytest.mark.slow
def test_full_size_crs_matches_golden():
    p = periphery_params({"converters.adcs_per_array": 16, "crossbar.read_latency_ns": 4,
                          "device.write_latency_ns": 4, "crossbar.rows": 8})
    model, golden = updated_model(p, np.random.default_rng(4), n_opa=3)
    out = simulate(p, model)
    check(p, model, golden, out, "panther widths, 8 rows")


@pytest.mark.parametrize("seed", range(2))
def test_reset_mid_crs_then_a_whole_crs(seed):
    """The cocotb bench's reset case at a small size: a reset part-way leaves the unit idle,
    and the next CRS is whole and golden."""
    p = periphery_params(SMALL)
    rng = np.random.default_rng(seed)
    model, golden = updated_model(p, rng, 6)
    out = simulate(p, model, reset_after=int(rng.integers(1, cycles.crs_cycles(p.cfg))))
    check(p, model, golden, out, f"after reset, seed={seed}")


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_impossible_params():
    with pytest.raises(ConfigError, match="converters.adc_bits = 5 is too narrow"):
        CrsUnit(params=periphery_params(SMALL | {"converters.adc_bits": 5, "precision.update_slice_bits": 6}))
    with pytest.raises(ConfigError, match="tile.pipeline_cycles = 0 is too short"):
        CrsUnit(params=periphery_params(SMALL | {"tile.pipeline_cycles": 0}))
    gc.collect()            # the half-built component warns when collected: do it under the filter


# Panther's datapath (all 128 columns, 16 update slices) at 8 rows by default: every row adds the
# same ~257 cycles (one row read, its 128 conversions, one row write), so the rows resolved are the
# run time and not the coverage. Each encoding is a separate Verilator model of several minutes'
# build on two cores: by default Icarus runs both encodings; the `slow` runs (full size: Verilator
# all 128 rows, Icarus 32 at its ~900 cycles/s) take every combination.
DEFAULT_ROWS = 8
FULL_ROWS = {"icarus": 32, "verilator": 128}
BENCH_CASES = [("icarus", "offset", DEFAULT_ROWS), ("icarus", "differential", DEFAULT_ROWS)] + [
    pytest.param(sim, enc, FULL_ROWS[sim], marks=pytest.mark.slow)
    for sim in ("icarus", "verilator") for enc in ("offset", "differential")]


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator, encoding, rows", BENCH_CASES)
def test_cocotb_bench(simulator, encoding, rows):
    p = periphery_params({"crossbar.encoding": encoding, "crossbar.rows": rows})
    tests, failed = run_bench(CrsUnit(params=p), design="crs_unit",
                              params={"periphery": p.as_dict(), "seed": 2, "opas": 3},
                              simulator=simulator, test_module="crosstrain.tb.crs_bench")
    assert (tests, failed) == (2, 0)
