"""Trivial stream components and one bench body for the tests of the bench library
(tests/tb/test_stream.py): the body runs in amaranth.sim and, through the cocotb tests at the
bottom, in Icarus and Verilator.

:class:`RegisterSlice` is a one-entry stream register (``o`` valid the cycle after ``i`` is
taken; ``i.ready = ~o.valid | o.ready``) that keeps the reset rule of docs/rtl.md: no handshake
while ``rst`` is high. :class:`PlainFifo` wraps ``amaranth.lib.fifo.SyncFIFO``, which does not
(its ``w_rdy`` is high in reset), for the test that the agents catch it.
"""

from __future__ import annotations

import cocotb
import numpy as np
from amaranth.hdl import Module, ResetSignal, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.tb.runner import bench_params
from crosstrain.tb.scoreboard import Scoreboard
from crosstrain.tb.stream import StreamSink, StreamSource, random_pauses
from crosstrain.tb.testbench import run_cocotb
from crosstrain.tb.words import Codec


def item_layout(width: int) -> data.StructLayout:
    return data.StructLayout({"value": width, "tag": 3})


class RegisterSlice(wiring.Component):
    """``i`` to ``o`` through one register; a transfer on ``i`` at edge ``e`` is offered on
    ``o`` from edge ``e``, so with ``o`` always ready it leaves at edge ``e + 1``."""

    def __init__(self, width: int = 8):
        self.width = width
        super().__init__({"i": In(stream.Signature(item_layout(width))),
                          "o": Out(stream.Signature(item_layout(width)))})

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        rst = ResetSignal()
        m.d.comb += [self.i.ready.eq((~full | self.o.ready) & ~rst), self.o.valid.eq(full & ~rst)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [full.eq(1), self.o.payload.eq(self.i.payload)]
        with m.Elif(self.o.ready):
            m.d.sync += full.eq(0)
        return m


class PlainFifo(wiring.Component):
    """``SyncFIFO(depth=4)`` behind stream ports: ready in reset (breaks the reset rule)."""

    def __init__(self, width: int = 8):
        super().__init__({"i": In(stream.Signature(item_layout(width))),
                          "o": Out(stream.Signature(item_layout(width)))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.q = q = fifo.SyncFIFO(width=len(self.i.payload.as_value()), depth=4)
        m.d.comb += [q.w_en.eq(self.i.valid), q.w_data.eq(self.i.payload), self.i.ready.eq(q.w_rdy),
                     self.o.valid.eq(q.r_rdy), self.o.payload.eq(q.r_data), q.r_en.eq(self.o.ready)]
        return m


def random_items(width: int, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"value": int(v), "tag": int(t)}
            for v, t in zip(rng.integers(0, 1 << width, n), rng.integers(0, 8, n))]


async def pass_through(tb, *, width: int, n: int, seed: int, gaps: float, stalls: float):
    """Send ``n`` random items through ``i`` (random gaps) and take them from ``o`` (random
    stalls); returns the source and the sink."""
    codec = Codec(item_layout(width))
    rng = np.random.default_rng(seed)
    await tb.reset()
    src = tb.add(StreamSource(tb, "i", codec=codec, pause=random_pauses(rng, gaps)))
    sink = tb.add(StreamSink(tb, "o", codec=codec, pause=random_pauses(rng, stalls)))
    src.send_all(random_items(width, n, seed))
    await sink.wait(n, timeout=50 * n)
    return src, sink


async def reset_mid_stream(tb, *, width: int, n: int, seed: int):
    """As :func:`pass_through` (always ready, no gaps), with a three-cycle reset once half the
    items came out. Returns the source, the sink and the first cycle of the reset."""
    codec = Codec(item_layout(width))
    await tb.reset()
    src = tb.add(StreamSource(tb, "i", codec=codec))
    sink = tb.add(StreamSink(tb, "o", codec=codec))
    src.send_all(random_items(width, n, seed))
    await sink.wait(n // 2, timeout=50 * n)
    start = tb.cycle
    await tb.reset(3)
    await src.drain(timeout=50 * n)
    await tb.ticks(3)
    return src, sink, start


def check_pass_through(src, sink, *, latency: int | None, note: str) -> None:
    """Every item taken from ``i`` leaves ``o`` unchanged and in order; with ``latency`` (``o``
    always ready) each leaves exactly that many cycles after it was taken."""
    sb = Scoreboard("o", note=note)
    for t in src.transfers:
        sb.expect(t.value, cycle=None if latency is None else t.cycle + latency)
    sb.check(sink.transfers)


@cocotb.test()
async def random_gaps_and_stalls(dut):
    d = bench_params()
    src, sink = await run_cocotb(dut, lambda tb: pass_through(
        tb, width=d["width"], n=60, seed=d["seed"], gaps=0.3, stalls=0.4))
    check_pass_through(src, sink, latency=None, note=f"seed {d['seed']}")


@cocotb.test()
async def back_to_back_latency(dut):
    d = bench_params()
    src, sink = await run_cocotb(dut, lambda tb: pass_through(
        tb, width=d["width"], n=20, seed=d["seed"], gaps=0.0, stalls=0.0))
    check_pass_through(src, sink, latency=1, note=f"seed {d['seed']}")
    assert [t.cycle for t in src.transfers] == list(range(src.transfers[0].cycle,
                                                          src.transfers[0].cycle + 20))
