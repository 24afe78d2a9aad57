"""The crossbar unit (MVM + OPA + CRS behind one command stream and one port) with the block
model on its port: a training step against crosstrain.golden.crossbar / crosstrain.golden.opa, each operation's cycles
against crosstrain.golden.cycles (amaranth.sim at small sizes; cocotb on Icarus and Verilator at panther
size)."""

import gc

import numpy as np
import pytest

from crosstrain.golden import cycles
from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.crossbar_unit import CrossbarUnit
from crosstrain.tb.crossbar_unit_bench import check_step, simulate, training_step
from crosstrain.tb.runner import run_bench

SMALL = {"crossbar.rows": 6, "crossbar.cols": 8, "converters.adcs_per_array": 2,
         "precision.weight_bits": 8, "precision.weight_frac_bits": 0, "precision.input_bits": 6,
         "precision.error_bits": 6, "precision.update_slices": 6, "precision.update_slice_bits": 5,
         "crossbar.read_latency_ns": 3, "device.write_latency_ns": 2, "converters.adc_bits": 6}


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("extra", [
    {},                                                                   # ADC-bound MVM (conv 4 > read 3)
    {"crossbar.encoding": "differential", "device.write_latency_ns": 7},  # CRS writes outlast conversions
    {"converters.adcs_per_array": 4, "tile.pipeline_cycles": 4},          # read-bound MVM, a deeper pipeline
])
def test_training_step_matches_golden(seed, extra):
    p = periphery_params(SMALL | extra)
    step = training_step(p, np.random.default_rng(seed), fwd=2, opas=3)
    model, trace = simulate(p, step)
    check_step(p, step, model, trace, f"seed={seed} {extra}")


@pytest.mark.parametrize("seed", range(2))
def test_output_back_pressure(seed):
    """o.ready low half the time: every MVM output still leaves, in order and exact, and the
    OPAs and the CRS that wait for them still give the golden update."""
    p = periphery_params(SMALL)
    step = training_step(p, np.random.default_rng(seed), fwd=3, opas=2)
    model, trace = simulate(p, step, stall_seed=seed + 10)
    check_step(p, step, model, trace, f"seed={seed}, stalled output", timing=False)
    # the stalls did hold outputs back: some output left later than its unstalled latency
    late = [e - trace.accepted[k] for k, e in enumerate(trace.emitted[:3])]
    assert max(late) > cycles.mvm_schedule(p.cfg).latency, f"no output was held (seed={seed})"


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_impossible_params():
    with pytest.raises(ConfigError, match="pipeline_cycles = 1"):
        CrossbarUnit(params=periphery_params(SMALL | {"tile.pipeline_cycles": 1}))
    with pytest.raises(ConfigError, match="adc_bits = 4 is too narrow"):
        CrossbarUnit(params=periphery_params(SMALL | {"converters.adc_bits": 4}))
    gc.collect()            # half-built parts warn when collected: do it under the filter


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator, encoding", [
    ("icarus", "offset"), ("icarus", "differential"),
    pytest.param("verilator", "differential", marks=pytest.mark.slow)])   # a ~2-minute build
def test_cocotb_bench(simulator, encoding):
    # panther's widths (16-bit, 8 slices, 8-bit ADC, 16 update slices) on a 32 x 32 array: every
    # part is benched at 128 x 128 on its own (test_mvm_unit, test_opa_driver, test_crs_unit);
    # here the top's joining is what is checked, and a full-size top costs minutes per build
    p = periphery_params({"crossbar.encoding": encoding, "crossbar.rows": 32, "crossbar.cols": 32})
    tests, failed = run_bench(CrossbarUnit(params=p), design="crossbar_unit",
                              params={"periphery": p.as_dict(), "seed": 3, "fwd": 2, "opas": 2},
                              simulator=simulator, test_module="crosstrain.tb.crossbar_unit_bench")
    assert (tests, failed) == (1, 0)
