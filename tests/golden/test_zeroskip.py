"""Zero skipping is exact and counts what it skips; layer costs against counts derived here."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosstrain.golden import config, crossbar, deconv, zeroskip
from crosstrain.golden.cycles import mvm_schedule
from crosstrain.golden.deconv import ConvTranspose
from crosstrain.golden.events import Events
from crosstrain.golden.zeroskip import (
    SkipCounts,
    crossbar_deconv,
    layer_costs,
    mvm_skipping,
    plan_steps,
    stream_cycles,
    useful_macs,
)
from crosstrain.rollup.deconv_nets import NETWORKS, layer_inputs


def small_cfg(input_bits=8, dac=1, enc="offset", rows=16, adc_bits=None):
    base = config.HardwareConfig().with_overrides({
        "device.bits_per_cell": 2, "precision.weight_bits": 8, "precision.weight_frac_bits": 0,
        "precision.input_bits": input_bits, "precision.error_bits": 8,
        "precision.update_slices": 20, "converters.dac_bits": dac, "crossbar.encoding": enc,
        "crossbar.rows": rows, "crossbar.cols": 16})
    return base.with_overrides({"converters.adc_bits": adc_bits or base.lossless_adc_bits,
                                "converters.adc_mode": "clip" if adc_bits else "lossless"})


def issued_steps_by_bits(x, input_bits, dac):
    """(N, S) bool: does any value of the vector have a non-zero bit in step k (plain integers)."""
    n = input_bits
    chunks = [(lo, min(lo + dac, n - 1)) for lo in range(0, n - 1, dac)] + [(n - 1, n)]
    out = np.zeros((len(x), len(chunks)), dtype=bool)
    for i, vec in enumerate(x):
        for k, (lo, hi) in enumerate(chunks):
            out[i, k] = any(((int(v) % (1 << n)) >> lo) & ((1 << (hi - lo)) - 1) for v in vec)
    return out


def sparse_inputs(rng, bits, shape, zero_fraction, nonnegative):
    lo = 0 if nonnegative else -(1 << (bits - 1))
    x = rng.integers(lo, 1 << (bits - 1), shape)
    x[rng.random(shape) < zero_fraction] = 0
    x[rng.random(shape[0]) < zero_fraction / 2] = 0            # whole zero vectors
    return x


cfgs = st.builds(small_cfg, input_bits=st.integers(3, 10), dac=st.integers(1, 2),
                 enc=st.sampled_from(["offset", "differential"]), rows=st.sampled_from([8, 16]),
                 adc_bits=st.sampled_from([None, 3, 5]))


@settings(max_examples=60, deadline=None)
@given(cfgs, st.integers(1, 40), st.integers(1, 9), st.floats(0, 0.95), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_skipping_is_exact_and_counts_only_issued_steps(cfg, rows, vectors, zero_fraction,
                                                        nonnegative, seed):
    """Against the full bit-sliced MVM, ADC clipping included; events scale with issued steps."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (rows, 5))
    x = sparse_inputs(rng, cfg.precision.input_bits, (vectors, rows), zero_fraction, nonnegative)
    full_ev, skip_ev, counts = Events(), Events(), SkipCounts()
    full = crossbar.sliced_mvm(*crossbar.encoding.slice_weights(w, cfg), x, cfg, events=full_ev)
    got = mvm_skipping(w, x, cfg, events=skip_ev, counts=counts)
    np.testing.assert_array_equal(got, full, err_msg=f"seed={seed}")
    tiles = [x[:, r0:r0 + cfg.crossbar.rows] for r0 in range(0, rows, cfg.crossbar.rows)]
    issued = sum(int(issued_steps_by_bits(t, cfg.precision.input_bits,
                                          cfg.converters.dac_bits).sum()) for t in tiles)
    assert counts.steps_issued == issued and counts.steps == vectors * len(tiles) * cfg.input_steps
    assert counts.zero_values == int((x == 0).sum())
    assert skip_ev.array_steps * counts.steps == full_ev.array_steps * issued
    assert skip_ev.adc_conversions * counts.steps == full_ev.adc_conversions * issued


def test_plan_of_a_hand_example():
    cfg = small_cfg(input_bits=4)                 # 3 magnitude steps + 1 sign step
    plan = plan_steps(np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 2]]), cfg)
    assert [plan.sequence(n).tolist() for n in range(3)] == [[], [0], [0, 1, 2, 3]]
    assert plan.coef.tolist() == [1, 2, 4, -8]
    assert plan.counts == SkipCounts(vectors=3, zero_vectors=1, values=9, zero_values=6, steps=12,
                                     steps_issued=5)
    # vector, step, first, last, empty: the zero vector keeps one empty token, in order
    assert plan.tokens().tolist() == [[0, 0, 1, 1, 1], [1, 0, 1, 1, 0], [2, 0, 1, 0, 0],
                                      [2, 1, 0, 0, 0], [2, 2, 0, 0, 0], [2, 3, 0, 1, 0]]


@settings(max_examples=40, deadline=None)
@given(cfgs, st.integers(0, 2**32 - 1))
def test_issued_steps_alone_rebuild_every_input(cfg, seed):
    rng = np.random.default_rng(seed)
    x = sparse_inputs(rng, cfg.precision.input_bits, (6, 7), 0.5, False)
    plan = plan_steps(x, cfg)
    steps, _ = crossbar.encoding.input_steps(x, cfg)
    for n in range(len(x)):
        k = plan.sequence(n)
        np.testing.assert_array_equal(plan.coef[k] @ steps[k, n].astype(np.int64), x[n])
    # the token stream: a shift-and-add that only sees tokens rebuilds every input
    rebuilt = np.zeros_like(x)
    acc = None
    for vec, step, first, last, empty in plan.tokens():
        acc = np.zeros(x.shape[1], np.int64) if first else acc
        if not empty:
            acc = acc + plan.coef[step] * steps[step, vec].astype(np.int64)
        if last:
            rebuilt[vec] = acc
    np.testing.assert_array_equal(rebuilt, x, err_msg=f"seed={seed}")
    tokens = plan.tokens()
    assert tokens[tokens[:, 3] == 1, 0].tolist() == list(range(len(x)))   # one output per vector, in order
    assert len(tokens) == plan.counts.steps_issued + plan.counts.zero_vectors


def test_stream_of_whole_mvms_is_the_schedule():
    for name in config.presets():
        cfg = config.load(name)
        if cfg.tile.accounting != "rtl":          # token streams are what the RTL runs
            continue
        s = mvm_schedule(cfg)
        assert stream_cycles(cfg, 0) == 0
        for n in range(1, 5):
            assert stream_cycles(cfg, n * s.steps) == s.total(n)
        assert stream_cycles(cfg, 7) - stream_cycles(cfg, 6) == s.step_interval


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 5),
       st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_crossbar_deconv_equals_the_golden_layer(k, s, p, hw, cin, seed):
    """Decomposed mapping on the crossbar model, with and without skipping (ADC clipping too)."""
    try:
        spec = ConvTranspose(in_channels=cin, out_channels=3, kernel=k, stride=s, padding=p,
                             height=hw, width=hw)
    except deconv.DeconvError:
        return
    rng = np.random.default_rng(seed)
    x = sparse_inputs(rng, 8, (2, cin, hw, hw), 0.5, True)
    w = rng.integers(-128, 128, (cin, 3, k, k))
    exact = small_cfg()
    np.testing.assert_array_equal(crossbar_deconv(spec, x, w, exact), deconv.polyphase(spec, x, w),
                                  err_msg=f"seed={seed}")
    clipped = small_cfg(adc_bits=4)
    np.testing.assert_array_equal(crossbar_deconv(spec, x, w, clipped),
                                  crossbar_deconv(spec, x, w, clipped, skip=False))


def test_costs_of_a_stride_2_layer():
    cfg = config.load("panther")
    # one 128-row block per phase group (4 taps x 32 channels)
    spec = ConvTranspose(in_channels=32, out_channels=32, kernel=4, stride=2, padding=1, height=6,
                         width=5)
    # every 15-bit magnitude step is non-zero in every window, the sign step never is
    x = np.full((2, 32, 6, 5), (1 << 15) - 1)
    c = layer_costs(spec, cfg, x)
    naive, dec, zs = c["naive"], c["decomposed"], c["zero_skip"]
    sched = mvm_schedule(cfg)
    # useful: (input pixel, tap) pairs landing in the output, counted here per axis
    pairs = [sum(0 <= i * 2 + t - 1 < n_out for i in range(n_in) for t in range(4))
             for n_in, n_out in ((6, 12), (5, 10))]
    useful = 2 * pairs[0] * pairs[1] * 32 * 32
    assert useful_macs(spec, 2) == naive.useful_macs == dec.useful_macs == useful
    assert naive.issued_macs == 2 * 12 * 10 * 16 * 32 * 32
    assert naive.cycles == sched.total(2 * 12 * 10)
    assert dec.issued_macs == useful and dec.utilization == 1.0
    # four phases of 6x5 windows, two sub-kernel taps per axis, run concurrently
    assert dec.mvms == 4 * 2 * 30 and dec.cycles == sched.total(2 * 30)
    assert dec.rows_allocated == dec.mvms * 4 * 32
    assert dec.rows_activated == useful // 32 and dec.occupancy == useful / 32 / dec.rows_allocated
    assert naive.arrays == dec.arrays == 4 * 8
    assert zs.rows_activated == dec.rows_activated and zs.mvms == dec.mvms
    assert zs.cycles == stream_cycles(cfg, 2 * 30 * (sched.steps - 1))
    assert zs.skipped.steps_skipped_fraction == 1 / sched.steps
    assert zs.events.array_steps * sched.steps == dec.events.array_steps * (sched.steps - 1)
    # all-zero windows issue no step, but each costs the unit one empty token slot
    assert layer_costs(spec, cfg, np.zeros_like(x))["zero_skip"].cycles == stream_cycles(cfg, 2 * 30)


def test_zero_skip_events_match_the_crossbar_run():
    cfg = small_cfg(rows=16)
    spec = ConvTranspose(in_channels=6, out_channels=4, kernel=3, stride=2, padding=1, height=4,
                         width=3)
    rng = np.random.default_rng(3)
    x = sparse_inputs(rng, 8, (2, 6, 4, 3), 0.6, True)
    w = rng.integers(-128, 128, (6, 4, 3, 3))
    ev, counts = Events(), SkipCounts()
    crossbar_deconv(spec, x, w, cfg, events=ev, counts=counts)
    zs = layer_costs(spec, cfg, x)["zero_skip"]
    assert zs.events == ev
    assert zs.skipped.zero_values == zs.skipped.values - zs.rows_activated


@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_inputs_chain_and_sparsity(name):
    cfg = config.load("panther")
    xs = layer_inputs(name, cfg, batch=2, seed=5)
    for layer, x in zip(NETWORKS[name], xs):
        assert x.shape == (2, layer.spec.in_channels, layer.spec.height, layer.spec.width)
        assert x.dtype == np.int64 and np.abs(x).max() < 1 << 15
        zeros = (x == 0).mean()
        assert (0.4 < zeros < 0.6) if layer.relu_input else zeros < 0.01
        assert (x.min() >= 0) == layer.relu_input


def enumerated_costs(spec, cfg, x):
    """The decomposed and zero-skipping costs phase group by phase group, from the read sequence
    and the materialized windows (the enumeration the closed form replaces)."""
    sched, cin, cout, apb = mvm_schedule(cfg), spec.in_channels, spec.out_channels, cfg.arrays_per_block
    batch = len(x)
    reads = np.bincount(deconv.read_sequence(spec)[:, 0], minlength=len(spec.phases))
    dec = dict(arrays=0, mvms=0, rows_allocated=0, rows_activated=0, cycles=0, events=Events())
    zs = dict(mvms=0, rows_allocated=0, rows_activated=0, cycles=0, events=Events(),
              skipped=SkipCounts())
    col_tiles = -(-cout // cfg.crossbar.cols)
    for ph in spec.phases:
        rows, n = ph.slots * cin, batch * ph.y.read_count * ph.x.read_count
        dec["arrays"] += -(-rows // cfg.crossbar.rows) * col_tiles * apb
        dec["mvms"] += n
        dec["rows_allocated"] += n * rows
        dec["rows_activated"] += batch * int(reads[ph.index]) * cin
        dec["cycles"] = max(dec["cycles"], sched.total(n))
        dec["events"] += crossbar.count_mvm_events(cfg, (rows, cout), n)
        if not n:
            continue
        vec = deconv.phase_inputs(spec, x, ph)[:, :ph.y.read_count, :ph.x.read_count].reshape(-1, rows)
        ones = deconv.phase_inputs(spec, np.ones_like(x), ph)[:, :ph.y.read_count, :ph.x.read_count]
        any_step = np.zeros((len(vec), cfg.input_steps), dtype=bool)
        for r0 in range(0, rows, cfg.crossbar.rows):
            plan = plan_steps(vec[:, r0:r0 + cfg.crossbar.rows], cfg)
            any_step |= plan.issued
            k = int(plan.issued.sum())
            zs["events"] += Events(array_steps=k * apb * col_tiles,
                                   dac_conversions=k * apb * col_tiles * plan.zero.shape[1],
                                   adc_conversions=k * apb * cout, shift_adds=k * apb * cout)
        run, nonzero, read = int(any_step.any(axis=1).sum()), int(np.count_nonzero(vec)), int(ones.sum())
        zs["skipped"] += SkipCounts(vectors=len(vec), zero_vectors=len(vec) - run, values=read,
                                    zero_values=read - nonzero, steps=any_step.size,
                                    steps_issued=int(any_step.sum()))
        zs["mvms"] += run
        zs["rows_allocated"] += run * rows
        zs["rows_activated"] += nonzero
        zs["cycles"] = max(zs["cycles"], stream_cycles(cfg, int(any_step.sum()) + len(vec) - run))
    return dec, zs


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 6), st.integers(0, 4), st.integers(0, 5), st.integers(1, 5),
       st.integers(1, 5), st.integers(1, 20), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_closed_form_costs_equal_the_enumeration(k, s, p, op, h, w, cin, chunk, seed):
    """layer_costs (phase classes, closed-form reads, chunked windows) against the group-by-group
    enumeration; ``chunk`` shrinks the planning chunk so that windows split anywhere."""
    try:
        spec = ConvTranspose(in_channels=cin, out_channels=3, kernel=k, stride=s, padding=p,
                             output_padding=op % s, height=h, width=w)
    except deconv.DeconvError:
        return
    rng = np.random.default_rng(seed)
    x = sparse_inputs(rng, 8, (2, cin, h, w), 0.5, False)
    cfg = small_cfg(rows=8)
    want_dec, want_zs = enumerated_costs(spec, cfg, x)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(zeroskip, "PLAN_CHUNK_VALUES", chunk)
        got = layer_costs(spec, cfg, x)
    for name, want in (("decomposed", want_dec), ("zero_skip", want_zs)):
        for key, value in want.items():
            assert getattr(got[name], key) == value, (name, key, f"seed={seed}")
    pairs = [sum(0 <= i * s + t - p < n_out for i in range(n_in) for t in range(k))
             for n_in, n_out in ((h, spec.out_height), (w, spec.out_width))]
    assert got["naive"].useful_macs == pairs[0] * pairs[1] * 2 * cin * 3


def test_costs_of_a_huge_layer_take_no_memory():
    """Value-independent costs are closed form: kernel = stride = 10**9 (10**18 phase groups of
    one geometry), and a 10**9-pixel input side."""
    cfg = config.load("panther")
    tracemalloc.start()
    try:
        big = layer_costs(ConvTranspose(in_channels=2, out_channels=3, kernel=10**9, stride=10**9,
                                        height=2, width=3), cfg)
        wide = layer_costs(ConvTranspose(in_channels=2, out_channels=3, kernel=4, stride=2,
                                         padding=1, height=10**9, width=5), cfg)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
    # kernel = stride: each of the 2e9 x 3e9 outputs is one MVM of one pixel's channels
    dec = big["decomposed"]
    assert dec.mvms == dec.rows_allocated // 2 == 6 * 10**18 and dec.utilization == 1.0
    # k4 s2 p1: per axis each input pixel meets 4 taps, minus the 2 cropped at the borders
    assert wide["naive"].useful_macs == (4 * 10**9 - 2) * (4 * 5 - 2) * 2 * 3


def test_zero_skip_cost_memory_is_bounded_by_the_chunk(monkeypatch):
    """The windows (16 x 16 taps x 2 channels at 47 x 47 positions: 1,131,008 values, 9 MB
    as int64) are planned a chunk at a time from a view of the input."""
    cfg = config.load("panther")
    spec = ConvTranspose(in_channels=2, out_channels=4, kernel=16, stride=1, height=32, width=32)
    x = np.random.default_rng(0).integers(-100, 100, (1, 2, 32, 32))
    full = layer_costs(spec, cfg, x)["zero_skip"]
    assert layer_costs(spec, cfg)["decomposed"].rows_allocated == 16 * 16 * 2 * 47 * 47
    monkeypatch.setattr(zeroskip, "PLAN_CHUNK_VALUES", 4096)
    tracemalloc.start()
    try:
        chunked = layer_costs(spec, cfg, x)["zero_skip"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
    assert chunked == full
