"""crosstrain.tb.stream: source, sink and monitor over trivial stream components
(tests/tb/stream_bench.py), in amaranth.sim and, with the same bodies, in Icarus and Verilator."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from crosstrain.rtl.axis_top import AxiStreamSignature
from crosstrain.tb.runner import run_bench
from crosstrain.tb.stream import (AXIS, AXIS_LAST, ProtocolError, StreamMonitor, StreamSink, StreamSource,
                                  paused_for, random_pauses)
from crosstrain.tb.testbench import run_amaranth
from crosstrain.tb.words import Codec

sys.path.insert(0, str(Path(__file__).parent))
from stream_bench import (  # noqa: E402  (the cocotb module beside this file)
    STAMPS_ENV,
    PlainFifo,
    RegisterSlice,
    Unruly,
    check_pass_through,
    check_reset,
    item_layout,
    pass_through,
    random_items,
    reset_mid_stream,
    stamps,
)


@pytest.mark.parametrize("seed", range(4))
def test_random_gaps_and_stalls_pass_every_item_in_order(seed):
    src, sink = run_amaranth(RegisterSlice(8), lambda tb: pass_through(
        tb, width=8, n=80, seed=seed, gaps=0.3, stalls=0.4))
    assert len(src.transfers) == 80
    check_pass_through(src, sink, latency=None, note=f"seed={seed}")
    # the pauses did act: some cycles without a transfer on each side
    for t in (src.transfers, sink.transfers):
        assert t[-1].cycle - t[0].cycle + 1 > len(t), f"seed={seed}"


def test_back_to_back_stamps_are_the_transfer_cycles():
    """Always ready, no gaps: the slice takes one item per cycle and hands it on one cycle
    later; a passive monitor on ``i`` stamps exactly the source's transfers."""
    codec = Codec(item_layout(8))

    async def body(tb):
        await tb.reset()
        mon = tb.add(StreamMonitor(tb, "i", codec=codec))
        src = tb.add(StreamSource(tb, "i", codec=codec))
        sink = tb.add(StreamSink(tb, "o", codec=codec))
        first = tb.cycle
        src.send_all(random_items(8, 10, 3))
        await sink.wait(10, timeout=30)
        return first, mon, src, sink

    first, mon, src, sink = run_amaranth(RegisterSlice(8), body)
    assert [t.cycle for t in src.transfers] == list(range(first, first + 10))
    assert mon.transfers == src.transfers
    check_pass_through(src, sink, latency=1, note="back to back")


def test_pauses_set_the_gaps_and_the_stalls():
    """A source paused for 5 cycles offers nothing before; a sink paused for 7 takes nothing
    before; with both always-paused generators after, nothing moves at all."""
    codec = Codec(item_layout(8))

    async def body(tb):
        start = tb.cycle
        src = tb.add(StreamSource(tb, "i", codec=codec, pause=paused_for(5)))
        sink = tb.add(StreamSink(tb, "o", codec=codec, pause=paused_for(7)))
        src.send_all(random_items(8, 3, 0))
        await sink.wait(3, timeout=40)
        return start, src, sink

    start, src, sink = run_amaranth(RegisterSlice(8), body)
    assert src.transfers[0].cycle - start == 5           # offered in cycle 5, taken at once
    assert sink.transfers[0].cycle - start == 7          # waits in the slice until ready
    rng = np.random.default_rng(0)
    gen = random_pauses(rng, 0.25)
    assert abs(np.mean([next(gen) for _ in range(4000)]) - 0.25) < 0.03


@pytest.mark.parametrize("drop_valid, rule", [(True, "valid dropped before the transfer"),
                                               (False, "payload changed before the transfer")])
def test_the_sink_catches_a_broken_stream_rule(drop_valid, rule):
    async def body(tb):
        tb.add(StreamSink(tb, "o", pause=paused_for(10)))
        await tb.ticks(20)

    with pytest.raises(ProtocolError, match=rule):
        run_amaranth(Unruly(drop_valid=drop_valid), body)


def test_reset_loses_only_what_the_component_held():
    src, sink, start = run_amaranth(RegisterSlice(8), lambda tb: reset_mid_stream(
        tb, width=8, n=20, seed=1))
    check_reset(src, sink, start)


def test_a_handshake_in_reset_is_a_protocol_error():
    """SyncFIFO is ready while rst is high: the source offering through the reset catches it."""
    with pytest.raises(ProtocolError, match="i: handshake while rst is high"):
        run_amaranth(PlainFifo(8), lambda tb: reset_mid_stream(tb, width=8, n=20, seed=1))


def test_a_flow_source_presents_each_word_for_one_cycle():
    """``ready=False``: every offered cycle is a transfer; a flow monitor sees each word once,
    one cycle later through the slice (``o`` always ready)."""
    codec = Codec(item_layout(8))

    async def body(tb):
        tb.set("o__ready", 1)
        src = tb.add(StreamSource(tb, "i", codec=codec, ready=False, pause=paused_for(2)))
        mon = tb.add(StreamMonitor(tb, "o", codec=codec, ready=False))
        src.send_all(random_items(8, 6, 2))
        await mon.wait(6, timeout=30)
        return src, mon

    src, mon = run_amaranth(RegisterSlice(8), body)
    check_pass_through(src, mon, latency=1, note="flow")


class AxisWire(wiring.Component):
    """``s_axis`` wired to ``m_axis`` (AXI4-Stream), ``tlast`` out = ``tdata[0]`` in."""

    def __init__(self):
        super().__init__({"s_axis": In(AxiStreamSignature(8)),
                          "m_axis": Out(AxiStreamSignature(8, last=True))})

    def elaborate(self, platform):
        m = Module()
        i, o = self.s_axis, self.m_axis
        m.d.comb += [o.tdata.eq(i.tdata), o.tvalid.eq(i.tvalid), o.tlast.eq(i.tdata[0]),
                     i.tready.eq(o.tready)]
        return m


def test_axi_stream_names():
    """``names=AXIS`` binds ``PREFIX__tvalid/tready/tdata``, ``AXIS_LAST`` reads ``tlast`` as the
    payload: every item through the wire with gaps and stalls, each ``tlast`` its bit 0."""
    items = np.random.default_rng(4).integers(0, 256, 30).tolist()

    async def body(tb):
        rng = np.random.default_rng(4)
        src = tb.add(StreamSource(tb, "s_axis", names=AXIS, pause=random_pauses(rng, 0.3)))
        sink = tb.add(StreamSink(tb, "m_axis", names=AXIS, pause=random_pauses(rng, 0.3)))
        last = tb.add(StreamMonitor(tb, "m_axis", names=AXIS_LAST))
        src.send_all(items)
        await sink.wait(30, timeout=200)
        return [t.value for t in sink.transfers], [t.value for t in last.transfers]

    data, lasts = run_amaranth(AxisWire(), body)
    assert data == items and lasts == [v & 1 for v in items]


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_the_same_bodies_in_cocotb(simulator, tmp_path, monkeypatch):
    """The bodies above, in Icarus and Verilator: the same checks pass, and the cycle stamps of
    the random run equal amaranth.sim's for the same seed."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))           # cocotb imports the module
    out = tmp_path / "stamps.json"
    tests, failed = run_bench(RegisterSlice(8), design="register_slice",
                              params={"width": 8, "seed": 5}, simulator=simulator,
                              test_module="stream_bench", extra_env={STAMPS_ENV: str(out)})
    assert (tests, failed) == (3, 0)
    src, sink = run_amaranth(RegisterSlice(8), lambda tb: pass_through(
        tb, width=8, n=60, seed=5, gaps=0.3, stalls=0.4))
    assert json.loads(out.read_text()) == stamps(src, sink)
