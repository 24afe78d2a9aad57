"""A crossbar unit with its arrays emulated in RTL: :class:`crosstrain.rtl.crossbar_unit.CrossbarUnit`
on :class:`crosstrain.rtl.crossbar_emulator.CrossbarEmulator`, self-contained (no per-cycle Python)."""

from __future__ import annotations

from amaranth.hdl import EnableInserter, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.periphery import PeripheryParams, check_params
from crosstrain.rtl.crossbar_emulator import STALL_COUNTER_BITS, CrossbarEmulator
from crosstrain.rtl.crossbar_unit import CrossbarUnit, command_layout
from crosstrain.rtl.shift_add import output_layout


class EmulatedCrossbarUnit(wiring.Component):
    """:class:`~crosstrain.rtl.crossbar_unit.CrossbarUnit`, unchanged, with its ``xbar`` port on a
    :class:`~crosstrain.rtl.crossbar_emulator.CrossbarEmulator`.

    Timing: exactly the unit's (:mod:`crosstrain.golden.cycles`) counted in cycles where
    ``stall`` is low. In a stalled cycle the unit's clock enable is low (every register of the
    unit holds, so its port holds) and neither stream transfers (``cmd.ready`` and ``o.valid``
    are low); the unit never has an output waiting while the emulator stalls (stalls come only
    in OPA and CRS, which start after every MVM has left ``o``).

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams
        As :class:`~crosstrain.rtl.crossbar_unit.CrossbarUnit` requires.
    weights : array of int (rows x cols), optional
        The emulated arrays' initial weights (:class:`~crosstrain.rtl.crossbar_emulator.CrossbarEmulator`).

    Members
    -------
    cmd : In(stream.Signature(command_layout(params)))
        As the unit's.
    o : Out(stream.Signature(output_layout(params)))
        As the unit's.
    busy : Out(1)
        As the unit's: an accepted command has not finished (high in stalled cycles too).
    stall : Out(1)
        The emulator holds the unit in this cycle.
    stall_cycles : Out(STALL_COUNTER_BITS)
        Stalled cycles since reset.
    """

    def __init__(self, *, params: PeripheryParams, weights=None):
        check_params(params)
        self._unit = CrossbarUnit(params=params)
        self._emu = CrossbarEmulator(params=params, weights=weights)
        self._params = params
        super().__init__({
            "cmd": In(stream.Signature(command_layout(params))),
            "o": Out(stream.Signature(output_layout(params))),
            "busy": Out(1),
            "stall": Out(1),
            "stall_cycles": Out(STALL_COUNTER_BITS),
        })

    @property
    def params(self) -> PeripheryParams:
        return self._params

    @property
    def emulator(self) -> CrossbarEmulator:
        return self._emu

    def elaborate(self, platform):
        m = Module()
        unit, emu = self._unit, self._emu
        m.submodules.unit = EnableInserter(~emu.stall)(unit)
        m.submodules.emu = emu
        wiring.connect(m, unit.xbar, emu.xbar)
        go = ~emu.stall
        m.d.comb += [
            unit.cmd.valid.eq(self.cmd.valid), unit.cmd.payload.eq(self.cmd.payload),
            self.cmd.ready.eq(unit.cmd.ready & go),
            self.o.valid.eq(unit.o.valid & go), self.o.payload.eq(unit.o.payload),
            unit.o.ready.eq(self.o.ready & go),
            self.busy.eq(unit.busy), self.stall.eq(emu.stall), self.stall_cycles.eq(emu.stall_cycles),
        ]
        return m
