"""Python model of one block's arrays behind the OPA and CRS ports: the update slices (as
:class:`crosstrain.golden.opa.UpdateArrays`), the forward and backward copies, their sample-and-holds and ADCs.

Port words are packed ints, unpacked once per event with :mod:`crosstrain.tb.words` (never bit by bit):

- OPA (:class:`crosstrain.rtl.opa_driver.OpaDriver`): at each phase start, ``rows`` (bit ``r`` = row ``r``)
  and ``pieces`` (``bits_per_cell`` bits at ``(slice * cols + col)``) with ``potentiate``; the
  phases of one OPA are collected and applied at its ``last`` phase with
  :meth:`crosstrain.golden.opa.UpdateArrays.apply_phases`, the golden update itself.
- CRS (:class:`crosstrain.rtl.crs_unit.CrsUnit`): ``sample`` of a one-hot row drive holds that row of every
  update slice (ADC codes through :func:`crosstrain.golden.crossbar.adc`), ``codes`` answers a conversion
  index with the codes of every slice's ADCs; a row write stores clean digits into the update
  slices and levels into the forward and backward copies, and is recorded.
"""

from __future__ import annotations

import numpy as np

from crosstrain.golden import cycles
from crosstrain.golden.crossbar import adc
from crosstrain.golden.encoding import slice_weights
from crosstrain.golden.opa import UpdateArrays
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.tb.testbench import Agent
from crosstrain.tb.words import pack, unpack


def one_hot_row(word: int, rows: int) -> int:
    """The row a one-hot row drive selects; AssertionError unless exactly one bit is set."""
    bits = unpack(word, rows, 1)
    assert bits.sum() == 1, f"row drive {word:#x} is not one-hot"
    return int(np.flatnonzero(bits)[0])


class UpdateArrayModel:
    """The arrays of one ``rows x cols`` block, starting from ``weights`` (``weight_bits``).

    Attributes
    ----------
    update : crosstrain.golden.opa.UpdateArrays
        The update slices; ``update.cells`` is what the OPA pulses and CRS writes leave.
    forward, backward : ndarray (arrays, rows, cols)
        Levels of the forward and backward copies (:func:`crosstrain.golden.encoding.slice_weights` order).
    drives : list of (rows, pieces, signs)
        Every applied OPA as driven: bool (P, R), int (P, M, C), +1/-1 (P,).
    writes : list of (row, digits, levels)
        Every CRS row write: update-slice levels (M, C) and copy levels (arrays, C).
    """

    def __init__(self, params: PeripheryParams, weights: np.ndarray):
        self.p = params
        self.update = UpdateArrays(params.cfg, weights)
        levels, _, _ = slice_weights(weights, params.cfg)
        self.forward = levels.astype(np.int64)
        self.backward = self.forward.copy()
        self.drives, self.writes = [], []
        self._phases = []
        self._held = None

    # ---- OPA ---------------------------------------------------------------------------------
    def phase(self, rows_word: int, pieces_word: int, potentiate: int, last: int) -> None:
        """One driven phase (call at its first cycle); the OPA is applied at its last phase."""
        p = self.p
        rows = unpack(rows_word, p.rows, 1).astype(bool)
        pieces = unpack(pieces_word, p.update_slices * p.cols, p.bits_per_cell)
        self._phases.append((rows, pieces.reshape(p.update_slices, p.cols), 1 if potentiate else -1))
        if last:
            rows, pieces, signs = (np.array(v) for v in zip(*self._phases))
            self._phases = []
            self.drives.append((rows, pieces, signs))
            self.update.apply_phases(rows, pieces, signs)

    def abort(self) -> None:
        """Reset mid-operation: drop the phases of an unfinished OPA and the held row."""
        self._phases, self._held = [], None

    # ---- CRS ---------------------------------------------------------------------------------
    def sample(self, rows_word: int) -> None:
        """Sample-and-hold the columns of every update slice under a one-hot row drive."""
        r = one_hot_row(rows_word, self.p.rows)
        self._held = adc(self.update.cells[:, r, :], self.p.cfg)                 # (M, C)

    def codes(self, index: int) -> int:
        """Codes of every slice's ADCs for conversion ``index``: ADC ``a`` converts column
        ``a * lines_per_adc + index`` (code 0 past the last column); packed ``[slice][adc]``."""
        p = self.p
        lines = p.lines_per_adc()
        cols = np.arange(p.adcs_per_array) * lines + index
        ok = cols < p.cols
        out = np.zeros((p.update_slices, p.adcs_per_array), np.int64)
        out[:, ok] = self._held[:, cols[ok]]
        return pack(out, p.adc_bits)

    def write(self, rows_word: int, digits_word: int, levels_word: int) -> None:
        """One row write to the update slices and both copies, as the CRS unit issues it."""
        p = self.p
        r = one_hot_row(rows_word, p.rows)
        digits = unpack(digits_word, p.update_slices * p.cols, p.update_level_bits)
        digits = digits.reshape(p.update_slices, p.cols)
        levels = unpack(levels_word, p.arrays * p.cols, p.bits_per_cell).reshape(p.arrays, p.cols)
        self.update.cells[:, r, :] = digits
        self.forward[:, r, :] = levels
        self.backward[:, r, :] = levels
        self.writes.append((r, digits, levels))


def random_signed(rng: np.random.Generator, bits: int, shape) -> np.ndarray:
    """Uniform signed ``bits``-wide integers."""
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), shape)


class UpdatePortAgent(Agent):
    """The model on an OPA update port ``PREFIX__*`` of a bench
    (:class:`crosstrain.rtl.opa_driver.UpdatePortSignature`): each phase is applied at its
    first cycle (:meth:`UpdateArrayModel.phase`).

    Attributes
    ----------
    pulses : list of int
        Driven cycles of each OPA.
    first, last : int
        Cycles of the first and the last driven cycle (-1 before any).
    moved : int
        Driven cycles in which a phase's drive differed from its first cycle.
    pulsing : int
        ``pulse`` in the last sample phase.

    While ``pulse`` is low every other member must be 0 (AssertionError otherwise).
    """

    def __init__(self, tb, model: UpdateArrayModel, prefix: str = "upd"):
        self.tb, self.model = tb, model
        self.pulse, self.start = tb.port(f"{prefix}__pulse"), tb.port(f"{prefix}__start")
        self.quiet = [tb.port(f"{prefix}__{n}") for n in ("start", "last", "potentiate", "rows", "pieces")]
        self.drive_ports = [tb.port(f"{prefix}__{n}") for n in ("rows", "pieces", "potentiate", "last")]
        self.pulses: list[int] = []
        self.first = self.last = -1
        self.moved, self.pulsing = 0, 0
        self._held, self._new_opa = None, True

    def sample(self) -> None:
        self.pulsing = self.pulse.get()
        if self.tb.in_reset:
            return
        if not self.pulsing:
            assert not any(port.get() for port in self.quiet), \
                f"update port not quiet while pulse is low (cycle {self.tb.cycle})"
            return
        self.last = self.tb.cycle
        if self.first < 0:
            self.first = self.last
        drive = tuple(port.get() for port in self.drive_ports)
        if self.start.get():
            if self._new_opa:
                self.pulses.append(0)
            self._new_opa = bool(drive[3])
            self._held = drive
            self.model.phase(*drive)
        elif drive != self._held:
            self.moved += 1
        self.pulses[-1] += 1

    def reset(self) -> None:
        self.model.abort()
        self._held, self._new_opa = None, True


class CrsPortAgent(Agent):
    """The model on a CRS port ``PREFIX__*`` of a bench
    (:class:`crosstrain.rtl.crs_unit.CrsPortSignature`): a conversion is answered with its codes
    in the next cycle (registered), a ``sample`` holds the driven row, a row write is stored when
    it starts; ``moved`` counts write cycles whose data differed from the write's first."""

    def __init__(self, tb, model: UpdateArrayModel, prefix: str = "crs"):
        self.tb, self.model = tb, model
        self.convert, self.line = tb.port(f"{prefix}__convert"), tb.port(f"{prefix}__line")
        self.sample_, self.rows = tb.port(f"{prefix}__sample"), tb.port(f"{prefix}__rows")
        self.write = tb.port(f"{prefix}__write")
        self.data = [self.rows, tb.port(f"{prefix}__digits"), tb.port(f"{prefix}__levels")]
        self.codes = tb.port(f"{prefix}__codes")
        self.codes.set(0)
        self.answer, self.held, self.moved = None, None, 0

    def drive(self) -> None:
        if self.answer is not None:
            self.codes.set(self.answer)
            self.answer = None

    def sample(self) -> None:
        if self.tb.in_reset:
            return
        m = self.model
        if self.convert.get():
            self.answer = m.codes(self.line.get())
        if self.sample_.get():
            m.sample(self.rows.get())
        if self.write.get():
            data = tuple(port.get() for port in self.data)
            if self.held is None:
                m.write(*data)
            elif data != self.held:
                self.moved += 1
            self.held = data
        else:
            self.held = None

    def reset(self) -> None:
        self.model.abort()
        self.answer = self.held = None


def check_crs(p: PeripheryParams, model: UpdateArrayModel, golden: UpdateArrays, busy: int,
              moved: int, note: str) -> None:
    """A whole CRS against golden: rows written in order, clean update digits, forward and
    backward levels of the resolved weights, ``crs_cycles`` busy cycles, write data held."""
    levels = slice_weights(golden.crs(), p.cfg)[0]
    rows = [r for r, _, _ in model.writes]
    assert rows == list(range(p.rows)), f"rows written {rows[:8]}... ({note})"
    bad = np.argwhere(model.update.cells != golden.cells)
    assert not len(bad), f"clean digit [slice, row, col] {bad[0].tolist()} ({note})"
    assert np.array_equal(model.forward, levels), f"forward levels ({note})"
    assert np.array_equal(model.backward, levels), f"backward levels ({note})"
    assert busy == cycles.crs_cycles(p.cfg), f"{busy} cycles, model {cycles.crs_cycles(p.cfg)} ({note})"
    assert moved == 0, f"write data moved during a write ({note})"
