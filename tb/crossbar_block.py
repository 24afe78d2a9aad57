"""Python model of one crossbar block behind :class:`crosstrain.rtl.crossbar_unit.CrossbarUnit`'s unified
port: the update slices and the forward / backward copies (:class:`crosstrain.tb.update_array.UpdateArrayModel`)
with the analog MVM of :class:`crosstrain.tb.analog.AnalogCrossbar` reading the copies.

Per cycle, :meth:`CrossbarBlock.cycle` takes the port's strobes (small ints) and reads the wide
words only on the events that need them (a sample's drive, a phase start's pieces, a write's
first cycle), through callables; it returns the codes to present in the next cycle (registered),
or ``None``. :func:`amaranth_process` and :func:`cocotb_process` attach it to a simulation.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Value

from crosstrain.rtl.crossbar_unit import Mode
from crosstrain.tb.analog import AnalogCrossbar
from crosstrain.tb.update_array import UpdateArrayModel

#: Port members :meth:`CrossbarBlock.cycle` reads every cycle; the rest only on events.
STROBES = ("mode", "sample", "convert", "line", "start", "last", "potentiate", "write")
#: The wide members, read on events.
WIDE = ("drive", "rows", "pieces", "digits", "levels")


class CrossbarBlock:
    """The arrays of one ``rows x cols`` block holding ``weights`` (``weight_bits``).

    Attributes
    ----------
    arrays : crosstrain.tb.update_array.UpdateArrayModel
        Update slices (``arrays.update``), forward and backward copy levels, OPA drives, writes.
    analog : crosstrain.tb.analog.AnalogCrossbar
        The MVM path; each sample reads the forward copy (``MVM``) or the backward copy
        (``MVM_T``) as the arrays hold them at that moment.
    """

    def __init__(self, params, weights):
        self.p = params
        self.arrays = UpdateArrayModel(params, np.asarray(weights))
        self.analog = AnalogCrossbar(params, weights)
        self._writing = False

    def cycle(self, s: dict, word) -> int | None:
        """One clock cycle: ``s`` maps :data:`STROBES` to ints, ``word(name)`` reads a wide
        member (``drive``, ``rows``, ``pieces``, ``digits``, ``levels``) as an int."""
        mode = Mode(s["mode"])
        answer = None
        if s["convert"]:                     # from the held sample, before a new one replaces it
            if mode in (Mode.CRS_READ, Mode.CRS_WRITE):
                answer = self.arrays.codes(s["line"])
            else:
                answer = self.analog.convert(s["line"])
        if s["sample"]:
            if mode == Mode.CRS_READ:
                self.arrays.sample(word("rows"))
            else:
                transposed = mode == Mode.MVM_T
                self.analog.levels = self.arrays.backward if transposed else self.arrays.forward
                self.analog.sample(word("drive"), transposed)
        if s["start"]:
            self.arrays.phase(word("rows"), word("pieces"), s["potentiate"], s["last"])
        if s["write"] and not self._writing:
            self.arrays.write(word("rows"), word("digits"), word("levels"))
        self._writing = bool(s["write"])
        return answer

    def abort(self) -> None:
        """Reset mid-operation."""
        self.arrays.abort()
        self._writing = False


def _int(v) -> int:
    return v.value if isinstance(v, Mode) else int(v)


async def amaranth_process(ctx, port, model: CrossbarBlock):
    """amaranth.sim adapter (a background testbench): answers ``port`` forever. The wide
    members are sampled with the strobes (amaranth.sim has no lazy read of a past cycle)."""
    members = [getattr(port, n) for n in STROBES] + [Value.cast(getattr(port, n)) for n in WIDE]
    while True:
        values = (await ctx.tick().sample(*members))[-len(members):]
        s = {n: _int(v) for n, v in zip(STROBES, values)}
        wide = dict(zip(WIDE, values[len(STROBES):]))
        answer = model.cycle(s, wide.__getitem__)
        if answer is not None:
            ctx.set(port.codes, answer)


async def cocotb_process(dut, model: CrossbarBlock, prefix: str = "xbar"):
    """cocotb adapter (``cocotb.start_soon``): reads each cycle's strobes after ``ReadOnly`` (the
    wide words only when an event needs them) and writes the codes after the next rising edge."""
    from cocotb.triggers import ReadOnly, RisingEdge

    strobes = {n: getattr(dut, f"{prefix}__{n}") for n in STROBES}
    codes = getattr(dut, f"{prefix}__codes")

    def word(name):
        return getattr(dut, f"{prefix}__{name}").value.to_unsigned()

    answer = None
    while True:
        await RisingEdge(dut.clk)
        if answer is not None:
            codes.value = answer
        await ReadOnly()
        if int(dut.rst.value):
            model.abort()
            answer = None
            continue
        answer = model.cycle({n: int(h.value) for n, h in strobes.items()}, word)
