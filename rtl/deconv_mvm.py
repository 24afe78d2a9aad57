"""Bench top of the end-to-end transposed convolution: address generator beside the MVM unit."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.deconv import ConvTranspose
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.rtl.adc_sequencer import MvmPortSignature
from crosstrain.rtl.deconv_addr import DeconvAddressGenerator, read_layout
from crosstrain.rtl.input_streamer import vector_layout
from crosstrain.rtl.mvm_unit import MvmUnit
from crosstrain.rtl.shift_add import output_layout


class DeconvMvmTop(wiring.Component):
    """The transposed-convolution address generator next to the MVM unit, as one top.

    Parameters
    ----------
    spec : ConvTranspose
        The layer whose reads the address generator streams.
    params : PeripheryParams
        The MVM unit's periphery.
    skip_zero : bool
        Zero skipping in the unit's input streamer.

    Members
    -------
    start : In(1), busy : Out(1), reads : Out(stream.Signature(read_layout(spec)))
        The address generator's ports (:class:`~crosstrain.rtl.deconv_addr.DeconvAddressGenerator`).
    i, o, xbar
        The MVM unit's ports (:class:`~crosstrain.rtl.mvm_unit.MvmUnit`).

    The two halves are not connected: whoever drives the top carries each window's reads to an
    input vector (the bench does it in ``crosstrain.tb.deconv_mvm_bench``), so each keeps its own
    timing.
    """

    def __init__(self, *, spec: ConvTranspose, params: PeripheryParams, skip_zero: bool):
        self._addr = DeconvAddressGenerator(spec=spec)
        self._mvm = MvmUnit(params=params, skip_zero=skip_zero)
        super().__init__({
            "start": In(1), "busy": Out(1),
            "reads": Out(stream.Signature(read_layout(spec))),
            "i": In(stream.Signature(vector_layout(params))),
            "o": Out(stream.Signature(output_layout(params))),
            "xbar": Out(MvmPortSignature(params)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.addr, m.submodules.mvm = addr, mvm = self._addr, self._mvm
        m.d.comb += [addr.start.eq(self.start), self.busy.eq(addr.busy)]
        wiring.connect(m, addr.o, wiring.flipped(self.reads))
        wiring.connect(m, wiring.flipped(self.i), mvm.i)
        wiring.connect(m, mvm.o, wiring.flipped(self.o))
        wiring.connect(m, mvm.xbar, wiring.flipped(self.xbar))
        return m
