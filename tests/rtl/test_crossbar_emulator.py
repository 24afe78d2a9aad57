"""The crossbar emulator behind the unchanged crossbar unit: a training step (MVMs through
clipping ADCs, saturating OPAs, CRS row writes) bit for bit against crosstrain.golden, every
operation's cycles against crosstrain.golden.cycles with the stalls apart (amaranth.sim at small sizes,
cocotb on Icarus and Verilator)."""

import gc

import numpy as np
import pytest

from crosstrain.golden import crossbar, encoding
from crosstrain.golden.config import ConfigError
from crosstrain.golden.events import Events
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.crossbar_emulator import CrossbarEmulator
from crosstrain.rtl.crossbar_unit import Op
from crosstrain.rtl.emulated_unit import EmulatedCrossbarUnit
from crosstrain.tb.crossbar_emulator_bench import (check_memories, check_run, emulator_step, expected_stalls,
                                                    simulate)
from crosstrain.tb.runner import run_bench

# 2-bit DACs on 6 rows of 2-bit cells reach column sums of 54, past the 5-bit ADC's 31: clipping
SMALL = {"crossbar.rows": 6, "crossbar.cols": 8, "converters.adcs_per_array": 2,
         "converters.dac_bits": 2, "converters.adc_bits": 5,
         "precision.weight_bits": 8, "precision.weight_frac_bits": 0, "precision.input_bits": 6,
         "precision.error_bits": 6, "precision.update_slices": 6, "precision.update_slice_bits": 5,
         "crossbar.read_latency_ns": 3, "device.write_latency_ns": 2}


def golden_clips(p, step) -> int:
    """Conversions that clip in the golden MVMs of ``step``."""
    events = Events()
    crs = step.ops.index(Op.CRS)
    for k, (op, x) in enumerate(zip(step.ops, step.xs)):
        if op in (Op.MVM, Op.MVM_T):
            w = step.w0 if k < crs else step.w1
            crossbar.sliced_mvm(*encoding.slice_weights(w, p.cfg), x, p.cfg,
                                transposed=op == Op.MVM_T, events=events)
    return events.adc_clipped


def saturations(p, step) -> int:
    """Cells the golden OPAs of ``step`` saturate (replayed on a fresh copy)."""
    from crosstrain.golden.opa import UpdateArrays

    u = UpdateArrays(p.cfg, step.w0)
    ops = [k for k, op in enumerate(step.ops) if op == Op.OPA]
    u.opa(np.array([step.xs[k] for k in ops]), np.array([step.ds[k] for k in ops]))
    return u.events.opa_saturated


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("extra", [
    {"precision.update_slice_bits": 3},                                 # 1 bit of headroom, no stall
    {"tile.opa_phase_ns": 2, "crossbar.encoding": "differential"},      # 3-cycle phases: stalls
    {"converters.adcs_per_array": 4, "tile.opa_phase_ns": 4, "precision.update_slice_bits": 6,
     "converters.adc_bits": 6},
    {"crossbar.rows": 16, "crossbar.cols": 16, "tile.opa_phase_ns": 4},  # forward-copy writes stall
])
def test_training_step_matches_golden(seed, extra):
    p = periphery_params(SMALL | extra)
    step = emulator_step(p, np.random.default_rng(seed), fwd=2, opas=3)
    run = simulate(p, step)
    note = f"seed={seed} {extra}"
    try:
        check_run(p, step, run, note)
        check_memories(p, step, run.memories, note)
    except AssertionError:
        print(f"failing seed {seed}, parameters {extra}")
        raise


def test_cases_exercise_clipping_saturation_and_stalls():
    """The random cases above do clip ADC codes, saturate cells and stall (else they would not
    test it)."""
    def steps(extra):
        p = periphery_params(SMALL | extra)
        return p, [emulator_step(p, np.random.default_rng(seed), fwd=2, opas=3) for seed in range(3)]

    p, cases = steps({})
    assert sum(golden_clips(p, s) for s in cases) > 0
    p, cases = steps({"precision.update_slice_bits": 3})
    assert sum(saturations(p, s) for s in cases) > 0
    for extra in ({"tile.opa_phase_ns": 2, "crossbar.encoding": "differential"},
                  {"crossbar.rows": 16, "crossbar.cols": 16, "tile.opa_phase_ns": 4}):
        p, cases = steps(extra)
        assert all(expected_stalls(p, s) > 0 for s in cases), extra


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_bad_weights():
    p = periphery_params(SMALL)
    with pytest.raises(ConfigError, match=r"weights of shape \(2, 2\) do not fit the 6 x 8 array"):
        CrossbarEmulator(params=p, weights=np.zeros((2, 2), int))
    with pytest.raises(ConfigError, match="weight value 128 does not fit in 8 signed bits"):
        CrossbarEmulator(params=p, weights=np.full((6, 8), 128))
    gc.collect()            # the refused emulators warn when collected: do it under the filter


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator, extra", [
    ("icarus", {"tile.opa_phase_ns": 2}),
    ("verilator", {"crossbar.encoding": "differential", "converters.adcs_per_array": 1}),
])
def test_cocotb_bench(simulator, extra):
    """The same step as the amaranth.sim cases in the exported Verilog (outputs, cycles and stalls;
    the memories are checked in amaranth.sim only): the emulated arrays start from the step's
    weights, drawn from the bench's seed."""
    p = periphery_params(SMALL | extra)
    seed = 5
    step = emulator_step(p, np.random.default_rng(seed), fwd=2, opas=2)
    tests, failed = run_bench(EmulatedCrossbarUnit(params=p, weights=step.w0), design="emulated_unit",
                              params={"periphery": p.as_dict(), "seed": seed, "fwd": 2, "opas": 2},
                              simulator=simulator, test_module="crosstrain.tb.crossbar_emulator_bench")
    assert (tests, failed) == (1, 0)
