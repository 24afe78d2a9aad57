"""OPA + CRS against exact outer products and a scalar, step-by-step reference written here."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosstrain.golden import config
from crosstrain.golden.opa import PHASES, UpdateArrays, opa_drive


def small_cfg(slice_bits=(10,), bpc=2, n=6, m=None):
    m = m or (2 * n) // bpc + 1
    return config.HardwareConfig().with_overrides({
        "device.bits_per_cell": bpc, "precision.weight_bits": 2 * bpc, "precision.weight_frac_bits": 0,
        "precision.input_bits": n, "precision.error_bits": n, "precision.update_slices": m,
        "precision.update_slice_bits": list(slice_bits)})


def rand(rng, bits, shape):
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), shape)


def scalar_reference(cells, bias, tops, x, d, cfg):
    """One OPA, cell by cell, step by step, phase by phase, saturating after every pulse."""
    b, n = cfg.device.bits_per_cell, cfg.precision.input_bits
    cells = cells.copy()
    for sx, sd in PHASES:
        for j in range(n):
            for r in range(len(x)):
                if (x[r] < 0) != (sx < 0) or not (abs(int(x[r])) >> j) & 1:
                    continue
                for c in range(len(d)):
                    if (d[c] < 0) != (sd < 0):
                        continue
                    v = (abs(int(d[c])) << j) >> cfg.precision.opa_shift
                    for m in range(cells.shape[0]):
                        piece = (v >> (b * m)) & ((1 << b) - 1)
                        cells[m, r, c] = min(max(cells[m, r, c] + sx * sd * piece, 0), tops[m])
    return cells


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_opa_then_crs_is_exact_without_saturation(r, c, n_opa, seed):
    cfg = small_cfg(slice_bits=(14,))            # deep headroom: nothing can saturate here
    rng = np.random.default_rng(seed)
    w = rand(rng, cfg.precision.weight_bits, (r, c))
    xs, ds = rand(rng, 6, (n_opa, r)), rand(rng, 6, (n_opa, c))
    u = UpdateArrays(cfg, w)
    drop = u.wide_bits - cfg.precision.weight_bits
    u.opa(xs, ds)
    assert u.events.opa_saturated == 0
    exact = (w << drop) + np.einsum("nr,nc->rc", xs, ds)
    np.testing.assert_array_equal(u.compose(), exact, err_msg=f"seed={seed}")
    new_w = u.crs()
    lim = 1 << (cfg.precision.weight_bits - 1)
    expect_w = np.clip(np.floor(exact / 2**drop + 0.5).astype(np.int64), -lim, lim - 1)
    np.testing.assert_array_equal(new_w, expect_w, err_msg=f"seed={seed}")
    # after CRS the slices hold clean digits of the (unrounded, range-saturated) wide weight
    wide_lim = 1 << (u.wide_bits - 1)
    np.testing.assert_array_equal(u.compose(), np.clip(exact, -wide_lim, wide_lim - 1),
                                  err_msg=f"seed={seed}")
    assert (np.rint(u.cells) - u.bias[:, None, None]).max() <= cfg.cell_max


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(2, 5), min_size=1, max_size=1), st.integers(0, 2**32 - 1))
def test_saturation_matches_scalar_reference(slice_bits, seed):
    cfg = small_cfg(slice_bits=tuple(slice_bits))
    rng = np.random.default_rng(seed)
    w = rand(rng, cfg.precision.weight_bits, (3, 4))
    u = UpdateArrays(cfg, w)
    cells = u.cells.copy()
    for _ in range(3):
        x, d = rand(rng, 6, 3), rand(rng, 6, 4)
        cells = scalar_reference(cells, u.bias, u.cell_top, x, d, cfg)
        u.opa(x, d)
        np.testing.assert_array_equal(u.cells, cells, err_msg=f"seed={seed}")


def test_per_slice_widths_saturate_independently():
    cfg = small_cfg(slice_bits=(6, 6, 6, 5, 5, 5, 4), m=7)
    u = UpdateArrays(cfg, np.zeros((2, 2), int))
    for _ in range(40):
        u.opa(np.full(2, 31), np.full(2, 31))
    assert u.events.opa_saturated > 0
    tops = np.array([63, 63, 63, 31, 31, 31, 15])
    maxes = u.cells.max(axis=(1, 2))
    assert (maxes <= tops).all()
    np.testing.assert_array_equal(maxes[:4], tops[:4])      # the low slices are pushed to their limit


def test_drive_reconstructs_outer_product():
    cfg = small_cfg()
    rng = np.random.default_rng(3)
    x, d = rand(rng, 6, 5), rand(rng, 6, 4)
    rows, pieces = opa_drive(x, d, cfg)
    b = cfg.device.bits_per_cell
    total = np.zeros((5, 4), dtype=np.int64)
    for k, (sx, sd) in enumerate(PHASES):
        for j in range(rows.shape[0]):
            col = sum(pieces[j, k, m].astype(np.int64) << (b * m) for m in range(pieces.shape[2]))
            total += sx * sd * np.outer(rows[j, k], col)
    np.testing.assert_array_equal(total, np.outer(x, d))
    # each row is driven in exactly the phases of its sign
    assert not (rows[:, :2][:, :, x < 0]).any() and not (rows[:, 2:][:, :, x >= 0]).any()


def test_events_and_write_counters():
    cfg = config.load("panther")
    u = UpdateArrays(cfg, np.zeros((4, 4), int))
    assert u.events.cell_writes == 16 * 16 and (u.write_counts == 1).all()
    x = np.array([1, 0, 0, 0])
    d = np.array([3, 0, 0, 0])
    u.opa(x, d)
    assert u.events.opa_phases == 16 * 4 * 16
    assert u.events.opa_steps == 16 * 16          # row-bit steps x update slices: the energy count
    assert u.write_counts[0, 0, 0] == 2 and u.write_counts[0, 1, 1] == 1
    u.crs()
    assert u.events.crs_ops == 1 and (u.write_counts >= 2).all()


def test_batch_mismatch_is_reported():
    u = UpdateArrays(small_cfg(), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="do not match"):
        u.opa(np.zeros(3, int), np.zeros(3, int))
    with pytest.raises(ValueError, match="group 2 does not divide the 3 OPAs"):
        u.opa(np.zeros((3, 2), int), np.zeros((3, 3), int), group=2)


def test_nonlinear_update_is_seeded_and_bent():
    base = small_cfg(slice_bits=(8,))
    cfg = base.with_overrides({"nonideal.ltp_nonlinearity": 3.0, "nonideal.ltd_nonlinearity": 3.0,
                               "nonideal.c2c_sigma": 0.05, "nonideal.seed": 11})
    runs = []
    for _ in range(2):
        u = UpdateArrays(cfg, np.zeros((2, 2), int))
        u.opa(np.array([5, 5]), np.array([7, -7]))
        runs.append(u.cells.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    ideal = UpdateArrays(base, np.zeros((2, 2), int))
    ideal.opa(np.array([5, 5]), np.array([7, -7]))
    assert not np.allclose(runs[0], ideal.cells)


def phase_by_phase(u, xs, ds, *, group=1):
    """Reference: each OPA's opa_drive phases, ``group`` consecutive OPAs in one apply_phases."""
    steps = []
    for x, d in zip(xs, ds):
        rows, pieces = opa_drive(x, d, u.cfg)
        n = rows.shape[0]
        steps.append((rows.reshape(n * 4, -1), pieces.reshape((n * 4,) + pieces.shape[2:]),
                      np.array([sr * sc for sr, sc in PHASES] * n)))
    steps = [tuple(np.concatenate(parts) for parts in zip(*steps[k:k + group]))
             for k in range(0, len(steps), group)]
    for rows, pieces, signs in steps:
        u.apply_phases(rows, pieces, signs)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([(3,), (4,), (6,), (14,), (6, 6, 6, 5, 5, 5, 4)]), st.integers(1, 12),
       st.sampled_from([1, 2, 5]), st.sampled_from([0, 3, 8]), st.sampled_from([1, 2, 3]),
       st.integers(0, 2**32 - 1))
def test_batched_opa_is_one_apply_phases_per_group(slice_bits, n_groups, group, shift, bpc, seed):
    m = 14 // bpc
    widths = [max(slice_bits[k * len(slice_bits) // m], bpc) for k in range(m)]
    cfg = small_cfg(slice_bits=widths if len(slice_bits) > 1 else widths[:1], bpc=bpc, m=m
                    ).with_overrides({"precision.opa_shift": shift})
    rng = np.random.default_rng(seed)
    w = rand(rng, cfg.precision.weight_bits, (3, 4))
    xs, ds = rand(rng, 6, (n_groups * group, 3)), rand(rng, 6, (n_groups * group, 4))
    fast, ref = UpdateArrays(cfg, w), UpdateArrays(cfg, w)
    fast.opa(xs, ds, group=group)
    phase_by_phase(ref, xs, ds, group=group)
    np.testing.assert_array_equal(fast.cells, ref.cells, err_msg=f"seed={seed}")
    assert fast.events == ref.events, f"seed={seed}"
    np.testing.assert_array_equal(fast.write_counts, ref.write_counts, err_msg=f"seed={seed}")


def test_batched_opa_with_noisy_updates_matches_phase_by_phase():
    cfg = small_cfg(slice_bits=(6,), m=7).with_overrides(
        {"nonideal.c2c_sigma": 0.1, "nonideal.ltp_nonlinearity": 2.0, "nonideal.update_levels": 40})
    rng = np.random.default_rng(5)
    xs, ds = rand(rng, 6, (20, 3)), rand(rng, 6, (20, 4))
    fast, ref = UpdateArrays(cfg, np.zeros((3, 4), int)), UpdateArrays(cfg, np.zeros((3, 4), int))
    fast.opa(xs, ds)
    phase_by_phase(ref, xs, ds)
    np.testing.assert_array_equal(fast.cells, ref.cells)
    assert fast.events == ref.events


def test_deep_headroom_holds_the_exact_sum_of_many_opas():
    cfg = small_cfg(slice_bits=(14,))
    u = UpdateArrays(cfg, np.zeros((2, 2), int))
    u.opa(np.full((30, 2), -31), np.full((30, 2), 31))
    assert u.events.opa_saturated == 0
    np.testing.assert_array_equal(u.compose(), np.full((2, 2), -30 * 31 * 31))


def test_write_row_programs_one_row_and_keeps_the_others():
    """After OPAs, writing row 1 gives row 1 the cells a fresh copy of the new weights has (so a
    CRS returns the written weights there) and leaves every other row's cells as they were."""
    cfg = small_cfg()
    rng = np.random.default_rng(4)
    w = rand(rng, cfg.precision.weight_bits, (3, 4))
    u = UpdateArrays(cfg, w)
    u.opa(rand(rng, 6, (2, 3)), rand(rng, 6, (2, 4)))
    before = u.cells.copy()
    new = rand(rng, cfg.precision.weight_bits, 4)
    u.write_row(1, new)
    w2 = w.copy()
    w2[1] = new
    np.testing.assert_array_equal(u.cells[:, 1], UpdateArrays(cfg, w2).cells[:, 1])
    np.testing.assert_array_equal(np.delete(u.cells, 1, axis=1), np.delete(before, 1, axis=1))
    assert u.crs()[1].tolist() == new.tolist()
