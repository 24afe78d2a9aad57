"""The shift-and-add against crosstrain.golden.crossbar.sliced_mvm, fed the golden ADC codes (amaranth.sim)."""

import gc

import numpy as np
import pytest
from amaranth.sim import Simulator

from crosstrain.golden import crossbar, encoding
from crosstrain.golden.config import ConfigError
from crosstrain.golden.events import Events
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.shift_add import ShiftAdd, output_layout
from crosstrain.tb.mvm_bench import random_inputs, random_weights
from crosstrain.tb.words import Codec

SMALL = {"crossbar.rows": 8, "crossbar.cols": 8, "precision.input_bits": 6,
         "precision.weight_bits": 8, "precision.weight_frac_bits": 4, "converters.adc_bits": 4}


def golden_records(p, w, x, transposed):
    """The records of one vector, from golden column sums and ADC codes: per step, per line
    slot j, the codes of every array's ADCs."""
    levels, _, _ = encoding.slice_weights(w, p.cfg)
    lv = np.swapaxes(levels, 1, 2) if transposed else levels
    steps, _ = encoding.input_steps(x[None], p.cfg)
    lpa = p.lines_per_adc(transposed=transposed)
    coef, out = encoding.step_coefficients(p.cfg), []
    for k in range(p.input_steps):
        sign = k == p.input_steps - 1
        # the step's correction, -coef * 2**(weight_bits-1) * (sum of levels), minus 1 off the
        # sign step (record_layout's convention)
        bias = -int(coef[k]) * encoding.weight_offset(p.cfg) * int(steps[k, 0].sum()) - (not sign)
        shift = abs(int(coef[k])).bit_length() - 1                     # |coef| = 2**shift
        codes = crossbar.adc(crossbar.column_sums(lv, steps[k, 0]), p.cfg)        # (A, lines)
        padded = np.zeros((p.arrays, p.adcs_per_array * lpa), np.int64)
        padded[:, :codes.shape[1]] = codes
        per = padded.reshape(p.arrays, p.adcs_per_array, lpa)
        for j in range(lpa):
            out.append(dict(codes=per[:, :, j].tolist(), step=k, sign=sign, first=k == 0,
                            last=sign, empty=0, end=j == lpa - 1, bias=bias % (1 << p.out_width),
                            shift=shift, transposed=transposed, rotate=all_entries(p)))
    return out


def all_entries(p):
    """``rotate`` of a valid record: every accumulator entry (lines_per_adc per ADC) loads."""
    depth = max(p.lines_per_adc(), p.lines_per_adc(transposed=True))
    return (1 << (p.adcs_per_array * depth)) - 1


def run(p, records, n_out, *, gap_seed=0, hold=0):
    """Feed the records with random gaps (no final record while an output waits, as the
    sequencer guarantees); take each output ``hold`` cycles after it is valid. Returns the
    outputs, per output the cycles from its final record to ``o.valid``, and whether the
    payload held still while waiting."""
    dut = ShiftAdd(params=p)
    codec = Codec(output_layout(p))
    rng = np.random.default_rng(gap_seed)
    outputs, delays, steady = [], [], []

    async def bench(ctx):
        queue, final_at, held, cycle, last_y = list(records), [], 0, 0, None
        while len(outputs) < n_out:
            valid = ctx.get(dut.o.valid)
            ready = valid and held >= hold
            held = held + 1 if valid and not ready else 0
            blocked = valid and queue and queue[0]["last"] and queue[0]["end"]
            rec = queue.pop(0) if queue and not blocked and rng.random() < 0.8 else None
            if rec is not None:
                ctx.set(dut.i.payload, rec)
            else:
                ctx.set(dut.i.payload.rotate, 0)
            ctx.set(dut.i.valid, rec is not None)
            ctx.set(dut.o.ready, ready)
            *_, ov, y = await ctx.tick().sample(dut.o.valid, dut.o.payload.as_value())
            if rec is not None and rec["last"] and rec["end"]:
                final_at.append(cycle)
            if ov and len(delays) < len(final_at):
                delays.append(cycle - final_at[len(delays)])
            if ov:
                steady.append(last_y is None or y == last_y)
                last_y = None if ready else y
            if ov and ready:
                outputs.append(codec.unpack(y))
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return outputs, delays, all(steady)


@pytest.mark.parametrize("encoding_name", ["offset", "differential"])
@pytest.mark.parametrize("extra", [{}, {"converters.adcs_per_array": 3}, {"tile.pipeline_cycles": 3},
                                   {"tile.pipeline_cycles": 4}, {"tile.pipeline_cycles": 5},
                                   {"crossbar.rows": 5, "crossbar.cols": 8, "converters.adcs_per_array": 2},
                                   # accumulators and output lines over three GROUPs of load enables
                                   {"crossbar.rows": 24, "crossbar.cols": 40, "converters.adcs_per_array": 2,
                                    "tile.pipeline_cycles": 3}])
def test_matches_sliced_mvm(encoding_name, extra):
    p = periphery_params(SMALL | {"crossbar.encoding": encoding_name} | extra)
    rng = np.random.default_rng(len(extra))
    w = random_weights(p, rng)
    xs = list(random_inputs(p, rng, 2)) + list(random_inputs(p, rng, 2, transposed=True))
    modes = [False, False, True, True]
    xs.append(np.full(p.rows, -1))                       # every row driven: clips at 4 bits
    modes.append(False)
    w[:, :2] = (1 << (p.weight_bits - 1)) - 1 if encoding_name == "offset" else -(1 << (p.weight_bits - 1)) + 1
    records = [r for x, t in zip(xs, modes) for r in golden_records(p, w, x, t)]
    outputs, delays, _ = run(p, records, len(xs))
    levels, sign, shift = encoding.slice_weights(w, p.cfg)
    events = Events()
    for k, (x, t) in enumerate(zip(xs, modes)):
        want = crossbar.sliced_mvm(levels, sign, shift, x, p.cfg, transposed=t, events=events)
        n_out = p.rows if t else p.cols
        assert np.array_equal(outputs[k][:n_out], want), f"{encoding_name} {extra} vector {k}"
        assert not outputs[k][n_out:].any()
    assert events.adc_clipped > 0 or p.rows * p.cfg.cell_max <= p.cfg.adc_max_code   # it clipped
    assert delays == [p.pipeline_cycles - 1] * len(xs), delays


def test_output_waits_for_ready_and_holds_still():
    p = periphery_params(SMALL)
    rng = np.random.default_rng(5)
    w = random_weights(p, rng)
    xs = random_inputs(p, rng, 3)
    records = [r for x in xs for r in golden_records(p, w, x, False)]
    outputs, delays, steady = run(p, records, len(xs), hold=9)
    assert steady
    levels, sign, shift = encoding.slice_weights(w, p.cfg)
    want = crossbar.sliced_mvm(levels, sign, shift, xs, p.cfg)
    assert np.array_equal(np.array(outputs)[:, :p.cols], want)


def test_empty_record_gives_zero():
    p = periphery_params(SMALL)
    rng = np.random.default_rng(6)
    w = random_weights(p, rng)
    x = random_inputs(p, rng, 1)[0]
    lpa = p.lines_per_adc()
    garbage = rng.integers(1, 1 << p.adc_bits, (p.arrays, p.adcs_per_array)).tolist()
    empty = [dict(codes=garbage, step=0, sign=0, first=1, last=1, empty=1, end=j == lpa - 1,
                  bias=(1 << p.out_width) - 1, shift=0, transposed=0, rotate=all_entries(p))
             for j in range(lpa)]
    records = golden_records(p, w, x, False) + empty + golden_records(p, w, x, False)
    outputs, _, _ = run(p, records, 3)
    levels, sign, shift = encoding.slice_weights(w, p.cfg)
    want = crossbar.sliced_mvm(levels, sign, shift, x, p.cfg)
    assert np.array_equal(outputs[0][:p.cols], want) and np.array_equal(outputs[2][:p.cols], want)
    assert not outputs[1].any()


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_pipeline_too_short_is_one_line():
    with pytest.raises(ConfigError, match=r"tile.pipeline_cycles = 1 is too short"):
        ShiftAdd(params=periphery_params(SMALL | {"tile.pipeline_cycles": 1}))
    gc.collect()
