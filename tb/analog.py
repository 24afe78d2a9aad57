"""The analog crossbar and its ADCs behind the MVM unit's ``xbar`` port, as a Python model.

:class:`AnalogCrossbar` is the pure-Python core: it holds the slice levels of a signed weight
matrix (:func:`crosstrain.golden.encoding.slice_weights`), and on each ``sample`` computes every array's
column sums (row sums when transposed) with :func:`crosstrain.golden.crossbar.column_sums` and their codes
with :func:`crosstrain.golden.crossbar.adc`, packed once per sample so that each conversion is answered
with one integer. :func:`amaranth_process` and :func:`cocotb_process` attach it to the port in
amaranth.sim and cocotb (protocol: :func:`crosstrain.rtl.adc_sequencer.xbar_signature`).

:func:`crosstrain.tb.words.pack` / :func:`crosstrain.tb.words.unpack` move whole vectors between numpy and port
integers.
"""

from __future__ import annotations

import numpy as np

from crosstrain.golden import crossbar, encoding
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.tb.words import pack, unpack


class AnalogCrossbar:
    """The arrays of one logical block holding ``weights`` (rows x cols signed integers).

    ``sample(drive, transposed)`` holds the codes of the driven step; ``convert(line)`` answers
    conversion ``line`` of every ADC of every array as one packed word. ``samples`` and
    ``conversions`` count what the periphery asked for.
    """

    def __init__(self, params: PeripheryParams, weights):
        self.params = params
        self.program(weights)
        self.samples = 0
        self.conversions = 0

    def program(self, weights) -> None:
        """Store a new weight matrix (the held sample is dropped)."""
        p = self.params
        w = np.asarray(weights)
        if w.shape != (p.rows, p.cols):
            raise ValueError(f"weights of shape {w.shape}, the array is {p.rows} x {p.cols}")
        self.weights = encoding.check_range("weight", w, p.weight_bits)
        self.levels, self.sign, self.shift = encoding.slice_weights(w, p.cfg)
        self._words: list[int] = []

    def sample(self, drive: int, transposed: bool) -> np.ndarray:
        """Sample-and-hold the sums of the drive word; returns the codes (arrays x lines)."""
        p = self.params
        n_in = p.cols if transposed else p.rows
        levels = unpack(drive, max(p.rows, p.cols), p.dac_bits)[:n_in]
        lv = np.swapaxes(self.levels, 1, 2) if transposed else self.levels
        codes = crossbar.adc(crossbar.column_sums(lv, levels), p.cfg)           # (A, lines out)
        lpa = p.lines_per_adc(transposed=transposed)
        padded = np.zeros((p.arrays, p.adcs_per_array * lpa), dtype=np.int64)
        padded[:, :codes.shape[1]] = codes
        per_line = padded.reshape(p.arrays, p.adcs_per_array, lpa)
        self._words = [pack(per_line[:, :, j], p.adc_bits) for j in range(lpa)]
        self.samples += 1
        return codes

    def convert(self, line: int) -> int:
        if not self._words:
            raise RuntimeError("conversion requested before any sample")
        self.conversions += 1
        return self._words[line]


async def amaranth_process(ctx, port, model: AnalogCrossbar):
    """amaranth.sim adapter (run it as a background testbench): answers ``port`` forever."""
    while True:
        *_, sample, transposed, drive, convert, line = await ctx.tick().sample(
            port.sample, port.transposed, port.drive, port.convert, port.line)
        if convert:                 # from the held sample, before this cycle's sample replaces it
            ctx.set(port.codes, model.convert(line))
        if sample:
            model.sample(drive, bool(transposed))


async def cocotb_process(dut, model: AnalogCrossbar, prefix: str = "xbar"):
    """cocotb adapter (start it with ``cocotb.start_soon``): reads the requests of each cycle
    after ``ReadOnly`` and writes the answer right after the next rising edge."""
    from cocotb.triggers import ReadOnly, RisingEdge

    sample, transposed = getattr(dut, f"{prefix}__sample"), getattr(dut, f"{prefix}__transposed")
    drive, convert = getattr(dut, f"{prefix}__drive"), getattr(dut, f"{prefix}__convert")
    line, codes = getattr(dut, f"{prefix}__line"), getattr(dut, f"{prefix}__codes")
    answer = None
    while True:
        await RisingEdge(dut.clk)
        if answer is not None:
            codes.value = answer
            answer = None
        await ReadOnly()
        if int(convert.value):      # from the held sample, before this cycle's sample replaces it
            answer = model.convert(int(line.value))
        if int(sample.value):
            model.sample(drive.value.to_unsigned(), bool(int(transposed.value)))
