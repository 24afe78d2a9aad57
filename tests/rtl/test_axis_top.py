"""The AXI top in amaranth.sim (a :mod:`crosstrain.tb.testbench` bench, the streams driven by
:mod:`crosstrain.tb.stream`'s agents): its register map (values, access, responses), its data
streams under back-pressure (the stream rules checked every cycle), a program through the command stream
against crosstrain.golden.interpreter (buffer bit for bit, CYCLES exactly), CLEAR, and one-line
errors for bad parameters. The cocotb bench with cocotbext-axi as bus master is at the bottom."""

import gc
import json

import numpy as np
import pytest

from crosstrain.golden import interpreter, isa
from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.axis_top import AxisTop
from crosstrain.tb import tile_bench
from crosstrain.tb.runner import run_bench
from crosstrain.tb.stream import (AXIS, AXIS_LAST, StreamMonitor, StreamSink, StreamSource, paused_for,
                                  random_pauses)
from crosstrain.tb.testbench import run_amaranth
from crosstrain.tb.words import pack, unpack

P = periphery_params(tile_bench.SMALL_PERIPHERY)
TILE = isa.TileParams(units=1, buffer_depth=32, max_length=4)
I = isa.Instr.make
# the register map of the docstring and docs/fpga.md, written down here on its own
ID, DEPTH, CONTROL, STATUS, WR_ADDR, RD_ADDR, RD_LEN, CYCLES, STALLS = range(0, 0x24, 4)
START, CLEAR, READ = 1, 2, 4
BUSY, DONE, HALTED, ERROR, READING = 1, 2, 4, 8, 16
OKAY, SLVERR = 0, 2


def program_case(seed):
    """``(program, buffer)`` on :data:`TILE`: WRITE the four weight rows from buffer[0:16], an
    MVM of buffer[16:20] stored at 24, an MTVM of buffer[20:24] stored at 28, HALT."""
    rng = np.random.default_rng(seed)
    buf = np.zeros(TILE.buffer_depth, np.int64)
    buf[:16] = rng.integers(-128, 128, 16)
    buf[16:24] = rng.integers(-8, 8, 8)
    prog = [I("WRITE", unit=0, row=r, addr=4 * r, length=4) for r in range(4)]
    prog += [I("LOAD", unit=0, reg=0, offset=0, addr=16, length=4), I("MVM", unit=0),
             I("STORE", unit=0, acc=0, offset=0, addr=24, length=4),
             I("LOAD", unit=0, reg=1, offset=0, addr=20, length=4), I("MTVM", unit=0),
             I("STORE", unit=0, acc=0, offset=0, addr=28, length=4), I("HALT")]
    return prog, buf


#: Cycles any one wait of these tests may take.
TIMEOUT = 2_000


class Regs:
    """An AXI4-Lite master in a :mod:`crosstrain.tb.testbench` bench body, one transfer at a
    time; each handshake is seen on a probe (the edge after that sample completes it)."""

    def __init__(self, tb):
        self.tb = tb
        self.p = {n: tb.probe(f"s_axil__{n}") for n in ("awready", "bvalid", "bresp", "arready",
                                                         "rvalid", "rdata", "rresp")}

    async def _handshake(self, valids, ready):
        for v in valids:
            self.tb.set(f"s_axil__{v}", 1)
        start = self.tb.cycle                         # a sample with the valids driven
        await self.tb.until(lambda: self.tb.cycle > start and self.p[ready].value, timeout=TIMEOUT,
                            what=ready)
        for v in valids:
            self.tb.set(f"s_axil__{v}", 0)

    async def write(self, offset, value):
        """``value`` to byte ``offset``; returns ``bresp``."""
        self.tb.set("s_axil__awaddr", offset)
        self.tb.set("s_axil__wdata", value)
        await self._handshake(("awvalid", "wvalid"), "awready")
        await self._handshake(("bready",), "bvalid")
        return self.p["bresp"].value

    async def read(self, offset, *, resp=OKAY):
        """The register at byte ``offset``, whose response must be ``resp``."""
        self.tb.set("s_axil__araddr", offset)
        await self._handshake(("arvalid",), "arready")
        await self._handshake(("rready",), "rvalid")
        assert self.p["rresp"].value == resp, f"read of {offset:#x}: response {self.p['rresp'].value}"
        return self.p["rdata"].value


def words(dut, values):
    """Signed values as ``s_axis_data`` beats."""
    return [pack([v], dut.data_bits) for v in values]


def values(dut, sink):
    """The signed values a sink took."""
    return [int(unpack(t.value, 1, dut.data_bits, signed=True)[0]) for t in sink.transfers]


def read_back(tb, dut, rng, stall):
    """A sink on ``m_axis_data`` (``tready`` low with probability ``stall`` per cycle) and a
    monitor of its ``tlast``; both check the stream rules."""
    return (tb.add(StreamSink(tb, "m_axis_data", names=AXIS, pause=random_pauses(rng, stall))),
            tb.add(StreamMonitor(tb, "m_axis_data", names=AXIS_LAST)))


def test_register_map_values_and_responses():
    """Reset values, read-only and unmapped offsets (SLVERR, nothing changes), range checks of
    the address and length registers, CONTROL reading 0."""
    dut = AxisTop(params=P, tile=TILE)

    async def body(tb):
        bus = Regs(tb)
        assert await bus.read(ID) == 0x4354_0001
        assert await bus.read(DEPTH) == 32
        for off in (CONTROL, STATUS, WR_ADDR, RD_ADDR, RD_LEN, CYCLES, STALLS):
            assert await bus.read(off) == 0, hex(off)
        assert await bus.read(0x24, resp=SLVERR) == 0
        assert await bus.read(0x3C, resp=SLVERR) == 0
        for off in (ID, DEPTH, STATUS, CYCLES, STALLS, 0x24):
            assert await bus.write(off, 5) == SLVERR, hex(off)
        assert await bus.read(ID) == 0x4354_0001 and await bus.read(CYCLES) == 0
        assert await bus.write(WR_ADDR, 31) == OKAY and await bus.read(WR_ADDR) == 31
        assert await bus.write(WR_ADDR, 32) == SLVERR and await bus.read(WR_ADDR) == 31
        assert await bus.write(RD_ADDR, 7) == OKAY and await bus.read(RD_ADDR) == 7
        # address bits 1:0 are ignored
        assert await bus.write(RD_ADDR + 2, 9) == OKAY and await bus.read(RD_ADDR + 3) == 9
        assert await bus.write(RD_LEN, 32) == OKAY and await bus.read(RD_LEN) == 32
        assert await bus.write(RD_LEN, 33) == SLVERR and await bus.read(RD_LEN) == 32
        assert await bus.write(CONTROL, 0) == OKAY and await bus.read(CONTROL) == 0
        assert await bus.read(STATUS) == 0
        return True

    assert run_amaranth(dut, body)


@pytest.mark.parametrize("seed", [1, 2])
def test_data_streams_under_backpressure(seed):
    """Values in with gaps from WR_ADDR = 5 (wrapping past the end), read back from RD_ADDR = 3
    with ``tready`` low half the cycles: each value where it was written, sign-extended, ``tlast``
    on the last only; READING while the read-back runs; the stream rules hold on both streams."""
    dut = AxisTop(params=P, tile=TILE)
    rng = np.random.default_rng(seed)
    bits, top = dut.value_bits, 1 << (dut.value_bits - 1)
    data = rng.integers(-top, top, 32)
    data[:2] = [-top, top - 1]
    assert dut.data_bits % 8 == 0 and dut.data_bits >= bits

    async def body(tb):
        bus = Regs(tb)
        assert await bus.write(WR_ADDR, 5) == OKAY
        src = tb.add(StreamSource(tb, "s_axis_data", names=AXIS, pause=random_pauses(rng, 0.3)))
        src.send_all(words(dut, data))
        await src.drain(timeout=TIMEOUT)
        assert await bus.read(WR_ADDR) == 5               # 32 values: once around
        assert await bus.write(RD_ADDR, 3) == OKAY and await bus.write(RD_LEN, 30) == OKAY
        sink, last = read_back(tb, dut, rng, 0.5)
        assert await bus.write(CONTROL, READ) == OKAY
        assert await bus.read(STATUS) & READING
        await sink.wait(30, timeout=TIMEOUT)
        await tb.ticks(4)
        assert len(sink.transfers) == 30, "a beat after the last"
        assert await bus.read(STATUS) == 0
        return values(dut, sink), [t.value for t in last.transfers]

    got, lasts = run_amaranth(dut, body)
    buffer = np.roll(data, 5)                             # value k at address (5 + k) % 32
    assert got == [buffer[(3 + k) % 32] for k in range(30)]
    assert lasts == [0] * 29 + [1]


def test_read_back_beside_incoming_values():
    """A read-back of buffer[0:16] (the sink slow: ``tready`` low 60 % of cycles) while new
    values stream into buffer[16:32] through the same host port, all taken before the read-back
    ends: the read-back sees the old values, and the new ones all land (a second read-back)."""
    dut = AxisTop(params=P, tile=TILE)
    rng = np.random.default_rng(5)
    old, new = rng.integers(-100, 100, 16), rng.integers(-100, 100, 16)

    async def body(tb):
        bus = Regs(tb)
        src = tb.add(StreamSource(tb, "s_axis_data", names=AXIS))
        src.send_all(words(dut, old))
        await src.drain(timeout=TIMEOUT)
        assert await bus.write(WR_ADDR, 16) == OKAY and await bus.write(RD_LEN, 16) == OKAY
        sink, _ = read_back(tb, dut, rng, 0.6)
        assert await bus.write(CONTROL, READ) == OKAY
        src.send_all(words(dut, new))
        await sink.wait(16, timeout=TIMEOUT)
        assert src.idle and src.transfers[-1].cycle < sink.transfers[-1].cycle, \
            "the new values were not all taken during the read-back"
        first = values(dut, sink)
        assert await bus.read(WR_ADDR) == 0                  # 16 values from 16: wrapped to 0
        tb.remove(sink)
        sink, _ = read_back(tb, dut, rng, 0.3)
        assert await bus.write(RD_ADDR, 16) == OKAY and await bus.write(CONTROL, READ) == OKAY
        await sink.wait(16, timeout=TIMEOUT)
        return first, values(dut, sink)

    first, second = run_amaranth(dut, body)
    assert first == old.tolist() and second == new.tolist()


@pytest.mark.parametrize("cmd_stall", [0.0, 0.4])
def test_program_through_the_streams_matches_golden(cmd_stall):
    """The buffer and the program in through the streams, START, STATUS polled until DONE, the
    buffer back out: bit for bit the interpreter's. Words queued back to back before START:
    CYCLES is the interpreter's count exactly; with gaps in ``s_axis_cmd`` it is longer and the
    values the same (the first word 5 cycles late: at least 5 cycles more). Then CLEAR: STATUS
    and CYCLES back at 0, and the same program runs again."""
    prog, buf = program_case(3)
    want = interpreter.run(prog, TILE, P.cfg, buf)
    assert not np.array_equal(want.buffer, buf)
    dut = AxisTop(params=P, tile=TILE)
    program = [isa.encode(i, TILE) for i in prog]
    rng = np.random.default_rng(7)

    async def one_run(tb, bus):
        assert await bus.write(WR_ADDR, 0) == OKAY
        src = tb.add(StreamSource(tb, "s_axis_data", names=AXIS))
        src.send_all(words(dut, buf))
        await src.drain(timeout=TIMEOUT)
        if not cmd_stall:                                  # offered before START: not taken
            cmd = tb.add(StreamSource(tb, "s_axis_cmd", names=AXIS))
            cmd.send_all(program)
            await tb.ticks(3)
            assert not cmd.transfers
        assert await bus.write(CONTROL, START) == OKAY
        if cmd_stall:                                      # from the first started cycle on
            cmd = tb.add(StreamSource(tb, "s_axis_cmd", names=AXIS,
                                      pause=paused_for(5, random_pauses(rng, cmd_stall))))
            cmd.send_all(program)
        status = await bus.read(STATUS)
        while not status & DONE:
            assert status & BUSY
            status = await bus.read(STATUS)
        assert status == DONE | HALTED and cmd.idle, status
        cycles, stalls = await bus.read(CYCLES), await bus.read(STALLS)
        assert await bus.write(RD_ADDR, 0) == OKAY and await bus.write(RD_LEN, 32) == OKAY
        sink, _ = read_back(tb, dut, rng, 0.3)
        assert await bus.write(CONTROL, READ) == OKAY
        await sink.wait(32, timeout=TIMEOUT)
        tb.remove(src, cmd, sink)
        return cycles, stalls, np.array(values(dut, sink))

    async def body(tb):
        bus = Regs(tb)
        first = await one_run(tb, bus)
        assert await bus.write(CONTROL, CLEAR | START) == OKAY          # CLEAR wins
        assert await bus.read(STATUS) == 0 and await bus.read(CYCLES) == 0
        return first, await one_run(tb, bus)

    for cycles, stalls, got in run_amaranth(dut, body):
        bad = np.flatnonzero(got != want.buffer)
        assert not len(bad), f"buffer[{bad[0]}] = {got[bad[0]]}, golden {want.buffer[bad[0]]}"
        assert stalls == 0
        if cmd_stall:
            assert cycles >= want.cycles + 5
        else:
            assert cycles == want.cycles


@pytest.mark.parametrize("kw, error, match", [
    ({"value_bits": 3}, ConfigError, r"value_bits = 3 is not allowed"),
    ({"tile": isa.TileParams(units=1, buffer_depth=8, max_length=3)}, ConfigError,
     r"tile.max_length = 3 is below the 4 x 4 crossbar's larger side: use max_length >= 4"),
    ({"tile": {"units": 1}}, TypeError, r"tile must be a crosstrain.golden.isa.TileParams"),
    ({"params": "panther"}, TypeError, r"params must be"),
])
@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_bad_parameters_are_one_line(kw, error, match):
    with pytest.raises(error, match=match) as e:
        AxisTop(**{"params": P, "tile": TILE, **kw})
    assert "\n" not in str(e.value)
    with pytest.raises(TypeError):
        AxisTop(P, TILE)                             # keyword-only
    del e
    gc.collect()


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
def test_cocotb_bench_with_cocotbext_axi(simulator):
    """tb/axis_top_bench.py in the exported Verilog, cocotbext-axi driving the register map and
    the streams (with pauses on the data streams): a random program of every kind and a short
    LOOP case on tile_bench's four-unit tile, buffer bit for bit and CYCLES exactly the
    interpreter's (checked in the bench)."""
    pytest.importorskip("cocotbext.axi", reason="cocotbext-axi is in the sim extra: pip install -e '.[sim]'")
    tile, value_bits = tile_bench.SMALL_TILE, 32
    cases = [{"kind": "random", "seed": 511}, {"kind": "loop", "iterations": 3, "rounds": 1}]
    tests, failed = run_bench(AxisTop(params=P, tile=tile, value_bits=value_bits), design="axis_top",
                              params=tile_bench.design_params(P, tile, value_bits), simulator=simulator,
                              test_module="crosstrain.tb.axis_top_bench",
                              extra_env={tile_bench.CASES_ENV: json.dumps(cases)}, ports_only=True)
    assert (tests, failed) == (1, 0)
