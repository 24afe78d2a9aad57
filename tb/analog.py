"""The analog crossbar and its ADCs behind the MVM unit's ``xbar`` port, as a Python model.

:class:`AnalogCrossbar` is the pure-Python core: it holds the slice levels of a signed weight
matrix (:func:`crosstrain.golden.encoding.slice_weights`), and on each ``sample`` computes every array's
column sums (row sums when transposed) with :func:`crosstrain.golden.crossbar.column_sums` and their codes
with :func:`crosstrain.golden.crossbar.adc`, packed once per sample so that each conversion is answered
with one integer. :class:`CrossbarAgent` attaches it to the port in a bench of
:mod:`crosstrain.tb.testbench`, in amaranth.sim and cocotb alike (protocol:
:class:`crosstrain.rtl.adc_sequencer.MvmPortSignature`).

:func:`crosstrain.tb.words.pack` / :func:`crosstrain.tb.words.unpack` move whole vectors between numpy and port
integers.
"""

from __future__ import annotations

import numpy as np

from crosstrain.golden import crossbar, encoding
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.tb.testbench import Agent
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


class CrossbarAgent(Agent):
    """``model`` on the MVM crossbar port ``PREFIX__*`` of a bench
    (:class:`crosstrain.rtl.adc_sequencer.MvmPortSignature`): a conversion requested in a cycle
    is answered with its codes in the next one (the ADC's output register); a ``sample`` is
    taken after that cycle's conversion (which still converts the previous sample).
    ``conversions``, ``first`` and ``last`` count and stamp the converting cycles since
    :meth:`count_from_now`."""

    def __init__(self, tb, model: AnalogCrossbar, prefix: str = "xbar"):
        self.tb, self.model = tb, model
        self.convert, self.line = tb.port(f"{prefix}__convert"), tb.port(f"{prefix}__line")
        self.sample_, self.transposed = tb.port(f"{prefix}__sample"), tb.port(f"{prefix}__transposed")
        self.drive_, self.codes = tb.port(f"{prefix}__drive"), tb.port(f"{prefix}__codes")
        self.answer = None
        self.codes.set(0)
        self.count_from_now()

    def count_from_now(self) -> None:
        self.conversions, self.first, self.last = 0, -1, -1

    def drive(self) -> None:
        if self.answer is not None:
            self.codes.set(self.answer)
            self.answer = None

    def sample(self) -> None:
        if self.convert.get():
            self.answer = self.model.convert(self.line.get())
            self.conversions += 1
            self.last = self.tb.cycle
            if self.first < 0:
                self.first = self.last
        if self.sample_.get():
            self.model.sample(self.drive_.get(), bool(self.transposed.get()))

    def reset(self) -> None:
        self.answer = None
