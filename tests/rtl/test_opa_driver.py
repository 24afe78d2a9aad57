"""The OPA driver against crosstrain.golden.opa (drive, cell updates) and crosstrain.golden.cycles (amaranth.sim, cocotb)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from crosstrain.golden import cycles
from crosstrain.golden.opa import PHASES, UpdateArrays, opa_drive
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.opa_driver import OpaDriver
from crosstrain.tb.runner import run_bench
from crosstrain.tb.update_array import UpdateArrayModel
from crosstrain.tb.update_array import random_signed as rand
from crosstrain.tb.words import pack

SMALL = {"crossbar.rows": 5, "crossbar.cols": 4, "precision.input_bits": 5,
         "precision.error_bits": 6, "precision.weight_bits": 4, "precision.weight_frac_bits": 0,
         "precision.update_slices": 6, "tile.opa_phase_ns": 3}


def extremes(bits, n):
    """Vectors at the signed limits and zero, so |-2**(bits-1)| and empty phases are driven."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.resize(np.array([lo, hi, 0, -1, 1]), n)


def input_word(dut, x, d):
    p = dut.params
    return pack(x, p.input_bits) | pack(d, p.error_bits) << (p.rows * p.input_bits)


def simulate(p, xs, ds, seed, *, gaps=0.0):
    """Drive the OPAs (random gaps between them with probability ``gaps``); the model applies
    what the port drives. Returns the model and ``pulses`` (driven cycles of each OPA), ``span``
    (first driven cycle to last) and ``changed`` (cycles where a phase's drive moved)."""
    dut = OpaDriver(params=p)
    model = UpdateArrayModel(p, np.zeros((p.rows, p.cols), np.int64))
    rng = np.random.default_rng(seed)
    out = {"pulses": [], "span": None, "changed": 0}

    async def driver(ctx):
        for x, d in zip(xs, ds):
            while rng.random() < gaps:
                await ctx.tick()
            ctx.set(dut.i.payload.as_value(), input_word(dut, x, d))
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def monitor(ctx):
        first, cycle, held, new_opa = None, 0, None, True
        while len(model.drives) < len(xs) or ctx.get(dut.upd.pulse):
            await ctx.tick()
            cycle += 1
            pulse, start, last, pot = (ctx.get(s) for s in (dut.upd.pulse, dut.upd.start,
                                                            dut.upd.last, dut.upd.potentiate))
            rows, pieces = ctx.get(dut.upd.rows), ctx.get(dut.upd.pieces.as_value())
            if not pulse:
                assert rows == 0 and pieces == 0 and not (start or last or pot)
                continue
            first = cycle if first is None else first
            out["span"] = cycle - first + 1
            if start:
                if new_opa:
                    out["pulses"].append(0)
                new_opa = bool(last)
                held = (rows, pieces, pot, last)
                model.phase(rows, pieces, pot, last)
            elif held != (rows, pieces, pot, last):
                out["changed"] += 1
            out["pulses"][-1] += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_testbench(monitor)
    sim.run()
    return model, out


def check_drives(p, model, xs, ds, note):
    for n, (x, d) in enumerate(zip(xs, ds)):
        rows, pieces = opa_drive(x, d, p.cfg)
        got_rows, got_pieces, signs = model.drives[n]
        steps = rows.shape[0]
        assert np.array_equal(got_rows, rows.reshape(steps * 4, -1)), f"OPA {n} rows ({note})"
        assert np.array_equal(got_pieces, pieces.reshape((steps * 4,) + pieces.shape[2:])), \
            f"OPA {n} pieces ({note})"
        assert np.array_equal(signs, [sr * sc for sr, sc in PHASES] * steps), f"OPA {n} signs ({note})"


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
    model, out = simulate(p, xs, ds, seed, gaps=0.3)
    check_drives(p, model, xs, ds, note)
    golden = UpdateArrays(p.cfg, np.zeros((p.rows, p.cols), np.int64))
    golden.opa(xs, ds)
    assert np.array_equal(model.update.cells, golden.cells), note
    assert out["pulses"] == [cycles.opa_cycles(p.cfg)] * n, note
    assert out["changed"] == 0, note


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
    model, out = simulate(p, xs, ds, 3)
    check_drives(p, model, xs, ds, "back to back")
    assert out["span"] == n * cycles.opa_cycles(p.cfg)


def test_full_size_drive_matches_golden():
    p = periphery_params({"tile.opa_phase_ns": 1})                        # panther 128 x 128, 16 bits
    rng = np.random.default_rng(11)
    xs, ds = rand(rng, p.input_bits, (1, p.rows)), rand(rng, p.error_bits, (1, p.cols))
    model, out = simulate(p, xs, ds, 11)
    check_drives(p, model, xs, ds, "panther seed=11")
    assert out["pulses"] == [cycles.opa_cycles(p.cfg)]


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_cocotb_bench(simulator):
    p = periphery_params()                                                # panther, full size
    tests, failed = run_bench(OpaDriver(params=p), design="opa_driver",
                              params={"periphery": p.as_dict(), "seed": 1}, simulator=simulator,
                              test_module="crosstrain.tb.opa_bench")
    assert (tests, failed) == (3, 0)
