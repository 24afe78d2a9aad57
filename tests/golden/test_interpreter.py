"""The golden interpreter: instruction semantics on hand-written programs, timing, errors."""

import numpy as np
import pytest

from crosstrain.golden import cycles, interpreter, isa
from crosstrain.golden.config import HardwareConfig

CFG = HardwareConfig().with_overrides({"crossbar.rows": 4, "crossbar.cols": 3,
                                       "precision.weight_bits": 8, "precision.weight_frac_bits": 4,
                                       "precision.input_bits": 6, "precision.error_bits": 6,
                                       "precision.update_slices": 8})
TILE = isa.TileParams(units=2, buffer_depth=64, max_length=4)
I = isa.Instr.make


def test_loop_runs_mvm_per_vector_and_stores_add():
    """Two vectors of 4 at 0 and 8 through weights at 32 (4 rows x 3); outputs added twice."""
    rng = np.random.default_rng(5)
    w, x = rng.integers(-9, 10, (4, 3)), rng.integers(-20, 21, (2, 4))
    buf = np.zeros(64, np.int64)
    buf[32:44] = w.ravel()
    buf[0:4], buf[8:12] = x
    prog = [I("WRITE", unit=1, row=r, addr=32 + 3 * r, length=3) for r in range(4)]
    prog += [I("LOOP", count=2, body=4, stride=8),
             I("LOAD", unit=1, reg=0, offset=0, addr=0, length=4), I("MVM", unit=1),
             I("STORE", unit=1, acc=1, offset=0, addr=4, length=3),
             I("STORE", unit=1, acc=1, offset=0, addr=4, length=3),
             I("SYNC", mask=0b10), I("HALT"), I("MVM", unit=0)]
    res = interpreter.run(prog, TILE, CFG, buf)
    np.testing.assert_array_equal(res.buffer[4:7], 2 * (x[0] @ w))
    np.testing.assert_array_equal(res.buffer[12:15], 2 * (x[1] @ w))
    assert res.counts["MVM"] == 2 and res.counts["LOOP"] == 1 and res.counts["HALT"] == 1
    assert buf[4:7].tolist() == [0, 0, 0]                    # the caller's buffer is not changed


def test_transposed_mvm_opa_and_crs():
    w = np.arange(12).reshape(4, 3) - 6
    buf = np.zeros(64, np.int64)
    buf[:12] = w.ravel()
    buf[20:23] = [3, -2, 1]                                  # error (columns)
    buf[24:28] = [1, 2, -1, 0]                               # input (rows)
    prog = [I("WRITE", unit=0, row=r, addr=3 * r, length=3) for r in range(4)]
    prog += [I("LOAD", unit=0, reg=1, offset=0, addr=20, length=3), I("MTVM", unit=0),
             I("STORE", unit=0, acc=0, offset=0, addr=30, length=4),
             I("LOAD", unit=0, reg=0, offset=0, addr=24, length=4), I("OPA", unit=0), I("CRS", unit=0)]
    res = interpreter.run(prog, TILE, CFG, buf)
    np.testing.assert_array_equal(res.buffer[30:34], w @ np.array([3, -2, 1]))
    drop = 8 * 2 - 8                                          # wide bits - weight bits
    dw = np.outer([1, 2, -1, 0], [3, -2, 1])
    np.testing.assert_array_equal(res.units[0].weights, ((w << drop) + dw + (1 << (drop - 1))) >> drop)


def test_units_overlap_and_mvms_pipeline_until_sync():
    prog = [I("MVM", unit=0), I("MVM", unit=1), I("MVM", unit=1), I("SYNC", mask=0b11), I("MVM", unit=0)]
    res = interpreter.run(prog, TILE, CFG)
    s = cycles.mvm_schedule(CFG)
    assert s.interval < s.latency
    # unit 1's first MVM issues at cycle 1 and starts at 2 (its queue's head the next cycle),
    # its second one interval later (golden/cycles: total(2)); the output is in the output
    # register one cycle after it leaves the unit. Unit 0 waits for the SYNC (one issue cycle),
    # then runs one more MVM the same way
    assert res.units[1].done == 2 + s.total(2) + 1
    assert res.cycles == res.units[0].done == (2 + s.total(2) + 1) + 2 + s.latency + 1
    assert res.units[1].busy == 2 * s.interval


def test_load_waits_for_the_array_to_take_the_register():
    """Double-buffered input: the third LOAD waits until the second MVM has started."""
    prog = [I("LOAD", unit=0, reg=0, offset=0, addr=0, length=4), I("MVM", unit=0),
            I("LOAD", unit=0, reg=0, offset=0, addr=0, length=4), I("MVM", unit=0),
            I("LOAD", unit=0, reg=0, offset=0, addr=0, length=4), I("MVM", unit=0),
            I("STORE", unit=0, acc=0, offset=0, addr=8, length=3)]
    res = interpreter.run(prog, TILE, CFG)
    s = cycles.mvm_schedule(CFG)
    # the first MVM starts when its LOAD's vector is in the register (cycle 2); each later LOAD
    # waits until the MVM before it has taken the register, so the MVMs run one interval apart;
    # the STORE starts when the last output is in the output register (one cycle after it left
    # the unit) and writes the buffer in its second cycle
    assert res.cycles == 2 + s.total(3) + 1 + 2


def test_a_full_array_queue_stops_issue():
    """A full queue stops issue: with queue_depth 1 the second MVM waits at issue until the
    first has been taken, and the SYNC's issue cycle moves with it."""
    tile = isa.TileParams(units=2, buffer_depth=64, max_length=4, queue_depth=1)
    prog = [I("MVM", unit=0), I("MVM", unit=0), I("MVM", unit=0), I("MVM", unit=1), I("HALT")]
    res = interpreter.run(prog, tile, CFG)
    s = cycles.mvm_schedule(CFG)
    # MVMs start at 1, 1 + interval, 1 + 2 interval; the third issues the cycle after the second
    # started, the unit-1 MVM one cycle later and starts the cycle after that
    assert res.units[1].done == (1 + s.interval + 1) + 1 + 1 + s.latency + 1
    assert res.cycles == res.units[0].done == 1 + s.total(3) + 1
    deep = interpreter.run(prog, TILE, CFG)
    assert deep.units[1].done == 4 + s.latency + 1         # issued at cycle 3, no wait


def test_stores_of_two_units_take_turns_oldest_first():
    """One STORE of the tile starts per cycle: unit 0's third STORE wants the cycle unit 1's
    (older) STORE starts in and goes one cycle later."""
    prog = [I("MVM", unit=0), I("NOP"), I("MVM", unit=1),
            I("STORE", unit=1, acc=0, offset=0, addr=0, length=3)]
    prog += [I("STORE", unit=0, acc=0, offset=0, addr=8 + 4 * k, length=3) for k in range(3)]
    res = interpreter.run(prog, TILE, CFG)
    lat = cycles.mvm_schedule(CFG).latency
    # outputs in the registers at 1 + lat + 1 (unit 0) and 3 + lat + 1 (unit 1); unit 0's
    # STOREs start at lat + 2, lat + 3 and (not lat + 4, unit 1's) lat + 5; two cycles each
    assert res.units[1].done == lat + 4 + 2
    assert res.units[0].done == lat + 5 + 2


def test_store_then_load_of_the_same_values_needs_a_sync():
    prog = [I("MVM", unit=0), I("STORE", unit=0, acc=0, offset=0, addr=8, length=3),
            I("LOAD", unit=1, reg=0, offset=0, addr=10, length=4)]
    with pytest.raises(isa.IsaError, match=r"reads buffer values a STORE still writes: put a SYNC"):
        interpreter.run(prog, TILE, CFG)
    res = interpreter.run(prog[:2] + [I("SYNC", mask=1)] + prog[2:], TILE, CFG)
    assert res.units[1].done == res.units[0].done + 1 + 2   # the LOAD after the SYNC's cycle


@pytest.mark.parametrize("prog, match", [
    ([I("LOOP", count=2, body=3, stride=1), I("MVM", unit=0)], r"the body must be 3 following words"),
    ([I("LOOP", count=2, body=1, stride=1), I("HALT")], r"without LOOP or HALT"),
    ([I("LOOP", count=2, body=1, stride=40), I("LOAD", unit=0, reg=0, offset=0, addr=30, length=4)],
     r"field addr = 70 \+ length 4 runs past buffer_depth = 64"),
    ([I("MVM", unit=2)], r"field unit = 2 is not below tile.units = 2"),
    ([I("LOAD", unit=0, reg=1, offset=1, addr=0, length=3)], r"runs past the 3-value register"),
])
def test_bad_programs_are_one_line(prog, match):
    with pytest.raises(isa.IsaError, match=match) as e:
        interpreter.run(prog, TILE, CFG, np.zeros(64, np.int64))
    assert "\n" not in str(e.value)


def test_tile_must_fit_the_crossbar_and_buffer():
    with pytest.raises(isa.IsaError, match=r"needs tile max_length >= 4, not 2"):
        interpreter.run([], isa.TileParams(units=1, buffer_depth=8, max_length=2), CFG)
    with pytest.raises(isa.IsaError, match=r"buffer of shape \(3,\) is not \(64,\)"):
        interpreter.run([], TILE, CFG, np.zeros(3))
