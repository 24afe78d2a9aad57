"""The CRS datapath against crosstrain.golden.opa.UpdateArrays.crs and golden.encoding.slice_weights."""

import numpy as np
import pytest

from crosstrain.golden.encoding import slice_weights
from crosstrain.golden.opa import UpdateArrays
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.crs_compose import CrsCompose, levels_layout, result_layout
from crosstrain.tb.scoreboard import Scoreboard
from crosstrain.tb.stream import StreamMonitor, StreamSource, random_pauses
from crosstrain.tb.testbench import run_amaranth
from crosstrain.tb.words import Codec

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
    """Feed the columns ``lanes`` at a time with random idle cycles (a flow source); returns
    the input and output transfers (outputs unpacked with the RTL's ``result_layout``)."""
    groups = [levels[:, k:k + lanes] for k in range(0, levels.shape[1], lanes)]

    async def body(tb):
        src = tb.add(StreamSource(tb, "i", codec=Codec(levels_layout(p, lanes)), ready=False,
                                  pause=random_pauses(np.random.default_rng(seed), 0.3)))
        mon = tb.add(StreamMonitor(tb, "o", codec=Codec(result_layout(p, lanes)), ready=False))
        src.send_all(groups)
        await mon.wait(len(groups), timeout=20 * len(groups) + p.pipeline_cycles)
        return src.transfers, mon.transfers

    return run_amaranth(CrsCompose(params=p, lanes=lanes), body)


def check(p, lanes, levels, sent, got, note):
    """Each group's weight, digits and copy levels are golden, ``pipeline_cycles`` after it
    entered."""
    w, digits, copy = golden_crs(p, levels)
    sb = Scoreboard("group", note=note)
    for n, t in enumerate(sent):
        cols = slice(n * lanes, (n + 1) * lanes)
        sb.expect({"weight": w[cols], "digits": digits[:, cols], "levels": copy[:, cols]},
                  cycle=t.cycle + p.pipeline_cycles)
    sb.check(got)


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

