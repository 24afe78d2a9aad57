"""The golden MVM against integer products and against a step-by-step reference written here."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosstrain.golden import config, crossbar, encoding
from crosstrain.golden.events import Events


def make_cfg(bpc=2, slices=4, input_bits=8, dac=1, enc="offset", rows=16, cols=16, adc_bits=None,
             lsb=1.0, adcs=1):
    base = config.HardwareConfig().with_overrides({
        "device.bits_per_cell": bpc, "precision.weight_bits": bpc * slices,
        "precision.weight_frac_bits": 0, "precision.input_bits": input_bits,
        "precision.error_bits": 8, "precision.update_slices": 40 // bpc,
        "converters.dac_bits": dac, "crossbar.encoding": enc, "crossbar.rows": rows,
        "crossbar.cols": cols, "converters.adcs_per_array": adcs})
    lossless = base.lossless_adc_bits
    return base.with_overrides({"converters.adc_bits": adc_bits or lossless,
                                "converters.adc_lsb": lsb,
                                "converters.adc_mode": "lossless" if adc_bits is None else "clip"})


def reference_mvm(w, x, cfg):
    """Plain per-step, per-slice integer evaluation, independent of crosstrain.golden.encoding.

    An integer ``adc_lsb`` rounds each column sum to the nearest multiple (ties to even, as
    ``rint``) in integers: ``sum = q * lsb + rem``."""
    b, wb, n, d = (cfg.device.bits_per_cell, cfg.precision.weight_bits, cfg.precision.input_bits,
                   cfg.converters.dac_bits)
    top = (1 << cfg.converters.adc_bits) - 1
    lsb = int(cfg.converters.adc_lsb)
    assert lsb == cfg.converters.adc_lsb
    if cfg.crossbar.encoding == "offset":
        stored = [(w + (1 << (wb - 1)), 1)]
    else:
        stored = [(np.maximum(w, 0), 1), (np.maximum(-w, 0), -1)]
    ux = x & ((1 << n) - 1)
    chunks, k = [], 0
    while k < n - 1:
        width = min(d, n - 1 - k)
        chunks.append((((ux >> k) & ((1 << width) - 1)), 1 << k))
        k += width
    chunks.append(((ux >> (n - 1)) & 1, -(1 << (n - 1))))
    y = np.zeros((x.shape[0], w.shape[1]), dtype=np.int64)
    rows = cfg.crossbar.rows
    for drive, step_w in chunks:
        for u, sgn in stored:
            for sl in range(wb // b):
                digit = (u >> (sl * b)) & ((1 << b) - 1)
                for r0 in range(0, w.shape[0], rows):
                    sums = drive[:, r0:r0 + rows] @ digit[r0:r0 + rows]
                    q, rem = np.divmod(sums, lsb)
                    codes = q + ((2 * rem > lsb) | ((2 * rem == lsb) & (q % 2 == 1)))
                    y += step_w * sgn * (np.minimum(codes, top) << (sl * b))
    y *= lsb
    if cfg.crossbar.encoding == "offset":
        y -= (1 << (wb - 1)) * x.sum(axis=1, keepdims=True)
    return y


shapes = st.tuples(st.integers(1, 40), st.integers(1, 24), st.integers(1, 5))
cfgs = st.fixed_dictionaries(dict(
    bpc=st.sampled_from([1, 2, 4]), slices=st.integers(1, 4), input_bits=st.integers(2, 12),
    dac=st.integers(1, 3), enc=st.sampled_from(["offset", "differential"]),
    rows=st.sampled_from([8, 16, 32]), cols=st.sampled_from([8, 16]))).filter(
    lambda k: k["dac"] < k["input_bits"]).map(lambda k: make_cfg(**k))


def rand(rng, bits, shape):
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), shape)


@settings(max_examples=80, deadline=None)
@given(cfgs, shapes, st.integers(0, 2**32 - 1))
def test_lossless_adc_gives_exact_integer_product(cfg, shape, seed):
    rng = np.random.default_rng(seed)
    r, c, n = shape
    w, x = rand(rng, cfg.precision.weight_bits, (r, c)), rand(rng, cfg.precision.input_bits, (n, r))
    ev = Events()
    y = crossbar.sliced_mvm(*encoding.slice_weights(w, cfg), x, cfg, events=ev)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, x @ w, err_msg=f"seed={seed}")
    assert ev.adc_clipped == 0
    np.testing.assert_array_equal(crossbar.mvm(w, x, cfg, fast=True), x @ w, err_msg=f"seed={seed}")


@settings(max_examples=60, deadline=None)
@given(cfgs, shapes, st.integers(0, 2**32 - 1))
def test_transposed_mvm_is_w_transpose_x(cfg, shape, seed):
    rng = np.random.default_rng(seed)
    r, c, n = shape
    w, e = rand(rng, cfg.precision.weight_bits, (r, c)), rand(rng, cfg.precision.input_bits, (n, c))
    y = crossbar.sliced_mvm(*encoding.slice_weights(w, cfg), e, cfg, transposed=True)
    np.testing.assert_array_equal(y, e @ w.T, err_msg=f"seed={seed}")


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 7), st.sampled_from(["offset", "differential"]), st.integers(0, 2**32 - 1))
def test_narrow_adc_clips_as_specified(adc_bits, enc, seed):
    cfg = make_cfg(enc=enc, adc_bits=adc_bits, rows=16)
    rng = np.random.default_rng(seed)
    w, x = rand(rng, 8, (40, 6)), rand(rng, 8, (3, 40))
    ev = Events()
    y = crossbar.sliced_mvm(*encoding.slice_weights(w, cfg), x, cfg, events=ev)
    np.testing.assert_array_equal(y, reference_mvm(w, x, cfg), err_msg=f"seed={seed}")
    # the fast path must never claim a clipping MVM is safe, and must agree when it takes over
    np.testing.assert_array_equal(crossbar.mvm(w, x, cfg), y, err_msg=f"seed={seed}")
    if crossbar.cannot_clip(encoding.slice_weights(w, cfg)[0], x, cfg):
        assert ev.adc_clipped == 0


BIG_SUMS = {"crossbar.rows": 1024, "crossbar.cols": 1024, "converters.dac_bits": 8,
            "device.bits_per_cell": 8, "precision.update_slice_bits": [8],
            "crossbar.encoding": "differential", "converters.adc_bits": 24, "converters.adc_lsb": 4.0,
            "precision.update_slices": 4}   # 4 slices of 8-bit cells: updates stay within int64


def test_column_sums_past_float32_stay_exact():
    """Issue 10's case: 1024 rows of 8-bit drives and 8-bit cells give column sums near 3.8e7,
    past float32's exact 2**24; the golden rounds the exact sums (integer reference above)."""
    cfg = config.load("isaac").with_overrides(BIG_SUMS)
    rng = np.random.default_rng(0)
    w, x = rng.integers(128, 256, (1024, 4)), rng.integers(128, 256, (4, 1024))
    want = reference_mvm(w, x, cfg)
    assert want[0, 0] == 38_003_848
    np.testing.assert_array_equal(crossbar.sliced_mvm(*encoding.slice_weights(w, cfg), x, cfg), want)
    np.testing.assert_array_equal(crossbar.mvm(w, x, cfg), want)


@pytest.mark.parametrize("enc, lsb, seed", [("offset", 8.0, 1), ("differential", 2.0, 2),
                                             ("offset", 1.0, 3)])
def test_large_column_sums_against_the_integer_reference(enc, lsb, seed):
    cfg = config.load("isaac").with_overrides(
        BIG_SUMS | {"crossbar.encoding": enc, "converters.adc_lsb": lsb})
    rng = np.random.default_rng(seed)
    w, x = rand(rng, 16, (1024, 6)), rand(rng, 16, (3, 1024))
    want = reference_mvm(w, x, cfg)
    np.testing.assert_array_equal(crossbar.sliced_mvm(*encoding.slice_weights(w, cfg), x, cfg), want,
                                  err_msg=f"seed={seed}")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([1, 2, 4]), st.integers(2, 12), st.integers(1, 3),
       st.sampled_from(["offset", "differential"]), st.integers(2, 9), st.integers(1, 40),
       st.integers(1, 6), st.booleans(), st.integers(0, 2**32 - 1))
def test_clip_proof_is_the_row_maximum_bound(bpc, input_bits, dac, enc, adc_bits, r, n, small, seed):
    """cannot_clip is exactly: every step's drive times each row's largest level, summed over a
    row tile, stays within the top code, for every vector and array (computed plainly here)."""
    if dac >= input_bits:
        return
    cfg = make_cfg(bpc=bpc, slices=2, input_bits=input_bits, dac=dac, enc=enc, rows=8,
                   adc_bits=adc_bits)
    rng = np.random.default_rng(seed)
    w = rand(rng, cfg.precision.weight_bits, (r, 3))
    x = rand(rng, input_bits, (n, r)) >> (input_bits - 2 if small else 0)
    levels = encoding.slice_weights(w, cfg)[0].astype(np.int64)
    steps, _ = encoding.input_steps(x, cfg)
    want = True
    for r0 in range(0, r, 8):
        rowmax = levels[:, r0:r0 + 8].max(axis=2)                    # (A, rows of the tile)
        sums = steps[:, :, r0:r0 + 8].astype(np.int64) @ rowmax.T     # (S, N, A)
        want &= bool(sums.max() <= cfg.adc_max_code)
    assert crossbar.cannot_clip(levels, x, cfg) == (want or cfg.adc_never_clips), f"seed={seed}"


def test_clipping_happens_and_is_counted():
    cfg = make_cfg(adc_bits=3, rows=16)
    w = np.full((16, 4), 127)
    x = np.full((1, 16), 127)
    ev = Events()
    y = crossbar.sliced_mvm(*encoding.slice_weights(w, cfg), x, cfg, events=ev)
    assert ev.adc_clipped > 0
    assert (y < x @ w).all()
    np.testing.assert_array_equal(y, reference_mvm(w, x, cfg))


def test_coarse_adc_lsb_rounds_codes():
    cfg = make_cfg(adc_bits=6, lsb=4.0, rows=16)
    w, x = np.arange(-8, 8).reshape(16, 1), np.arange(16).reshape(1, 16) - 3
    levels, sign, shift = encoding.slice_weights(w, cfg)
    steps, coef = encoding.input_steps(x, cfg)
    sums = crossbar.column_sums(levels, steps[:, 0])            # (S, A, C)
    codes = crossbar.adc(sums, cfg)
    expect = (coef[:, None, None] * codes * (sign << shift)[None, :, None]).sum(axis=(0, 1)) * 4.0
    expect -= encoding.weight_offset(cfg) * x.sum()
    np.testing.assert_allclose(crossbar.sliced_mvm(levels, sign, shift, x, cfg)[0], expect)


def test_adc_function_rounds_and_clips():
    cfg = make_cfg(adc_bits=4, lsb=2.0)
    np.testing.assert_array_equal(crossbar.adc(np.array([-3.0, 0.9, 1.1, 5.0, 29.0, 31.0, 99.0]), cfg),
                                  [0, 0, 1, 2, 14, 15, 15])


def test_event_counts_of_one_tiled_mvm():
    cfg = make_cfg(rows=16, cols=8, slices=4, input_bits=8)        # offset: 4 arrays, 8 steps
    w, x = np.ones((40, 20), int), np.ones((3, 40), int)
    ev = Events()
    crossbar.sliced_mvm(*encoding.slice_weights(w, cfg), x, cfg, events=ev)
    # 3 row tiles (16+16+8 rows), 3 column tiles (8+8+4 columns), 4 slice arrays, 8 steps, 3 vectors
    assert ev.array_steps == 8 * 3 * 4 * 3 * 3
    assert ev.adc_conversions == 8 * 3 * 4 * 3 * 20
    assert ev.dac_conversions == 8 * 3 * 4 * 3 * 40
    fast = Events()
    crossbar.mvm(w, x, cfg, events=fast)
    assert fast == ev


def test_input_length_mismatch_is_reported():
    cfg = make_cfg()
    with pytest.raises(ValueError, match="does not match"):
        crossbar.mvm(np.zeros((4, 3), int), np.zeros((2, 5), int), cfg)


def test_real_size_panther_block_is_exact():
    cfg = config.load("panther")
    rng = np.random.default_rng(7)
    w, x = rand(rng, 16, (128, 128)), rand(rng, 16, (8, 128))
    y = crossbar.sliced_mvm(*encoding.slice_weights(w, cfg), x, cfg)
    np.testing.assert_array_equal(y, reference_mvm(w, x, cfg))


@pytest.mark.parametrize("adc_bits, enc, seed", [(4, "offset", 0), (5, "differential", 1), (8, "offset", 2)])
def test_block_mvm_is_each_blocks_mvm(adc_bits, enc, seed):
    """Many small blocks at once give what the per-block sliced MVM gives, events included."""
    cfg = config.load("graphr").with_overrides({"converters.adc_bits": adc_bits, "crossbar.encoding": enc})
    rng = np.random.default_rng(seed)
    w = rng.integers(-2**15, 2**15, (37, 8, 6))
    x = rng.integers(-2**15, 2**15, (37, 8))
    got_ev, want_ev = Events(), Events()
    got = crossbar.block_mvm(w, x, cfg, events=got_ev, chunk=10)
    want = np.stack([crossbar.mvm(w[b], x[b], cfg, events=want_ev, fast=False) for b in range(37)])
    np.testing.assert_array_equal(got, want, err_msg=f"seed={seed}")
    assert got_ev == want_ev
    if cfg.adc_never_clips:
        np.testing.assert_array_equal(got, np.einsum("br,brc->bc", x, w))
    else:
        assert got_ev.adc_clipped > 0


def test_block_mvm_rejects_blocks_larger_than_an_array():
    cfg = config.load("graphr")
    with pytest.raises(ValueError, match="does not fit one 8 x 8 array"):
        crossbar.block_mvm(np.zeros((2, 9, 8), int), np.zeros((2, 9), int), cfg)
    with pytest.raises(ValueError, match="do not match"):
        crossbar.block_mvm(np.zeros((2, 8, 8), int), np.zeros((3, 8), int), cfg)
