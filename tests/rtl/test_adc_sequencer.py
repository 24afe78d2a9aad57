"""The ADC sequencer's schedule against crosstrain.golden.cycles.mvm_schedule (amaranth.sim)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from crosstrain.golden import encoding
from crosstrain.golden.cycles import mvm_schedule
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.adc_sequencer import AdcSequencer, rotate_width

SMALL = {"crossbar.rows": 8, "crossbar.cols": 8, "precision.input_bits": 6,
         "precision.weight_bits": 8, "precision.weight_frac_bits": 4, "converters.adc_bits": 4}


def tokens_for(p, n_vectors, rng, *, transposed=(), empty=()):
    """Step tokens of ``n_vectors`` vectors (random levels); vector ``v`` in ``empty`` is one
    empty token."""
    out = []
    for v in range(n_vectors):
        steps = 1 if v in empty else p.input_steps
        for k in range(steps):
            lv = 0 if v in empty else int(rng.integers(0, 1 << max(p.rows, p.cols)))
            out.append(dict(levels=lv, step=k, sign=k == p.input_steps - 1, first=k == 0,
                            last=k == steps - 1, empty=v in empty, level_sum=bin(lv).count("1"),
                            transposed=v in transposed, vector=v))
    return out


def want_bias(p, tok):
    """The record's ``bias``: ``-coef * 2**(weight_bits-1) * level_sum`` minus 1 off the sign
    step, modulo ``2**out_width``."""
    corr = -int(encoding.step_coefficients(p.cfg)[tok["step"]]) * encoding.weight_offset(p.cfg) * tok["level_sum"]
    return (corr - (not tok["sign"])) % (1 << p.out_width)


def run(p, tokens, *, emit_delay=0):
    """Offer tokens back to back; pulse ``emitted`` ``emit_delay`` cycles after each vector's
    final record. The array answers a conversion of line j with code j + 1 on every ADC.
    Returns a per-cycle trace."""
    dut = AdcSequencer(params=p)
    fields = ("step", "sign", "first", "last", "empty", "transposed")
    trace = dict(take=[], sample=[], drive=[], convert=[], line=[], record=[], idle_rotate=[])
    n_codes = p.arrays * p.adcs_per_array
    cycles = sum(mvm_schedule(p.cfg, transposed=t["transposed"]).step_interval for t in tokens)
    cycles += 3 * (p.read_cycles + max(p.rows, p.cols) + emit_delay)

    async def bench(ctx):
        k, emit_at, answer = 0, [], 0
        for cycle in range(cycles):
            if k < len(tokens):
                ctx.set(dut.i.payload, {f: tokens[k][f] for f in fields} | {"levels": [
                    (tokens[k]["levels"] >> b) & 1 for b in range(max(p.rows, p.cols))]})
            ctx.set(dut.i.valid, k < len(tokens))
            ctx.set(dut.emitted, cycle in emit_at)
            ctx.set(dut.xbar.codes.as_value(), answer)
            *_, take, sample, drive, conv, line, ov, rec = await ctx.tick().sample(
                dut.i.ready, dut.xbar.sample, dut.xbar.drive, dut.xbar.convert, dut.xbar.line,
                dut.o.valid, dut.o.payload)
            trace["take"].append(take and k < len(tokens))        # a transfer
            trace["sample"].append(sample)
            trace["drive"].append(drive)
            trace["convert"].append(conv)
            trace["line"].append(line)
            if not ov:
                trace["idle_rotate"].append(rec.rotate)
            if ov:
                trace["record"].append((cycle, {f: getattr(rec, f) for f in fields + ("end", "bias", "shift", "rotate")},
                                        [rec.codes[k][a] for k in range(p.arrays)
                                         for a in range(p.adcs_per_array)]))
                if rec.last and rec.end:
                    emit_at.append(cycle + 1 + emit_delay)
            answer = sum((line + 1) << (c * p.adc_bits) for c in range(n_codes)) if conv else 0
            k += take and k < len(tokens)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return {key: np.array(v) if key != "record" else v for key, v in trace.items()}


@pytest.mark.parametrize("extra", [
    {},                                                                # read 3 < conv 8 (one ADC)
    {"converters.adcs_per_array": 4, "crossbar.read_latency_ns": 5},   # read 5 > conv 2: ADCs idle 3 of 5
    {"converters.adcs_per_array": 2, "crossbar.read_latency_ns": 4},   # read = conv = 4
    {"crossbar.rows": 6, "crossbar.cols": 8, "converters.adcs_per_array": 2,
     "crossbar.read_latency_ns": 3},                                   # conv 4 / 3 per mode
    {"crossbar.rows": 32, "crossbar.cols": 32, "converters.adcs_per_array": 8},  # 2 sum stages
    {"crossbar.rows": 32, "crossbar.cols": 32, "converters.adcs_per_array": 8,
     "crossbar.read_latency_ns": 2},                                   # 1 sum stage: read 2
])
def test_schedule_matches_the_cycle_model(extra):
    p = periphery_params(SMALL | {"crossbar.read_latency_ns": 3} | extra)
    rng = np.random.default_rng(0)
    toks = tokens_for(p, 3, rng, transposed={1}, empty={2})
    tr = run(p, toks)
    starts, t = [], 0
    for tok in toks:
        starts.append(t)
        t += mvm_schedule(p.cfg, transposed=tok["transposed"]).step_interval
    # token k is taken at the end of its step, the next step starts the cycle after
    assert list(np.flatnonzero(tr["take"])) == [s - 1 for s in starts[1:]] + [t - 1], extra
    read = p.read_cycles
    assert list(np.flatnonzero(tr["sample"])) == [s + read - 1 for s, tok in zip(starts, toks)
                                                  if not tok["empty"]], extra
    for s, tok in zip(starts, toks):
        if not tok["empty"]:
            assert tr["drive"][s + read - 1] == tok["levels"], extra
    # conversions: conv_cycles consecutive cycles after each sample, lines in order
    want_conv, want_line = [], []
    for s, tok in zip(starts, toks):
        n = mvm_schedule(p.cfg, transposed=tok["transposed"]).conv_cycles
        if not tok["empty"]:
            want_conv += [s + read + j for j in range(n)]
            want_line += list(range(n))
    got = np.flatnonzero(tr["convert"])
    assert list(got) == want_conv and list(tr["line"][got]) == want_line, extra
    # records: one per conversion slot (empty steps too), the cycle after, with the bookkeeping
    recs = iter(tr["record"])
    for s, tok in zip(starts, toks):
        n = mvm_schedule(p.cfg, transposed=tok["transposed"]).conv_cycles
        for j in range(n):
            cycle, book, codes = next(recs)
            assert cycle == s + read + j + 1, (extra, tok["vector"], tok["step"], j)
            assert book["end"] == (j == n - 1)
            assert all(book[f] == tok[f] for f in book if f not in ("end", "bias", "shift", "rotate")), (extra, tok["vector"])
            assert book["bias"] == want_bias(p, tok), (extra, tok["vector"], tok["step"])
            assert 1 << book["shift"] == abs(encoding.step_coefficients(p.cfg)[tok["step"]])
            assert book["rotate"] == (1 << rotate_width(p)) - 1      # a copy of valid per entry
            if not tok["empty"]:
                assert codes == [j + 1] * len(codes)
    assert next(recs, None) is None
    assert not tr["idle_rotate"].any()                          # and low with valid


def test_steady_state_adc_utilization_is_the_models():
    for extra in ({}, {"converters.adcs_per_array": 4, "crossbar.read_latency_ns": 5}):
        p = periphery_params(SMALL | {"crossbar.read_latency_ns": 3} | extra)
        s = mvm_schedule(p.cfg)
        tr = run(p, tokens_for(p, 4, np.random.default_rng(1)))
        busy = np.flatnonzero(tr["convert"])
        # over whole step intervals from the first conversion: conv / step_interval
        window = tr["convert"][busy[0]:busy[0] + (len(busy) // s.conv_cycles - 1) * s.step_interval]
        assert window.mean() == s.adc_utilization, extra


def test_a_waiting_output_holds_the_final_conversion_and_the_next_sample():
    p = periphery_params(SMALL | {"crossbar.read_latency_ns": 3, "converters.adcs_per_array": 2})
    s = mvm_schedule(p.cfg)
    toks = tokens_for(p, 3, np.random.default_rng(2))
    delay = 30                                   # longer than a vector's interval
    tr = run(p, toks, emit_delay=delay)
    finals = [c for c, book, _ in tr["record"] if book["last"] and book["end"]]
    unhindered = [s.latency - p.pipeline_cycles + v * s.interval for v in range(3)]
    assert finals[0] == unhindered[0]
    # vector 1's final conversion waits until vector 0's output has been emitted
    assert finals[1] == max(unhindered[1], finals[0] + delay + 3)
    assert finals[1] > unhindered[1]
    # nothing is lost: every vector still gets all its records in order
    per_vector = [sum(1 for _, b, _ in tr["record"] if b["step"] == k) for k in range(p.input_steps)]
    assert per_vector == [3 * s.conv_cycles] * p.input_steps
