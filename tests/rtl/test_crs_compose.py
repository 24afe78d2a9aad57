"""The CRS datapath against crosstrain.golden.opa.UpdateArrays.crs and golden.encoding.slice_weights."""

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from crosstrain.golden.encoding import slice_weights
from crosstrain.golden.opa import UpdateArrays
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.crs_compose import CrsCompose
from crosstrain.tb.words import pack, unpack

SMALL = {"crossbar.rows": 4, "crossbar.cols": 4, "precision.weight_bits": 8,
         "precision.weight_frac_bits": 0, "precision.input_bits": 6, "precision.error_bits": 6,
         "precision.update_slices": 6}


def golden_crs(p, levels):
    """levels (M, N) -> (weight (N,), clean digits (M, N), copy levels (arrays, N))."""
    u = UpdateArrays(p.cfg, np.zeros((1, levels.shape[1]), np.int64))
    u.cells = levels[:, None, :].astype(np.float64)
    w = u.crs()
    return w[0], u.cells[:, 0, :].astype(np.int64), slice_weights(w, p.cfg)[0][:, 0, :].astype(np.int64)


def random_levels(p, rng, n):
    """Columns of three kinds: uniform levels (the weight mostly saturates), clean digits of a
    random weight nudged by a few levels (rounding both ways), slices at 0 or their top; the
    first two columns all 0 and all top."""
    tops = np.array([(1 << h) - 1 for h in p.slice_bits])[:, None]
    uniform = rng.integers(0, tops + 1, (p.update_slices, n))
    u = UpdateArrays(p.cfg, rng.integers(-(1 << (p.weight_bits - 1)), 1 << (p.weight_bits - 1), (1, n)))
    nudged = np.clip(u.cells[:, 0, :].astype(np.int64) + rng.integers(-3, 4, (p.update_slices, n)), 0, tops)
    limits = np.where(rng.random((p.update_slices, n)) < 0.5, 0, tops)
    return np.concatenate([np.zeros_like(tops), tops, uniform, nudged, limits], axis=1)


def simulate(p, lanes, levels, seed):
    """Feed the columns ``lanes`` at a time with random idle cycles; collect the outputs and
    the cycles from each input to its output."""
    dut = CrsCompose(params=p, lanes=lanes)
    rng = np.random.default_rng(seed)
    groups = [levels[:, k:k + lanes] for k in range(0, levels.shape[1], lanes)]
    sent, got = [], []

    async def driver(ctx):
        cycle = 0
        for g in groups:
            while rng.random() < 0.3:
                await ctx.tick()
                cycle += 1
            ctx.set(dut.i.payload.as_value(), pack(g, p.update_level_bits))
            ctx.set(dut.i.valid, 1)
            sent.append(cycle)
            await ctx.tick()
            cycle += 1
            ctx.set(dut.i.valid, 0)

    async def monitor(ctx):
        cycle = 0
        while len(got) < len(groups):
            valid, digits, lv, w = (ctx.get(dut.o.valid), ctx.get(dut.o.payload.digits.as_value()),
                                    ctx.get(dut.o.payload.levels.as_value()),
                                    ctx.get(dut.o.payload.weight.as_value()))
            if valid:
                got.append((cycle, digits, lv, w))
            await ctx.tick()
            cycle += 1

    top = Module()                         # with pipeline_cycles=0 the datapath has no clock
    top.submodules.dut = dut
    top.domains.sync = ClockDomain()
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_testbench(monitor)
    sim.run()
    return sent, got


def check(p, lanes, levels, sent, got, note):
    w, digits, copy = golden_crs(p, levels)
    wb = p.weight_bits
    for n, (cycle, d_word, l_word, w_word) in enumerate(got):
        cols = slice(n * lanes, (n + 1) * lanes)
        assert cycle - sent[n] == p.pipeline_cycles, f"group {n} latency ({note})"
        got_w = unpack(w_word, lanes, wb)
        got_w = np.where(got_w >= 1 << (wb - 1), got_w - (1 << wb), got_w)
        assert np.array_equal(got_w, w[cols]), f"group {n} weight {got_w} golden {w[cols]} ({note})"
        got_d = unpack(d_word, p.update_slices * lanes, p.update_level_bits).reshape(-1, lanes)
        assert np.array_equal(got_d, digits[:, cols]), f"group {n} digits ({note})"
        got_l = unpack(l_word, p.arrays * lanes, p.bits_per_cell).reshape(-1, lanes)
        assert np.array_equal(got_l, copy[:, cols]), f"group {n} copy levels ({note})"


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("extra", [
    {}, {"crossbar.encoding": "differential"}, {"tile.pipeline_cycles": 0},
    {"tile.pipeline_cycles": 4, "crossbar.encoding": "differential"},
    {"precision.update_slice_bits": (4, 4, 3, 3, 2, 5)}, {"precision.weight_bits": 12},
    {"device.bits_per_cell": 1, "precision.update_slices": 12, "precision.update_slice_bits": 3}])
def test_random_levels_match_golden(seed, extra):
    p = periphery_params(SMALL | extra)
    rng = np.random.default_rng(seed)
    levels = random_levels(p, rng, 12)[:, :36]
    sent, got = simulate(p, 3, levels, seed)
    w, _, _ = golden_crs(p, levels)
    lim = 1 << (p.weight_bits - 1)
    assert (w == lim - 1).any() and (w == -lim).any()          # the weight saturates both ways
    check(p, 3, levels, sent, got, f"seed={seed} {extra}")


@pytest.mark.parametrize("encoding", ["offset", "differential"])
def test_full_size_column_matches_golden(encoding):
    p = periphery_params({"crossbar.encoding": encoding, "precision.update_slice_bits": (6, 6, 6, 6, 5, 5, 5, 5) * 2})
    rng = np.random.default_rng(5)
    levels = random_levels(p, rng, 8)
    sent, got = simulate(p, 1, levels, 5)                       # panther: one ADC, one lane
    check(p, 1, levels, sent, got, f"panther {encoding}")

