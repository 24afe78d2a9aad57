"""The self-checking top in amaranth.sim: it passes on the tile's own results, and fails when a
golden value, the golden cycle count or the tile's starting weights are wrong."""

import gc

import numpy as np
import pytest
from amaranth.sim import Simulator

from crosstrain.golden import interpreter, isa
from crosstrain.golden.config import ConfigError
from crosstrain.rtl.blocks import BLOCKS
from crosstrain.rtl.selfcheck_top import SelfCheckTop, demo_program


def params(**values):
    """The selfcheck block's keywords (2 units of 4 x 4 by default) with ``values`` set."""
    return BLOCKS["selfcheck"].parameters(values)


def run(dut, max_cycles):
    """Cycles until ``done`` (from the first), and ``passed`` / ``failed`` then."""
    out = {}

    async def bench(ctx):
        for cycle in range(max_cycles):
            if ctx.get(dut.done):
                out.update(cycle=cycle, passed=ctx.get(dut.passed), failed=ctx.get(dut.failed))
                return
            assert not ctx.get(dut.passed) and not ctx.get(dut.failed), "a result before done"
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert out, f"done not high within {max_cycles} cycles"
    return out


def test_demo_program_is_a_training_step_that_changes_the_buffer():
    """Golden itself, independently of the RTL: every unit's three outputs are stored, the first
    is x @ W (at this seed no ADC conversion clips: 4 rows of 2-bit DAC levels rarely fill the
    5-bit ADC), and the CRS after the OPA changes the weights, so the last output differs from
    the first."""
    kw = params()
    p, t = kw["params"], kw["tile"]
    prog, weights, buf = demo_program(p, t, seed=3)
    res = interpreter.run(prog, t, p.cfg, buf, weights=weights)
    L = t.max_length
    for k in range(t.units):
        x = buf[4 * L * k:4 * L * k + p.rows]
        out = res.buffer[8 * L + 3 * L * k:]
        assert np.array_equal(out[:p.cols], x @ weights[k])
        assert not np.array_equal(out[:p.cols], out[2 * L:2 * L + p.cols])
    assert np.array_equal(res.buffer[:8 * L], buf[:8 * L])        # inputs untouched


@pytest.mark.parametrize("seed", [1, 2])
def test_passes_on_the_tile_s_results(seed):
    dut = SelfCheckTop(**params(), seed=seed)
    rows = dut.rows
    out = run(dut, dut.golden_cycles + rows + 20)
    assert out["passed"] == 1 and out["failed"] == 0, f"seed {seed}"
    # done: the tile's done cycle (= golden's), then rows reads, one cycle for the last read's
    # data, one for the state change
    assert out["cycle"] == dut.golden_cycles + rows + 2, f"seed {seed}"


def test_one_unit_and_a_buffer_that_is_not_a_multiple_of_the_banks():
    dut = SelfCheckTop(**params(**{"isa.units": 1, "isa.buffer_depth": 30}))
    assert dut.tile.buffer.banks == 4 and dut.rows == 8          # 2 lanes past the buffer
    out = run(dut, dut.golden_cycles + 40)
    assert out["passed"] == 1 and out["failed"] == 0


@pytest.mark.parametrize("address", [0, 33, 63])
def test_fails_on_one_wrong_golden_value(address):
    """A golden value one off, at an input, a result and the last address: ``failed``."""
    dut = SelfCheckTop(**params())
    banks = dut.tile.buffer.banks
    bits = dut.tile.buffer.memories[0].shape.width
    row, lane = divmod(address, banks)
    dut.expected.init[row] ^= 1 << (bits * lane)
    out = run(dut, dut.golden_cycles + dut.rows + 20)
    assert out["failed"] == 1 and out["passed"] == 0


def test_fails_on_another_cycle_count():
    """Golden's cycle count one too high: the tile is done earlier, ``failed``; one too low: the
    tile is not done when golden is, ``failed`` at once (no buffer comparison)."""
    dut = SelfCheckTop(**params())
    cycles = dut.golden_cycles
    dut.golden_cycles = cycles + 1
    out = run(dut, cycles + dut.rows + 20)
    assert out["failed"] == 1
    dut = SelfCheckTop(**params())
    dut.golden_cycles = cycles - 1
    out = run(dut, cycles + dut.rows + 20)
    assert out["failed"] == 1 and out["cycle"] == cycles


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_fails_when_the_tile_starts_from_other_weights():
    """Golden from the demo's weights, the tile from weights one off in one cell: ``failed``."""
    kw = params()
    p, t = kw["params"], kw["tile"]
    prog, weights, buf = demo_program(p, t, seed=1)
    other = [w.copy() for w in weights]
    other[1][2, 3] += 1 if other[1][2, 3] < 127 else -1
    dut = SelfCheckTop(**kw, program=prog, weights=weights, buffer=buf)
    mismatched = SelfCheckTop(**kw, program=prog, weights=other, buffer=buf)
    dut.tile, dut.reads = mismatched.tile, mismatched.reads     # its tile holds the other weights
    out = run(dut, dut.golden_cycles + dut.rows + 20)
    assert out["failed"] == 1
    del dut, mismatched
    gc.collect()                     # the replaced tile warns here, inside the filter


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_bad_parameters_are_one_line():
    with pytest.raises(ConfigError, match=r"isa.buffer_depth = 20 is too small .* at least 28"):
        SelfCheckTop(**params(**{"isa.units": 1, "isa.buffer_depth": 20}))
    # one MVM of the largest inputs and weights added 64 times onto one address: past value_bits
    kw = params(**{"isa.units": 1})
    p, t = kw["params"], kw["tile"]
    buf = np.zeros(t.buffer_depth, np.int64)
    buf[:4] = 7
    I = isa.Instr.make
    prog = [I("LOAD", unit=0, reg=0, offset=0, addr=0, length=4), I("MVM", unit=0),
            I("LOOP", count=64, body=1, stride=0), I("STORE", unit=0, acc=1, offset=0, addr=8, length=4),
            I("HALT")]
    with pytest.raises(ConfigError, match=r"golden buffer value \d+ does not fit the tile's 16-bit "
                       r"values: raise periphery.value_bits") as e:
        SelfCheckTop(**kw, program=prog, weights=[np.full((4, 4), 127)], buffer=buf)
    assert "\n" not in str(e.value)
    del e                            # its traceback holds the refused tile
    gc.collect()                     # the refused objects warn here, inside the filter
