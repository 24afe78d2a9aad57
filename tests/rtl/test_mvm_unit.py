"""The MVM unit with the analog crossbar model: values against crosstrain.golden.crossbar.sliced_mvm, cycles
against crosstrain.golden.cycles.mvm_schedule and crosstrain.golden.zeroskip.stream_cycles (amaranth.sim at small
sizes; cocotb on Icarus and Verilator at the panther size, 128 x 128, both encodings)."""

import gc

import numpy as np
import pytest

from crosstrain.golden.config import ConfigError
from crosstrain.golden.cycles import mvm_schedule
from crosstrain.golden.periphery import periphery_params
from crosstrain.golden.zeroskip import plan_steps
from crosstrain.rtl.input_streamer import vector_layout
from crosstrain.rtl.mvm_unit import MvmUnit
from crosstrain.rtl.shift_add import output_layout
from crosstrain.tb.mvm_bench import (
    attach,
    check_run,
    clipping_case,
    golden_outputs,
    random_inputs,
    random_weights,
    simulate,
    tokens_per_vector,
)
from crosstrain.tb.runner import run_bench
from crosstrain.tb.stream import StreamSink, StreamSource, paused_for
from crosstrain.tb.testbench import run_amaranth
from crosstrain.tb.words import Codec

SMALL = {"crossbar.rows": 8, "crossbar.cols": 8, "precision.input_bits": 6,
         "precision.weight_bits": 8, "precision.weight_frac_bits": 4, "converters.adc_bits": 4,
         "crossbar.read_latency_ns": 3}


def mixed(p, rng, modes):
    return [random_inputs(p, rng, 1, transposed=t)[0] for t in modes]


@pytest.mark.parametrize("encoding", ["offset", "differential"])
@pytest.mark.parametrize("extra", [
    {},                                                                # read 3 < conv 8: ADC-bound
    {"converters.adcs_per_array": 2},                                  # read 3 < conv 4
    {"converters.adcs_per_array": 4, "crossbar.read_latency_ns": 5},   # read-bound: conv 2 of 5 cycles
    {"crossbar.rows": 6, "crossbar.cols": 8, "converters.adcs_per_array": 3},  # rows != cols, padded lanes
    {"tile.pipeline_cycles": 4, "converters.dac_bits": 2},
    {"tile.pipeline_cycles": 3},                                       # the shift-add term split once
])
def test_values_and_cycles_match_the_golden_models(encoding, extra, seed=0):
    p = periphery_params(SMALL | {"crossbar.encoding": encoding} | extra)
    rng = np.random.default_rng(seed)
    w = random_weights(p, rng)
    modes = [False, False, True, False, True, True]
    xs = mixed(p, rng, modes)
    run = simulate(p, w, xs, modes)
    check_run(p, w, xs, modes, run, note=f"seed={seed} {encoding} {extra}")


def test_adc_clipping_extremes_and_zeros():
    p = periphery_params(SMALL)
    wc, xc = clipping_case(p)
    lo, hi = -(1 << (p.input_bits - 1)), (1 << (p.input_bits - 1)) - 1
    xs = [xc[0], np.zeros(p.rows, np.int64), np.full(p.rows, lo), np.full(p.rows, hi)]
    check_run(p, wc, xs, [False] * 4, simulate(p, wc, xs), note="clipping")
    w = np.where(np.arange(p.cols) % 2, -(1 << (p.weight_bits - 1)), (1 << (p.weight_bits - 1)) - 1)
    w = np.broadcast_to(w, (p.rows, p.cols))
    check_run(p, w, xs, [False] * 4, simulate(p, w, xs), note="extreme weights")


@pytest.mark.parametrize("skip_zero", [False, True])
@pytest.mark.parametrize("seed", range(2))
def test_output_back_pressure(seed, skip_zero):
    """Outputs stalled for longer than a vector takes: nothing lost, nothing overwritten."""
    p = periphery_params(SMALL | {"converters.adcs_per_array": 2})
    rng = np.random.default_rng(seed)
    w = random_weights(p, rng)
    modes = [False, True, False, False, True, False]
    xs = mixed(p, rng, modes)
    if skip_zero:                                   # one-token vectors: outputs every step
        xs = [np.where(rng.random(len(x)) < 0.5, 1, 0) for x in xs]
    run = simulate(p, w, xs, modes, skip_zero=skip_zero, stall_seed=seed, stall=0.97)
    assert max(np.diff(run.emitted)) > p.input_steps * 4
    check_run(p, w, xs, modes, run, note=f"seed={seed}", timing=False)


def test_reset_mid_operation():
    p = periphery_params(SMALL)
    rng = np.random.default_rng(3)
    w = random_weights(p, rng)
    xs = list(random_inputs(p, rng, 4))
    interval = p.input_steps * 8
    run = simulate(p, w, xs, reset_at=interval + 5)
    assert run.first == 2, run.first                 # two vectors were in flight and are lost
    check_run(p, w, xs, [False] * 4, run, note="after reset")


def test_no_handshake_while_rst_is_high():
    """The reset rule of docs/rtl.md: an output waiting on ``o`` and a vector offered on ``i``
    (not taken: the unit is full) through a three-cycle reset; in those cycles ``i.ready`` and
    ``o.valid`` are low (the stream agents would also fail on a handshake); everything the unit
    held is lost, the offered vector is taken in the first cycle after the reset and its output
    is golden."""
    p = periphery_params(SMALL)
    rng = np.random.default_rng(5)
    w, xs = random_weights(p, rng), list(random_inputs(p, rng, 5))
    latency = mvm_schedule(p.cfg).latency

    async def body(tb):
        await attach(tb, p, w)
        ready, valid = tb.probe("i__ready", trace=True), tb.probe("o__valid", trace=True)
        start = tb.cycle
        src = tb.add(StreamSource(tb, "i", codec=Codec(vector_layout(p))))
        sink = tb.add(StreamSink(tb, "o", codec=Codec(output_layout(p)),
                                 pause=paused_for(10 * latency)))
        src.send_all({"x": x} for x in xs)
        await tb.until(lambda: valid.value and not ready.value and len(src.transfers) == 3,
                       timeout=5 * latency)
        at = tb.cycle
        await tb.reset(3)
        sink.set_pause(None)
        await sink.wait(1, timeout=3 * latency)
        tb.remove(src)
        return start, at, ready.values, valid.values, src.transfers, sink.transfers

    start, at, ready, valid, taken, out = run_amaranth(MvmUnit(params=p), body)
    window = slice(at - start, at - start + 3)
    assert valid[at - start - 1] == 1 and ready[at - start - 1] == 0      # waiting and full
    assert ready[window] == [0, 0, 0] and valid[window] == [0, 0, 0]
    assert taken[3].cycle == at + 3                                        # right after
    assert len(out) == 1 and out[0].cycle == at + 3 + latency
    assert np.array_equal(out[0].value[:p.cols], golden_outputs(p, w, xs[3:4], [False])[0])


@pytest.mark.parametrize("seed", range(3))
def test_zero_skipping_stream(seed):
    p = periphery_params(SMALL | {"converters.adcs_per_array": 2})
    rng = np.random.default_rng(seed)
    w = random_weights(p, rng)
    xs = random_inputs(p, rng, 8) >> rng.integers(1, p.input_bits, (8, 1))
    xs[rng.random(xs.shape) < 0.5] = 0
    xs[[2, 3, 7]] = 0                                        # all-zero vectors: one empty token
    xs[4] = np.abs(xs[4]) // 2                               # no sign step
    run = simulate(p, w, list(xs), skip_zero=True)
    check_run(p, w, list(xs), [False] * len(xs), run, note=f"seed={seed}", skip_zero=True)
    slots = tokens_per_vector(p, xs, skip_zero=True)
    assert sum(slots) == len(plan_steps(xs, p.cfg).tokens()) < len(xs) * p.input_steps


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_bad_parameters_are_one_line_before_elaboration():
    with pytest.raises(ConfigError, match="tile.pipeline_cycles = 0 is too short"):
        MvmUnit(params=periphery_params({"tile.pipeline_cycles": 0}))
    with pytest.raises(TypeError, match="params must be a crosstrain.golden.periphery.PeripheryParams"):
        MvmUnit(params=None)
    with pytest.raises(TypeError, match="skip_zero must be a bool"):
        MvmUnit(params=periphery_params(), skip_zero=1)
    gc.collect()


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator, encoding", [
    ("icarus", "offset"), ("icarus", "differential"), ("verilator", "offset"),
    # each encoding is a separate multi-minute Verilator build; Icarus runs both by default
    pytest.param("verilator", "differential", marks=pytest.mark.slow)])
def test_cocotb_bench_at_panther_size(simulator, encoding):
    p = periphery_params({"crossbar.encoding": encoding})
    assert (p.rows, p.cols, p.weight_bits, p.weight_slices, p.adc_bits) == (128, 128, 16, 8, 8)
    tests, failed = run_bench(MvmUnit(params=p), design="mvm_unit",
                              params={"params": p.as_dict(), "seed": 1}, simulator=simulator,
                              test_module="crosstrain.tb.mvm_bench")
    assert (tests, failed) == (4, 0)
