"""The AXI top in amaranth.sim: its register map (values, access, responses), its data streams
under back-pressure (the stream rules checked every cycle), a program through the command stream
against crosstrain.golden.interpreter (buffer bit for bit, CYCLES exactly), CLEAR, and one-line
errors for bad parameters. The cocotb bench with cocotbext-axi as bus master is at the bottom."""

import gc
import json

import numpy as np
import pytest
from amaranth.sim import Simulator

from crosstrain.golden import interpreter, isa
from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.axis_top import AxisTop
from crosstrain.tb import tile_bench
from crosstrain.tb.runner import run_bench
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


class Bus:
    """An AXI4-Lite master in an amaranth.sim testbench (one transfer at a time); the streams'
    source and sink are :func:`send` and :func:`receive`."""

    def __init__(self, dut, ctx):
        self.dut, self.ctx = dut, ctx

    async def write(self, offset, value):
        ctx, b = self.ctx, self.dut.s_axil
        ctx.set(b.awaddr, offset)
        ctx.set(b.wdata, value)
        ctx.set(b.awvalid, 1)
        ctx.set(b.wvalid, 1)
        await ctx.tick().until(b.awready)
        ctx.set(b.awvalid, 0)
        ctx.set(b.wvalid, 0)
        ctx.set(b.bready, 1)
        resp, = await ctx.tick().sample(b.bresp).until(b.bvalid)
        ctx.set(b.bready, 0)
        return resp

    async def read(self, offset, *, resp=OKAY):
        ctx, b = self.ctx, self.dut.s_axil
        ctx.set(b.araddr, offset)
        ctx.set(b.arvalid, 1)
        await ctx.tick().until(b.arready)
        ctx.set(b.arvalid, 0)
        ctx.set(b.rready, 1)
        data, got = await ctx.tick().sample(b.rdata, b.rresp).until(b.rvalid)
        ctx.set(b.rready, 0)
        assert got == resp, f"read of {offset:#x}: response {got}, not {resp}"
        return data


async def send(ctx, port, words, rng=None, stall=0.0):
    """``words`` on AXI4-Stream slave ``port``, with ``tvalid`` low for random cycles between
    beats (probability ``stall`` per cycle) when ``rng`` is given."""
    for w in words:
        while rng is not None and rng.random() < stall:
            ctx.set(port.tvalid, 0)
            await ctx.tick()
        ctx.set(port.tdata, w)
        ctx.set(port.tvalid, 1)
        await ctx.tick().until(port.tready)
    ctx.set(port.tvalid, 0)


async def receive(ctx, port, n, rng, stall):
    """``n`` beats ``(tdata, tlast)`` from AXI4-Stream master ``port``, ``tready`` low in random
    cycles (probability ``stall``); asserts that a beat not taken holds until taken."""
    got, held = [], None
    while len(got) < n:
        ready = rng.random() >= stall
        ctx.set(port.tready, ready)
        _, _, valid, data, last = await ctx.tick().sample(port.tvalid, port.tdata, port.tlast)
        if held is not None:
            assert valid and (data, last) == held, f"beat {len(got)}: {held} withdrawn or changed"
        held = None
        if valid and ready:
            got.append((data, last))
        elif valid:
            held = (data, last)
    ctx.set(port.tready, 0)
    return got


def run(dut, body, *background):
    """``body(bus)`` as the testbench of ``dut``, with ``background`` testbenches (``f(ctx)``)
    beside it; returns what ``body`` returns."""
    out = {}

    async def bench(ctx):
        out["result"] = await body(Bus(dut, ctx))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    for f in background:
        sim.add_testbench(f, background=True)
    sim.run()
    return out["result"]


def test_register_map_values_and_responses():
    """Reset values, read-only and unmapped offsets (SLVERR, nothing changes), range checks of
    the address and length registers, CONTROL reading 0."""
    dut = AxisTop(params=P, tile=TILE)

    async def body(bus):
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
        assert await bus.write(RD_ADDR + 2, 9) == OKAY and await bus.read(RD_ADDR + 3) == 9  # bits 1:0 ignored
        assert await bus.write(RD_LEN, 32) == OKAY and await bus.read(RD_LEN) == 32
        assert await bus.write(RD_LEN, 33) == SLVERR and await bus.read(RD_LEN) == 32
        assert await bus.write(CONTROL, 0) == OKAY and await bus.read(CONTROL) == 0
        assert await bus.read(STATUS) == 0
        return True

    assert run(dut, body)


@pytest.mark.parametrize("seed", [1, 2])
def test_data_streams_under_backpressure(seed):
    """Values in with gaps from WR_ADDR = 5 (wrapping past the end), read back from RD_ADDR = 3
    with ``tready`` low half the cycles: each value where it was written, sign-extended, ``tlast``
    on the last only; READING while the read-back runs."""
    dut = AxisTop(params=P, tile=TILE)
    rng = np.random.default_rng(seed)
    bits, top = dut.value_bits, 1 << (dut.value_bits - 1)
    values = rng.integers(-top, top, 32)
    values[:2] = [-top, top - 1]
    assert dut.data_bits % 8 == 0 and dut.data_bits >= bits

    async def body(bus):
        ctx = bus.ctx
        assert await bus.write(WR_ADDR, 5) == OKAY
        await send(ctx, dut.s_axis_data, [pack([v], dut.data_bits) for v in values], rng, 0.3)
        assert await bus.read(WR_ADDR) == 5               # 32 values: once around
        assert await bus.write(RD_ADDR, 3) == OKAY and await bus.write(RD_LEN, 30) == OKAY
        assert await bus.write(CONTROL, READ) == OKAY
        assert await bus.read(STATUS) & READING
        beats = await receive(ctx, dut.m_axis_data, 30, rng, 0.5)
        for _ in range(4):
            await ctx.tick()
        assert not ctx.get(dut.m_axis_data.tvalid), "a beat after the last"
        assert await bus.read(STATUS) == 0
        return beats

    beats = run(dut, body)
    buffer = np.roll(values, 5)                           # value k at address (5 + k) % 32
    want = [buffer[(3 + k) % 32] for k in range(30)]
    got = [int(unpack(d, 1, dut.data_bits, signed=True)[0]) for d, _ in beats]
    assert got == want
    assert [last for _, last in beats] == [0] * 29 + [1]


def test_read_back_beside_incoming_values():
    """A read-back of buffer[0:16] (the sink slow: ``tready`` low 60 % of cycles) while new
    values stream into buffer[16:32] through the same host port, all sent before the read-back
    ends: the read-back sees the old values, and the new ones all land (a second read-back)."""
    dut = AxisTop(params=P, tile=TILE)
    rng = np.random.default_rng(5)
    old, new = rng.integers(-100, 100, 16), rng.integers(-100, 100, 16)
    state = {"go": False, "sent": False}

    def words(values):
        return [pack([v], dut.data_bits) for v in values]

    async def body(bus):
        ctx = bus.ctx
        await send(ctx, dut.s_axis_data, words(old))
        assert await bus.write(WR_ADDR, 16) == OKAY and await bus.write(RD_LEN, 16) == OKAY
        assert await bus.write(CONTROL, READ) == OKAY
        state["go"] = True
        first = await receive(ctx, dut.m_axis_data, 16, rng, 0.6)
        assert state["sent"], "the new values were not all sent during the read-back"
        assert await bus.read(WR_ADDR) == 0                  # 16 values from 16: wrapped to 0
        assert await bus.write(RD_ADDR, 16) == OKAY and await bus.write(CONTROL, READ) == OKAY
        return first, await receive(ctx, dut.m_axis_data, 16, rng, 0.3)

    async def incoming(ctx):
        while not state["go"]:
            await ctx.tick()
        await send(ctx, dut.s_axis_data, words(new))
        state["sent"] = True

    first, second = run(dut, body, incoming)
    for beats, want in ((first, old), (second, new)):
        assert [int(unpack(d, 1, dut.data_bits, signed=True)[0]) for d, _ in beats] == want.tolist()


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
    words = [isa.encode(i, TILE) for i in prog]
    rng = np.random.default_rng(7)

    async def one_run(bus):
        ctx = bus.ctx
        assert await bus.write(WR_ADDR, 0) == OKAY
        await send(ctx, dut.s_axis_data, [pack([v], dut.data_bits) for v in buf])
        ctx.set(dut.s_axis_cmd.tdata, words[0])
        ctx.set(dut.s_axis_cmd.tvalid, 1)              # offered before START: not taken
        for _ in range(3):
            await ctx.tick()
            assert not ctx.get(dut.s_axis_cmd.tready)
        assert await bus.write(CONTROL, START) == OKAY
        if cmd_stall:
            ctx.set(dut.s_axis_cmd.tvalid, 0)
            await ctx.tick().repeat(5)
        await send(ctx, dut.s_axis_cmd, words, rng if cmd_stall else None, cmd_stall)
        status = await bus.read(STATUS)
        while not status & DONE:
            assert status & BUSY
            status = await bus.read(STATUS)
        assert status == DONE | HALTED, status
        cycles, stalls = await bus.read(CYCLES), await bus.read(STALLS)
        assert await bus.write(RD_ADDR, 0) == OKAY and await bus.write(RD_LEN, 32) == OKAY
        assert await bus.write(CONTROL, READ) == OKAY
        beats = await receive(ctx, dut.m_axis_data, 32, rng, 0.3)
        return cycles, stalls, np.array([unpack(d, 1, dut.data_bits, signed=True)[0] for d, _ in beats])

    async def body(bus):
        first = await one_run(bus)
        assert await bus.write(CONTROL, CLEAR | START) == OKAY          # CLEAR wins
        assert await bus.read(STATUS) == 0 and await bus.read(CYCLES) == 0
        return first, await one_run(bus)

    for cycles, stalls, got in run(dut, body):
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
