"""The input streamer against crosstrain.golden.encoding.input_steps and crosstrain.golden.zeroskip tokens (amaranth.sim)."""

import gc

import numpy as np
import pytest

from crosstrain.golden import encoding
from crosstrain.golden.periphery import periphery_params
from crosstrain.golden.zeroskip import plan_steps
from crosstrain.rtl.input_streamer import GROUP, InputStreamer, lines, token_layout, vector_layout
from crosstrain.tb.mvm_bench import random_inputs
from crosstrain.tb.stream import StreamSink, StreamSource, random_pauses
from crosstrain.tb.testbench import run_amaranth
from crosstrain.tb.words import Codec

SMALL = {"crossbar.rows": 8, "crossbar.cols": 8, "precision.input_bits": 6,
         "precision.weight_bits": 8, "precision.weight_frac_bits": 4, "converters.adc_bits": 4}


def stream(p, xs, transposed, *, skip_zero, n_tokens, seed, stall=0.4):
    """Offer the vectors with random gaps, take tokens with random stalls (the sink checks that
    a stalled token holds); returns the tokens (dicts of ``token_layout``'s fields)."""

    async def body(tb):
        src = tb.add(StreamSource(tb, "i", codec=Codec(vector_layout(p)),
                                  pause=random_pauses(np.random.default_rng(seed), 0.2)))
        sink = tb.add(StreamSink(tb, "o", codec=Codec(token_layout(p)),
                                 pause=random_pauses(np.random.default_rng(seed + 1), stall)))
        src.send_all({"x": x, "transposed": int(t)} for x, t in zip(xs, transposed))
        await sink.wait(n_tokens, timeout=20 * n_tokens)
        return [t.value for t in sink.transfers]

    return run_amaranth(InputStreamer(params=p, skip_zero=skip_zero), body)


def levels_of(tok, n):
    return tok["levels"][:n]


@pytest.mark.parametrize("dac_bits", [1, 2, 3])
@pytest.mark.parametrize("seed", range(2))
def test_every_step_matches_input_steps(dac_bits, seed):
    p = periphery_params(SMALL | {"converters.dac_bits": dac_bits})
    rng = np.random.default_rng(seed)
    xs = random_inputs(p, rng, 5)
    xs[1] = 0
    xs[2, :3] = [-(1 << (p.input_bits - 1)), (1 << (p.input_bits - 1)) - 1, -1]
    steps, _ = encoding.input_steps(xs, p.cfg)                      # (S, N, R)
    s = p.input_steps
    tokens = stream(p, xs, [False] * len(xs), skip_zero=False, n_tokens=len(xs) * s, seed=seed)
    for n in range(len(xs)):
        for k in range(s):
            tok = tokens[n * s + k]
            note = f"seed={seed} dac_bits={dac_bits} vector {n} step {k}"
            assert np.array_equal(levels_of(tok, p.rows), steps[k, n]), note
            assert tuple(tok[f] for f in ("step", "sign", "first", "last", "empty")) == \
                (k, k == s - 1, k == 0, k == s - 1, 0), note


@pytest.mark.parametrize("dac_bits", [1, 2])
@pytest.mark.parametrize("seed", range(3))
def test_zero_skipping_issues_exactly_the_golden_tokens(dac_bits, seed):
    p = periphery_params(SMALL | {"converters.dac_bits": dac_bits})
    rng = np.random.default_rng(seed)
    xs = random_inputs(p, rng, 8) >> rng.integers(0, p.input_bits, (8, 1))   # few steps each
    xs[rng.random(xs.shape) < 0.6] = 0
    xs[[1, 4]] = 0                                                            # all-zero vectors
    xs[5] = np.maximum(xs[5], 0)                                              # no sign step
    want = plan_steps(xs, p.cfg).tokens()
    steps, _ = encoding.input_steps(xs, p.cfg)
    tokens = stream(p, xs, [False] * len(xs), skip_zero=True, n_tokens=len(want), seed=seed)
    got = np.array([[0, t["step"], t["first"], t["last"], t["empty"]] for t in tokens])
    got[:, 0] = np.cumsum(got[:, 2]) - 1                                      # vector index
    assert np.array_equal(got, want), f"seed={seed}"
    for tok, (n, k, *_ , empty) in zip(tokens, want):
        lv = levels_of(tok, p.rows)
        assert np.array_equal(lv, 0 * lv if empty else steps[k, n]), f"seed={seed} token {n},{k}"
        assert tok["sign"] == (k == p.input_steps - 1)
    assert (want[:, 4] == 1).sum() >= 2 and len(want) < len(xs) * p.input_steps


def test_transposed_drives_the_columns_only():
    p = periphery_params(SMALL | {"crossbar.rows": 8, "crossbar.cols": 5})
    rng = np.random.default_rng(0)
    x = rng.integers(-32, 32, 8)                    # garbage on the lines past the 5 columns
    tokens = stream(p, [x, x], [True, False], skip_zero=False, n_tokens=2 * p.input_steps, seed=0)
    steps_t, _ = encoding.input_steps(x[:5][None], p.cfg)
    steps_f, _ = encoding.input_steps(x[None], p.cfg)
    for k in range(p.input_steps):
        t, f = tokens[k], tokens[p.input_steps + k]
        assert t["transposed"] == 1 and f["transposed"] == 0
        assert np.array_equal(levels_of(t, 8), np.r_[steps_t[k, 0], [0, 0, 0]])
        assert np.array_equal(levels_of(f, 8), steps_f[k, 0])


def test_back_to_back_tokens_have_no_gap():
    """With the output always ready, a vector's first token follows the previous last token in
    the next cycle: the streamer never idles the crossbar between vectors."""
    p = periphery_params(SMALL)
    xs = random_inputs(p, np.random.default_rng(1), 3)

    async def body(tb):
        src = tb.add(StreamSource(tb, "i", codec=Codec(vector_layout(p))))
        sink = tb.add(StreamSink(tb, "o"))
        src.send_all({"x": x} for x in xs)
        await sink.wait(3 * p.input_steps, timeout=100)
        return src.transfers[0].cycle, [t.cycle for t in sink.transfers]

    first, tokens = run_amaranth(InputStreamer(params=p), body)
    assert tokens == list(range(first + 1, first + 1 + 3 * p.input_steps))


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_bad_parameters():
    with pytest.raises(TypeError, match="params must be a crosstrain.golden.periphery.PeripheryParams"):
        InputStreamer(params={"rows": 8})
    with pytest.raises(TypeError, match="skip_zero must be a bool, not 'yes'"):
        InputStreamer(params=periphery_params(SMALL), skip_zero="yes")
    gc.collect()


@pytest.mark.parametrize("skip_zero", [False, True])
def test_wide_vectors_load_every_line_group(skip_zero):
    """40 lines: five copies of the token's load enable (GROUP lines each) under random
    stalls, in both modes; every line of every token as input_steps has it."""
    p = periphery_params(SMALL | {"crossbar.rows": 40, "crossbar.cols": 36})
    assert lines(p) > 4 * GROUP
    rng = np.random.default_rng(3)
    xs = random_inputs(p, rng, 4)
    xs[2] = 0
    mode = [False, True, False, True]
    plan = [(n, k) for n, x in enumerate(xs)
            for k in (range(p.input_steps) if not skip_zero else
                      [int(t[1]) for t in plan_steps(x[None, :36 if mode[n] else 40], p.cfg).tokens()])]
    tokens = stream(p, xs, mode, skip_zero=skip_zero, n_tokens=len(plan), seed=3)
    for tok, (n, k) in zip(tokens, plan):
        driven = 36 if mode[n] else 40
        steps, _ = encoding.input_steps(xs[n][None, :driven], p.cfg)
        want = np.r_[steps[k, 0], np.zeros(40 - driven, np.int64)]
        assert np.array_equal(levels_of(tok, 40), want), f"vector {n} step {k} skip_zero={skip_zero}"
        assert tok["step"] == k and tok["transposed"] == mode[n]
