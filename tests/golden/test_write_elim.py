"""Write-elimination policies against references written here from their definitions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosstrain.golden import config
from crosstrain.golden import write_elim as we
from crosstrain.golden.config import ConfigError


def small_cfg(bits_per_cell=2, weight_bits=8, rows=4, cols=3, encoding="offset"):
    return config.HardwareConfig().with_overrides({
        "device.bits_per_cell": bits_per_cell, "precision.weight_bits": weight_bits,
        "precision.weight_frac_bits": 0, "precision.input_bits": weight_bits,
        "precision.error_bits": weight_bits, "crossbar.rows": rows, "crossbar.cols": cols,
        "crossbar.encoding": encoding, "converters.adc_mode": "clip"})


def loop_reference(new, stored, live, last, compare, thresholds, granularity, row_group):
    """The comparator beat by beat, as a sequential machine would run it."""
    acc, pos, acc_live, issued, eliminated = False, 0, 0, 0, 0
    masks, ends, writes = [], [], []
    for b in range(len(new)):
        ref = [0] * len(new[b]) if compare == "value" else stored[b]
        sig = [bool(live[b][k]) and abs(int(new[b][k]) - int(ref[k])) > thresholds[b]
               for k in range(len(new[b]))]
        running = acc or any(sig)
        end = granularity == "cell" or bool(last[b]) or (granularity == "row" and pos + 1 == row_group)
        n_live = int(sum(live[b]))
        if granularity == "cell":
            issued += sum(sig)
            eliminated += n_live - sum(sig)
        elif end:
            issued += (acc_live + n_live) if running else 0
            eliminated += 0 if running else (acc_live + n_live)
        masks.append(sig)
        ends.append(end)
        writes.append(running)
        acc, pos, acc_live = (False, 0, 0) if end else (running, pos + 1, acc_live + n_live)
    return np.array(masks, dtype=bool), np.array(ends), np.array(writes), issued, eliminated


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6), st.sampled_from(we.COMPARES),
       st.sampled_from(we.GRANULARITIES), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_compare_beats_matches_sequential_reference(n_beats, lanes, compare, gran, row_group, seed):
    rng = np.random.default_rng(seed)
    sparse = rng.random((n_beats, lanes)) < 0.6
    new = np.where(sparse, 0, rng.integers(-20, 21, (n_beats, lanes)))
    stored = np.where(rng.random((n_beats, lanes)) < 0.5, new, rng.integers(-20, 21, (n_beats, lanes)))
    live = rng.random((n_beats, lanes)) < 0.9
    last = rng.random(n_beats) < 0.2
    t = rng.integers(0, 6, n_beats)
    d = we.compare_beats(new, stored, live, last, compare=compare, threshold=t,
                         granularity=gran, row_group=row_group)
    mask, end, write, issued, eliminated = loop_reference(new, stored, live, last, compare, t,
                                                          gran, row_group)
    assert np.array_equal(d.mask, mask), f"seed={seed}"
    assert np.array_equal(d.group_end, end), f"seed={seed}"
    assert np.array_equal(d.group_write, write), f"seed={seed}"
    assert (d.issued, d.eliminated) == (issued, eliminated), f"seed={seed}"


def digits(values, cfg):
    """Cell levels (A, R, C) by plain integer arithmetic (offset encoding)."""
    b, wb = cfg.device.bits_per_cell, cfg.precision.weight_bits
    u = np.asarray(values, dtype=np.int64) + (1 << (wb - 1))
    return np.stack([(u >> (a * b)) & ((1 << b) - 1) for a in range(wb // b)])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 11), st.integers(1, 7), st.sampled_from(["row", "tile"]),
       st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_value_policy_skips_exactly_the_small_groups(n_r, n_c, gran, tau, seed):
    cfg = small_cfg()
    rng = np.random.default_rng(seed)
    new = np.where(rng.random((n_r, n_c)) < 0.7, 0, rng.integers(-6, 7, (n_r, n_c)))
    pol = we.WritePolicy("p", ("errors",), "value", gran, threshold=tau)
    d = we.decide(pol, new, np.zeros((cfg.arrays_per_block, n_r, n_c), np.uint8), cfg)
    rows, cols = cfg.crossbar.rows, cfg.crossbar.cols
    for r0 in range(0, n_r, rows):
        for c0 in range(0, n_c, cols):
            block = (slice(r0, r0 + rows), slice(c0, c0 + cols))
            if gran == "tile":
                groups = [block]
            else:
                groups = [(slice(r, r + 1), block[1]) for r in range(r0, min(r0 + rows, n_r))]
            for g in groups:
                keep = bool((np.abs(new[g]) > tau).any())
                assert (d.visible[g] == keep).all(), f"seed={seed}"
                assert (d.mask[(slice(None),) + g] == keep).all(), f"seed={seed}"
            assert d.skipped_tiles[r0 // rows, c0 // cols] == (not (np.abs(new[block]) > tau).any())
    if tau == 0:      # loss-free: what the MVM sees equals what was meant to be written
        assert np.array_equal(np.where(d.visible, new, 0), new)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 7), st.sampled_from([0.0, 0.5, 0.99]),
       st.integers(0, 2**32 - 1))
def test_delta_below_one_level_writes_exactly_the_changed_cells(n_r, n_c, tau, seed):
    cfg = small_cfg()
    rng = np.random.default_rng(seed)
    old = rng.integers(-128, 128, (n_r, n_c))
    new = np.clip(old + np.where(rng.random((n_r, n_c)) < 0.5, 0, rng.integers(-3, 4, (n_r, n_c))),
                  -128, 127)
    store = we.WriteStore(cfg, (n_r, n_c), we.WritePolicy("p", ("updates",), "delta", "cell", tau))
    store.array.program(old)                      # the arrays hold ``old`` exactly
    before = store.array.write_counts.copy()
    seen = store.write(new)
    changed = digits(new, cfg) != digits(old, cfg)
    assert np.array_equal(store.array.write_counts - before, changed.astype(int)), f"seed={seed}"
    assert np.array_equal(seen, new), f"seed={seed}"


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 7), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_delta_threshold_is_per_slice_level_units(n_r, n_c, tau, seed):
    cfg = small_cfg()
    rng = np.random.default_rng(seed)
    old = rng.integers(-128, 128, (n_r, n_c))
    new = np.clip(old + rng.integers(-20, 21, (n_r, n_c)), -128, 127)
    store = we.WriteStore(cfg, (n_r, n_c), we.WritePolicy("p", ("updates",), "delta", "cell", tau))
    store.array.program(old)                      # the arrays hold ``old`` exactly
    before = store.array.write_counts.copy()
    seen = store.write(new)
    step = np.abs(digits(new, cfg) - digits(old, cfg)) * (1 << (2 * np.arange(4)))[:, None, None]
    written = (store.array.write_counts - before).astype(bool)
    assert np.array_equal(written, step > tau), f"seed={seed}"
    # what the arrays hold: the new level where written, the old one elsewhere
    held = np.where(written, digits(new, cfg), digits(old, cfg))
    assert np.array_equal(seen, (held * (1 << (2 * np.arange(4)))[:, None, None]).sum(0) - 128)


def test_relative_threshold_scales_with_the_largest_value():
    cfg = small_cfg(rows=8, cols=8)
    new = np.array([[0, 1, 2, 3, 40]])
    pol = we.WritePolicy("p", ("activations",), "value", "row", threshold=0.05, relative=True)
    t = we.thresholds(pol, new, None, np.zeros(4, np.int64))
    assert list(t) == [2] * 4                     # floor(0.05 * 40)
    d = we.decide(pol, np.array([[0, 1], [2, 0], [0, 40]]), np.zeros((4, 3, 2), np.uint8), cfg)
    assert d.visible.tolist() == [[False, False], [False, False], [True, True]]


def test_store_counts_offered_issued_and_reasons():
    cfg = small_cfg(rows=2, cols=2)
    pol = we.WritePolicy("p", ("errors",), "value", "row", threshold=1)
    store = we.WriteStore(cfg, (4, 3), pol)
    new = np.array([[0, 0, 0], [1, -1, 0], [5, 0, 0], [0, 0, 0]])
    seen = store.write(new)
    t, a = store.tally, cfg.arrays_per_block
    # rows are split at the 2-column tile edge: row 1 (|v| <= 1) and rows 0, 3 (zeros) skipped
    assert seen.tolist() == [[0, 0, 0], [0, 0, 0], [5, 0, 0], [0, 0, 0]]
    assert t.offered_cells == 12 * a and t.events.cell_writes == 2 * a
    assert t.eliminated == {"zero": 8 * a, "unchanged": 0, "below_threshold": 2 * a}
    assert t.tiles == 4 and t.tiles_skipped == 3
    assert store.array.write_counts.sum() == t.events.cell_writes


def test_baseline_ledger_writes_every_cell_of_every_phase():
    cfg = small_cfg()
    led = we.Ledger(cfg)
    for _ in range(3):
        for ph in we.PHASES:
            led.write(ph, "l", np.zeros((5, 2), np.int64))
    for ph in we.PHASES:
        s = led.summary(ph)
        assert s.tally.events.cell_writes == s.tally.offered_cells == 3 * 10 * cfg.arrays_per_block
        assert s.max_per_step == s.mean_per_step == 1.0


def test_policy_ledger_tracks_only_governed_phases():
    led = we.Ledger(small_cfg(), [we.POLICIES["update-cell"]])
    x = np.ones((2, 2), np.int64)
    assert led.write("errors", "l", x) is not None and ("errors", "l") not in led.stores
    led.write("updates", "l", x)
    assert ("updates", "l") in led.stores


@pytest.mark.parametrize("kw, field", [
    (dict(phases=("weights",)), "phases"),
    (dict(phases=()), "phases"),
    (dict(compare="bigger"), "compare"),
    (dict(granularity="column"), "granularity"),
    (dict(threshold=-1), "threshold"),
    (dict(threshold=float("nan")), "threshold"),
    (dict(threshold=2, relative=True), "threshold"),
    (dict(row_group=0), "row_group"),
    (dict(granularity="cell"), "granularity"),
    (dict(phases=("updates",)), "compare"),
    (dict(name="two words"), "name"),
])
def test_bad_settings_name_the_field(kw, field):
    args = dict(name="p", phases=("errors",), compare="value", granularity="row") | kw
    with pytest.raises(ConfigError, match=f"write policy {field} = "):
        we.WritePolicy(**args)


def test_row_group_larger_than_the_array_is_refused():
    pol = we.WritePolicy("p", ("errors",), "value", "row", row_group=300)
    with pytest.raises(ConfigError, match="row_group = 300"):
        we.Ledger(config.load("pipelayer"), [pol])


def test_two_policies_on_one_phase_are_refused():
    with pytest.raises(ConfigError, match="both govern the activations phase"):
        we.scheme([we.POLICIES["zero-row"], we.POLICIES["unchanged-cell"]])


def test_exactness():
    assert we.POLICIES["zero-tile"].exact and we.POLICIES["update-cell"].exact
    assert not we.POLICIES["small-row-1pct"].exact and not we.POLICIES["update-4-levels"].exact


def test_to_beats_round_trip_and_tile_ends():
    cfg = small_cfg(rows=3, cols=2)
    m = np.arange(2 * 5 * 3).reshape(2, 5, 3)
    beats, live, last = we.to_beats(m, cfg)
    assert beats.shape == (2 * 2 * 5, 2)
    assert np.array_equal(we.from_beats(beats, m.shape), m)
    assert np.array_equal(we.from_beats(live, m.shape), np.ones(m.shape, bool))
    assert live.sum() == m.size
    # each 5-row column tile ends at rows 2 and 4 (a 3-row tile, then the 2 left)
    assert np.flatnonzero(last).tolist() == [2, 4, 7, 9, 12, 14, 17, 19]
