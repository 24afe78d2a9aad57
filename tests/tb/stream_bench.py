"""Trivial stream components and one bench body for the tests of the bench library
(tests/tb/test_stream.py): the body runs in amaranth.sim and, through the cocotb tests at the
bottom, in Icarus and Verilator.

:class:`RegisterSlice` is a one-entry stream register (``o`` valid the cycle after ``i`` is
taken; ``i.ready = ~o.valid | o.ready``) that keeps the reset rule of docs/rtl.md: no handshake
while ``rst`` is high. :class:`PlainFifo` wraps ``amaranth.lib.fifo.SyncFIFO``, which does not
(its ``w_rdy`` is high in reset), and :class:`Unruly` breaks the stream rules, for the tests
that the agents catch them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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


#: Where the cocotb test ``random_gaps_and_stalls`` writes the cycle stamps it saw (JSON).
STAMPS_ENV = "CROSSTRAIN_STREAM_STAMPS"


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


class Unruly(wiring.Component):
    """A stream producer that breaks the rules on purpose: ``o.valid`` is high every other
    cycle whatever ``o.ready`` says (``drop_valid``), or always high with a payload that counts
    up every cycle (``move_payload``)."""

    def __init__(self, *, drop_valid: bool):
        self.drop_valid = drop_valid
        super().__init__({"o": Out(stream.Signature(item_layout(8)))})

    def elaborate(self, platform):
        m = Module()
        count = Signal(8)
        m.d.sync += count.eq(count + 1)
        m.d.comb += [self.o.valid.eq(count[0] if self.drop_valid else 1),
                     self.o.payload.value.eq(0 if self.drop_valid else count)]
        return m


def stamps(src, sink, start=0) -> dict:
    return {"in": [t.cycle - start for t in src.transfers], "out": [t.cycle - start for t in sink.transfers]}


@cocotb.test()
async def random_gaps_and_stalls(dut):
    d = bench_params()
    src, sink = await run_cocotb(dut, lambda tb: pass_through(
        tb, width=d["width"], n=60, seed=d["seed"], gaps=0.3, stalls=0.4))
    check_pass_through(src, sink, latency=None, note=f"seed {d['seed']}")
    Path(os.environ[STAMPS_ENV]).write_text(json.dumps(stamps(src, sink)))


@cocotb.test()
async def back_to_back_latency(dut):
    d = bench_params()
    src, sink = await run_cocotb(dut, lambda tb: pass_through(
        tb, width=d["width"], n=20, seed=d["seed"], gaps=0.0, stalls=0.0))
    check_pass_through(src, sink, latency=1, note=f"seed {d['seed']}")
    assert [t.cycle for t in src.transfers] == list(range(src.transfers[0].cycle,
                                                          src.transfers[0].cycle + 20))


@cocotb.test()
async def reset_loses_only_what_the_slice_held(dut):
    d = bench_params()
    src, sink, start = await run_cocotb(dut, lambda tb: reset_mid_stream(
        tb, width=d["width"], n=20, seed=d["seed"]))
    check_reset(src, sink, start)


def check_reset(src, sink, start: int) -> None:
    """Nothing moves in the three reset cycles; the item the slice held when the reset came is
    the only one lost; everything else arrives in order."""
    assert not [t for t in src.transfers + sink.transfers if start <= t.cycle < start + 3]
    before = [t.value for t in src.transfers if t.cycle < start]
    after = [t.value for t in src.transfers if t.cycle >= start]
    got = [t.value for t in sink.transfers]
    lost = len(before) + len(after) - len(got)
    assert lost == 1 and got == before[:-1] + after, f"{lost} items lost"
