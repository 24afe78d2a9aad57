"""Python model of one crossbar block behind :class:`crosstrain.rtl.crossbar_unit.CrossbarUnit`'s unified
port: the update slices and the forward / backward copies (:class:`crosstrain.tb.update_array.UpdateArrayModel`)
with the analog MVM of :class:`crosstrain.tb.analog.AnalogCrossbar` reading the copies.

Per cycle, :meth:`CrossbarBlock.cycle` takes the port's strobes (small ints) and reads the wide
words only on the events that need them (a sample's drive, a phase start's pieces, a write's
first cycle), through callables; it returns the codes to present in the next cycle (registered),
or ``None``. :class:`BlockAgent` attaches it to the port in a bench of
:mod:`crosstrain.tb.testbench` (amaranth.sim and cocotb alike).
"""

from __future__ import annotations

import numpy as np

from crosstrain.rtl.crossbar_unit import Mode
from crosstrain.tb.analog import AnalogCrossbar
from crosstrain.tb.testbench import Agent
from crosstrain.tb.update_array import UpdateArrayModel

#: Port members :meth:`CrossbarBlock.cycle` reads every cycle; the rest only on events.
STROBES = ("mode", "sample", "convert", "line", "start", "last", "potentiate", "write")
#: The wide members, read on events.
WIDE = ("drive", "rows", "pieces", "digits", "levels")
#: ``Mode`` by value (a dict lookup per cycle instead of an enum call).
MODES = {m.value: m for m in Mode}


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
        mode = MODES[s["mode"]]
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


class BlockAgent(Agent):
    """``model`` on the crossbar port ``PREFIX__*`` of a bench
    (:class:`crosstrain.rtl.crossbar_unit.CrossbarPortSignature`): each cycle's strobes are read
    in the sample phase (the wide members only when an event needs them), the codes of a
    conversion are presented in the next cycle. Cycles with ``rst`` high are skipped; a reset
    aborts what the model had in flight. ``modes`` keeps the port's ``mode`` of every cycle
    since the agent was added."""

    def __init__(self, tb, model: CrossbarBlock, prefix: str = "xbar"):
        self.tb, self.model = tb, model
        self.strobes = [(n, tb.port(f"{prefix}__{n}")) for n in STROBES]
        self.wide = {n: tb.port(f"{prefix}__{n}") for n in WIDE}
        self.codes = tb.port(f"{prefix}__codes")
        self.codes.set(0)
        self.answer = None
        self.modes: list[int] = []

    def drive(self) -> None:
        if self.answer is not None:
            self.codes.set(self.answer)
            self.answer = None

    def sample(self) -> None:
        s = {n: port.get() for n, port in self.strobes}
        self.modes.append(s["mode"])
        if not self.tb.in_reset:
            self.answer = self.model.cycle(s, lambda name: self.wide[name].get())

    def reset(self) -> None:
        self.model.abort()
        self.answer = None
