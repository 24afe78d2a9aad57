"""The OPA driver against crosstrain.golden.opa (drive, cell updates) and crosstrain.golden.cycles (amaranth.sim, cocotb)."""

import numpy as np
import pytest

from crosstrain.golden import cycles
from crosstrain.golden.opa import UpdateArrays
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.opa_driver import OpaDriver
from crosstrain.tb.opa_bench import check_drives, reset_then_opa, simulate
from crosstrain.tb.runner import run_bench
from crosstrain.tb.testbench import run_amaranth
from crosstrain.tb.update_array import UpdateArrayModel
from crosstrain.tb.update_array import random_signed as rand

SMALL = {"crossbar.rows": 5, "crossbar.cols": 4, "precision.input_bits": 5,
         "precision.error_bits": 6, "precision.weight_bits": 4, "precision.weight_frac_bits": 0,
         "precision.update_slices": 6, "tile.opa_phase_ns": 3}


def extremes(bits, n):
    """Vectors at the signed limits and zero, so |-2**(bits-1)| and empty phases are driven."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.resize(np.array([lo, hi, 0, -1, 1]), n)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("extra", [{}, {"precision.opa_shift": 2, "precision.update_slices": 5},
                                   {"precision.update_slice_bits": (3, 2, 3, 2, 2, 2)},
                                   {"device.bits_per_cell": 1, "precision.update_slices": 11}])
def test_random_opas_match_golden(seed, extra):
    p = periphery_params(SMALL | extra)
    rng = np.random.default_rng(seed)
    n = 4
    xs, ds = rand(rng, p.input_bits, (n, p.rows)), rand(rng, p.error_bits, (n, p.cols))
    xs[0], ds[0] = extremes(p.input_bits, p.rows), extremes(p.error_bits, p.cols)
    note = f"seed={seed} {extra}"
    model, port = simulate(p, xs, ds, seed, gaps=0.3)
    check_drives(p, model, xs, ds, 0, note)
    golden = UpdateArrays(p.cfg, np.zeros((p.rows, p.cols), np.int64))
    golden.opa(xs, ds)
    assert np.array_equal(model.update.cells, golden.cells), note
    assert port.pulses == [cycles.opa_cycles(p.cfg)] * n, note
    assert port.moved == 0, note


def test_most_negative_values_drive_the_top_partial_slice():
    """``|d| << j`` of 7 bits (4-bit errors, 4 steps) in 2-bit pieces: the top piece (slice 3)
    has 1 bit, set only by ``d = -8`` at step 3, driven only by ``x = -8`` (the tile's widths).
    Every piece must still take its own ``bits_per_cell`` bits of ``pieces``: golden drives
    column 1 of slice 3 with width 1 (not column 0 with width 2)."""
    p = periphery_params({"crossbar.rows": 4, "crossbar.cols": 4, "precision.input_bits": 4,
                          "precision.error_bits": 4, "precision.weight_bits": 8,
                          "precision.weight_frac_bits": 0, "precision.update_slices": 6,
                          "precision.update_slice_bits": 3, "tile.opa_phase_ns": 5})
    assert (p.error_bits + p.input_bits - 1) % p.bits_per_cell      # a partial top piece
    xs, ds = np.array([[-8, 0, 7, -8]]), np.array([[0, -8, -8, 5]])
    model, _ = simulate(p, xs, ds, 0)
    check_drives(p, model, xs, ds, 0, "most negative")
    golden = UpdateArrays(p.cfg, np.zeros((p.rows, p.cols), np.int64))
    golden.opa(xs, ds)
    assert np.array_equal(model.update.cells, golden.cells)


def test_saturating_slices_match_golden():
    p = periphery_params(SMALL | {"precision.update_slice_bits": 2})      # no headroom at all
    rng = np.random.default_rng(7)
    xs, ds = rand(rng, p.input_bits, (6, p.rows)), rand(rng, p.error_bits, (6, p.cols))
    model, _ = simulate(p, xs, ds, 7)
    golden = UpdateArrays(p.cfg, np.zeros((p.rows, p.cols), np.int64))
    golden.opa(xs, ds)
    assert golden.events.opa_saturated > 0
    assert np.array_equal(model.update.cells, golden.cells)
    assert set(np.unique(golden.cells)) >= {0.0, 3.0}               # both limits reached


def test_back_to_back_opas_leave_no_gap():
    p = periphery_params(SMALL)
    rng = np.random.default_rng(3)
    n = 3
    xs, ds = rand(rng, p.input_bits, (n, p.rows)), rand(rng, p.error_bits, (n, p.cols))
    model, port = simulate(p, xs, ds, 3)
    check_drives(p, model, xs, ds, 0, "back to back")
    assert port.last - port.first + 1 == n * cycles.opa_cycles(p.cfg)


def test_full_size_drive_matches_golden():
    p = periphery_params({"tile.opa_phase_ns": 1})                        # panther 128 x 128, 16 bits
    rng = np.random.default_rng(11)
    xs, ds = rand(rng, p.input_bits, (1, p.rows)), rand(rng, p.error_bits, (1, p.cols))
    model, port = simulate(p, xs, ds, 11)
    check_drives(p, model, xs, ds, 0, "panther seed=11")
    assert port.pulses == [cycles.opa_cycles(p.cfg)]


@pytest.mark.parametrize("seed", range(2))
def test_reset_mid_opa_then_a_whole_opa(seed):
    """The cocotb bench's reset case at a small size: the next OPA, offered during the reset,
    is not taken until it ends, then drives exactly golden."""
    p = periphery_params(SMALL)
    rng = np.random.default_rng(seed)
    w = rand(rng, p.weight_bits, (p.rows, p.cols))
    model, golden = UpdateArrayModel(p, w), UpdateArrays(p.cfg, w)
    xs, ds = rand(rng, p.input_bits, (2, p.rows)), rand(rng, p.error_bits, (2, p.cols))
    port = run_amaranth(OpaDriver(params=p), lambda tb: reset_then_opa(tb, model, xs, ds))
    golden.opa(xs[1:], ds[1:])
    check_drives(p, model, xs[1:], ds[1:], 0, f"seed={seed}")
    assert np.array_equal(model.update.cells, golden.cells), f"seed={seed}"
    assert port.pulses == [cycles.opa_cycles(p.cfg)], f"seed={seed}"


# panther's widths on 32 x 32 by default (the same datapath per row and column; a Verilator build
# of the full-size driver takes minutes on two cores); panther at full size in the `slow` run
BENCH_SIZES = [pytest.param({"crossbar.rows": 32, "crossbar.cols": 32}, id="32x32"),
               pytest.param({}, id="panther", marks=pytest.mark.slow)]


@pytest.mark.cocotb
@pytest.mark.parametrize("size", BENCH_SIZES)
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_cocotb_bench(simulator, size):
    p = periphery_params(size)
    tests, failed = run_bench(OpaDriver(params=p), design="opa_driver",
                              params={"periphery": p.as_dict(), "seed": 1}, simulator=simulator,
                              test_module="crosstrain.tb.opa_bench")
    assert (tests, failed) == (3, 0)
