"""Bench of crosstrain.rtl.axis_top.AxisTop in cocotb, with cocotbext-axi as the bus master: an
``AxiLiteMaster`` on the register map, ``AxiStreamSource`` s on ``s_axis_cmd`` and
``s_axis_data``, an ``AxiStreamSink`` on ``m_axis_data``.

The cases are :mod:`crosstrain.tb.tile_bench`'s (``CROSSTRAIN_TILE_CASES``, the same JSON; the
design's parameters :func:`crosstrain.tb.tile_bench.design_params`). Each case, as a host would
run it: CLEAR; WR_ADDR 0 and the buffer on ``s_axis_data`` (with pauses); the program's words
queued on ``s_axis_cmd`` as one frame; START; STATUS polled until DONE; CYCLES and STALLS read;
RD_ADDR 0, RD_LEN the buffer's depth, READ, and the buffer received on ``m_axis_data`` as one
frame (``tlast`` on its last value; the sink pauses). :func:`crosstrain.tb.tile_bench.check`
then compares the buffer bit for bit and CYCLES exactly with the interpreter's.

The Verilog names the ports ``s_axis_cmd__tdata`` (Amaranth joins a port's path with ``__``), so
every bus is found with cocotb-bus's ``bus_separator="__"`` (``AxiStreamBus.from_prefix(dut,
"s_axis_cmd", bus_separator="__")``); no wrapper renames them. Each beat carries one value
(``byte_lanes=1``: the whole ``tdata`` is one lane).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiResp, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from crosstrain.golden import isa
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.rtl.axis_top import CLEAR, DONE, ERROR, READ, REGISTERS, START
from crosstrain.tb.runner import bench_params
from crosstrain.tb.tile_bench import CASES_ENV, TileRun, case_note, case_program, check, timeout_for
from crosstrain.tb.words import pack, unpack

PERIOD_NS = 10


class Host:
    """The bus masters on an :class:`~crosstrain.rtl.axis_top.AxisTop`'s ports."""

    def __init__(self, dut, data_bits: int):
        def stream(name):
            return AxiStreamBus.from_prefix(dut, name, bus_separator="__")

        self.dut, self.data_bits = dut, data_bits
        self.regs = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil", bus_separator="__"), dut.clk, dut.rst)
        self.cmd = AxiStreamSource(stream("s_axis_cmd"), dut.clk, dut.rst, byte_lanes=1)
        self.din = AxiStreamSource(stream("s_axis_data"), dut.clk, dut.rst, byte_lanes=1)
        self.dout = AxiStreamSink(stream("m_axis_data"), dut.clk, dut.rst, byte_lanes=1)
        # pauses: the input stream idles one cycle in three, the sink two in five
        self.din.set_pause_generator(itertools.cycle([0, 0, 1]))
        self.dout.set_pause_generator(itertools.cycle([0, 1, 0, 1, 0]))

    async def read(self, name: str) -> int:
        r = await self.regs.read(4 * REGISTERS.index(name), 4)
        assert r.resp == AxiResp.OKAY, f"read of {name}: {r.resp!r}"
        return int.from_bytes(r.data, "little")

    async def write(self, name: str, value: int) -> None:
        r = await self.regs.write(4 * REGISTERS.index(name), int(value).to_bytes(4, "little"))
        assert r.resp == AxiResp.OKAY, f"write of {value} to {name}: {r.resp!r}"

    async def run(self, words: list[int], buffer, *, timeout: int) -> TileRun:
        """One program, as the module docstring says; ``timeout`` bounds its cycles."""
        await self.write("CONTROL", CLEAR)
        await self.write("WR_ADDR", 0)
        await self.din.send(AxiStreamFrame([pack([v], self.data_bits) for v in buffer]))
        await self.din.wait()
        assert await self.read("WR_ADDR") == len(buffer) % int(await self.read("DEPTH"))
        await self.cmd.send(AxiStreamFrame(words))
        t0 = time.perf_counter()
        await self.write("CONTROL", START)
        polls = timeout // 2 + 10                      # a read takes at least two cycles
        while not (status := await self.read("STATUS")) & DONE:
            polls -= 1
            assert polls > 0, f"stuck: DONE not set within {timeout} cycles (STATUS {status:#x})"
        run_s = time.perf_counter() - t0
        assert self.cmd.empty() and not self.cmd.active, "program words left after DONE"
        cycles, stalls = await self.read("CYCLES"), await self.read("STALLS")
        await self.write("RD_ADDR", 0)
        await self.write("RD_LEN", len(buffer))
        await self.write("CONTROL", READ)
        frame = await self.dout.recv()
        assert len(frame.tdata) == len(buffer), f"tlast after {len(frame.tdata)} of {len(buffer)} values"
        got = np.array([unpack(v, 1, self.data_bits, signed=True)[0] for v in frame.tdata], np.int64)
        return TileRun(buffer=got, cycles=cycles, error=int(bool(status & ERROR)), stalls=stalls, run_s=run_s)


@cocotb.test()
async def programs_match_golden(dut):
    """Every case of ``CROSSTRAIN_TILE_CASES`` through the AXI ports, checked against the
    interpreter (a case with ``"check": false`` is only run); logs one ``axis case`` JSON line
    per case."""
    d = bench_params()
    p, tile = PeripheryParams.from_dict(d["periphery"]), isa.TileParams(**d["tile"])
    cases = json.loads(os.environ[CASES_ENV])
    for bus in ("s_axil", "s_axis_cmd", "s_axis_data", "m_axis_data"):     # else a line per transfer
        logging.getLogger(f"cocotb.{dut._name}.{bus}").setLevel(logging.WARNING)
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    host = Host(dut, len(dut.s_axis_data__tdata))
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 1)
    assert await host.read("ID") == 0x4354_0001
    assert await host.read("DEPTH") == tile.buffer_depth
    for case in cases:
        program, buffer = case_program(p, tile, case)
        run = await host.run([isa.encode(i, tile) for i in program], buffer, timeout=timeout_for(p, program))
        if case.get("check", True):
            check(p, tile, program, buffer, run, case_note(case))
        dut._log.info("axis case " + json.dumps({"case": case_note(case), "cycles": run.cycles,
                                                 "run_s": run.run_s}))
