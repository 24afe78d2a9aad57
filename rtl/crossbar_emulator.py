"""A synthesizable digital stand-in for the arrays of one crossbar block, behind
:class:`crosstrain.rtl.crossbar_unit.CrossbarUnit`'s port."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden import encoding
from crosstrain.golden.config import ConfigError
from crosstrain.golden.opa import UpdateArrays
from crosstrain.golden.periphery import PeripheryParams, check_params
from crosstrain.rtl.adder_tree import tree_sum
from crosstrain.rtl.crossbar_unit import CrossbarPortSignature, Mode
from crosstrain.rtl.crs_compose import copy_levels_layout
from crosstrain.rtl.opa_driver import pieces_layout

#: Width of the stall-cycle counter (wraps after 2**32 stalled cycles).
STALL_COUNTER_BITS = 32


def _words(lanes: np.ndarray, bits: int) -> list[int]:
    """Memory words of ``lanes`` (depth x lanes non-negative ints), lane ``i`` at bits
    ``[i * bits, (i + 1) * bits)``."""
    return [sum(int(v) << (i * bits) for i, v in enumerate(row)) for row in lanes]


def memory_images(p: PeripheryParams, weights) -> dict[str, list]:
    """Initial memory words for ``weights`` (rows x cols signed ``weight_bits``):

    - ``forward[k]``: array ``k``'s forward copy, column-major: word ``l`` holds, lane ``a *
      rows + r``, the level of row ``r``, column ``a * lines_per_adc + l`` (0 past the last
      column), ``bits_per_cell`` bits per lane;
    - ``backward[k]``: the backward copy, row-major: word ``l`` holds, lane ``a * cols + c``,
      row ``a * lines_per_adc(transposed) + l``'s level at column ``c`` (0 past the last row);
    - ``update``: the update slices, word ``r`` = row ``r``, lane ``m * cols + c`` the cell of
      slice ``m`` (``update_level_bits`` per lane), as :class:`crosstrain.golden.opa.UpdateArrays`
      stores ``weights``.
    """
    w = np.asarray(weights)
    levels = encoding.slice_weights(w, p.cfg)[0].astype(np.int64)              # (A, R, C)
    lpa, lpa_t = p.lines_per_adc(), p.lines_per_adc(transposed=True)
    fwd = np.zeros((p.arrays, p.adcs_per_array * lpa, p.rows), np.int64)
    fwd[:, :p.cols] = levels.transpose(0, 2, 1)
    fwd = fwd.reshape(p.arrays, p.adcs_per_array, lpa, p.rows).transpose(0, 2, 1, 3)
    bwd = np.zeros((p.arrays, p.adcs_per_array * lpa_t, p.cols), np.int64)
    bwd[:, :p.rows] = levels
    bwd = bwd.reshape(p.arrays, p.adcs_per_array, lpa_t, p.cols).transpose(0, 2, 1, 3)
    cells = np.rint(UpdateArrays(p.cfg, w).cells).astype(np.int64)              # (M, R, C)
    return {
        "forward": [_words(f.reshape(lpa, -1), p.bits_per_cell) for f in fwd],
        "backward": [_words(b.reshape(lpa_t, -1), p.bits_per_cell) for b in bwd],
        "update": _words(cells.transpose(1, 0, 2).reshape(p.rows, -1), p.update_level_bits),
    }


def _row_index(bits, n: int):
    """The index of the set bit of a one-hot ``n``-bit value."""
    return _tree_or([Mux(bits[r], r, 0) for r in range(n)]) if n > 1 else Const(0, 1)


def _tree_or(values):
    """OR of ``values`` as a balanced tree."""
    terms = list(values)
    while len(terms) > 1:
        terms = [terms[k] | terms[k + 1] if k + 1 < len(terms) else terms[k]
                 for k in range(0, len(terms), 2)]
    return terms[0]


def _select(values: list, index):
    """``values[index]`` as a multiplexer covering every value of ``index`` (0 past the end)."""
    if len(values) == 1:
        return values[0]
    width = Shape.cast(index.shape()).width
    return Array(values + [Const(0)] * ((1 << width) - len(values)))[index]


def _lane(word, index: int, bits: int):
    return word[index * bits:(index + 1) * bits]


class CrossbarEmulator(wiring.Component):
    """The arrays of one ``rows x cols`` block and their ADCs, in block RAM
    (``amaranth.lib.memory``), answering :class:`crosstrain.rtl.crossbar_unit.CrossbarPortSignature`
    exactly as the Python model :class:`crosstrain.tb.crossbar_block.CrossbarBlock` does, so a
    :class:`~crosstrain.rtl.crossbar_unit.CrossbarUnit` works unchanged against either.

    Memories (layouts: :func:`memory_images`): per array a forward copy read column by column
    and a backward copy read row by row (``lines_per_adc`` words, one per conversion index:
    every ADC's line of every array in one read), and the update slices, one row per word.

    - MVM / MVM_T: ``sample`` holds the drive and its mode; a conversion (``convert``, ``line``)
      reads word ``line`` of every forward (backward) copy and forms, per array and ADC, the
      integer sum of ``drive level x cell level`` over the driven lines of that one column (row),
      clipped at the ADC's top code (:func:`crosstrain.golden.crossbar.adc` with ``adc_lsb`` 1):
      only the lines the ADCs convert are computed.
    - CRS_READ: ``sample`` holds the one-hot row; a conversion reads that row of the update
      slices and converts column ``a * lines_per_adc + line`` on ADC ``a`` (the cell level:
      ``adc_bits >= update_level_bits``). The row is read again at each conversion; no row is
      written between its read and its conversions in the CRS schedule.
    - ``codes`` answers the conversion of cycle ``c`` in cycle ``c + 1`` (the memories' read
      register); 0 for lines past the last row or column and arrays past the mode's count.
    - OPA: each phase (``pulse`` and ``start``) is latched, then applied to its driven rows, one
      per cycle, lowest first (a read, then a write one cycle later; undriven rows take no
      cycle): each driven row's cells move by ``+- piece``
      and saturate at 0 and ``2**slice_bits[m] - 1``. A cell is driven in one polarity phase
      per step only, so saturating after every phase equals
      :meth:`crosstrain.golden.opa.UpdateArrays.apply_phases` saturating once per OPA.
    - CRS_WRITE: at a write's first cycle the row's digits go to the update slices and its
      levels to the backward copies (one word write each); the forward copies, column-major,
      take one word per cycle for ``lines_per_adc`` cycles (in the background).

    Stall: an OPA phase takes as many cycles to apply as it drives rows, a forward-copy row write
    ``lines_per_adc``. ``stall`` is high in a cycle where the port asks for something a
    background sweep still holds: an OPA phase ``start`` or any CRS cycle while OPA rows remain
    to be read, an MVM ``sample`` or a write's first cycle while forward-copy lines remain. In a
    stalled cycle the emulator ignores the port; the periphery must hold it (freeze its clock
    enable, as :class:`crosstrain.rtl.emulated_unit.EmulatedCrossbarUnit` does), so the unit's
    own schedule (:mod:`crosstrain.golden.cycles`) is unchanged and stalls add cycles apart.
    A phase start waits ``max(0, n + 1 - opa_phase_cycles)`` stalled cycles after a phase that
    drove ``n`` rows; a CRS right after an OPA ``max(0, n - opa_phase_cycles)``.

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams
    weights : array of int (rows x cols), optional
        The weights the arrays hold after configuration (signed ``weight_bits``); all zero if
        omitted.

    Members
    -------
    xbar : In(CrossbarPortSignature(params))
        The port, driven by the periphery; ``codes`` is the emulator's answer.
    stall : Out(1)
        The port must be held this cycle (combinational from the port and the sweeps).
    stall_cycles : Out(STALL_COUNTER_BITS)
        Stalled cycles since reset.

    Attributes
    ----------
    memories : dict of amaranth.lib.memory.Memory
        ``fwd{k}``, ``bwd{k}`` (array ``k``'s copies) and ``upd``, laid out as
        :func:`memory_images`.
    """

    def __init__(self, *, params: PeripheryParams, weights=None):
        check_params(params)
        p = params
        w = np.zeros((p.rows, p.cols), np.int64) if weights is None else np.asarray(weights)
        if w.shape != (p.rows, p.cols):
            raise ConfigError(f"weights of shape {w.shape} do not fit the {p.rows} x {p.cols} array")
        try:
            img = memory_images(p, w)
        except ValueError as e:
            raise ConfigError(f"weights: {e}") from None
        self._params = p
        self.memories = {f"fwd{k}": memory.Memory(shape=p.adcs_per_array * p.rows * p.bits_per_cell,
                                                  depth=len(words), init=words)
                         for k, words in enumerate(img["forward"])}
        self.memories |= {f"bwd{k}": memory.Memory(shape=p.adcs_per_array * p.cols * p.bits_per_cell,
                                                   depth=len(words), init=words)
                          for k, words in enumerate(img["backward"])}
        self.memories["upd"] = memory.Memory(shape=p.update_slices * p.cols * p.update_level_bits,
                                             depth=p.rows, init=img["update"])
        super().__init__({
            "xbar": In(CrossbarPortSignature(p)),
            "stall": Out(1),
            "stall_cycles": Out(STALL_COUNTER_BITS),
        })

    @property
    def params(self) -> PeripheryParams:
        return self._params

    def elaborate(self, platform):
        m = Module()
        p, port = self._params, self.xbar
        rows, cols, adcs, b, lvl = p.rows, p.cols, p.adcs_per_array, p.bits_per_cell, p.update_level_bits
        lpa, lpa_t = p.lines_per_adc(), p.lines_per_adc(transposed=True)
        top = p.cfg.adc_max_code

        for name, mm in self.memories.items():
            m.submodules[name] = mm
        fwd = [self.memories[f"fwd{k}"] for k in range(p.arrays)]
        bwd = [self.memories[f"bwd{k}"] for k in range(p.arrays)]
        upd = self.memories["upd"]
        fwd_w = [f.write_port(granularity=b) for f in fwd]
        bwd_w = [f.write_port(granularity=cols * b) for f in bwd]
        upd_w = upd.write_port()
        fwd_r = [f.read_port() for f in fwd]
        bwd_r = [f.read_port() for f in bwd]
        upd_r = upd.read_port()

        # ---- background sweeps and the stall ------------------------------------------------
        opa_left = Signal(rows)                             # driven rows of the phase not yet read
        fwd_line = Signal(range(lpa + 1), init=lpa)         # next forward line to write; lpa: idle
        opa_busy, fwd_busy = opa_left.any(), fwd_line < lpa
        writing = Signal()                                  # ``write`` in the last taken cycle
        crs_mode = (port.mode == Mode.CRS_READ) | (port.mode == Mode.CRS_WRITE)
        mvm_mode = (port.mode == Mode.MVM) | (port.mode == Mode.MVM_T)
        phase_start = port.pulse & port.start
        write_start = port.write & ~writing
        m.d.comb += self.stall.eq((opa_busy & (phase_start | crs_mode))
                                  | (fwd_busy & ((port.sample & mvm_mode) | write_start)))
        act = ~self.stall
        m.d.sync += self.stall_cycles.eq(self.stall_cycles + self.stall)
        with m.If(act):
            m.d.sync += writing.eq(port.write)

        # ---- sample-and-hold and conversions ------------------------------------------------
        FWD, BWD, CRS = 0, 1, 2
        held_drive, held_kind = Signal.like(port.drive), Signal(2)
        held_row = Signal(range(rows))
        conv_drive, conv_kind, conv_line = Signal.like(port.drive), Signal(2), Signal.like(port.line)
        convert = port.convert & act
        with m.If(port.sample & act):
            m.d.sync += [held_drive.eq(port.drive), held_row.eq(_row_index(port.rows, rows)),
                         held_kind.eq(Mux(port.mode == Mode.CRS_READ, CRS,
                                          Mux(port.mode == Mode.MVM_T, BWD, FWD)))]
        with m.If(convert):
            m.d.sync += [conv_drive.eq(held_drive), conv_kind.eq(held_kind), conv_line.eq(port.line)]
        for r in fwd_r:
            m.d.comb += [r.addr.eq(port.line), r.en.eq(convert & (held_kind == FWD))]
        for r in bwd_r:
            m.d.comb += [r.addr.eq(port.line), r.en.eq(convert & (held_kind == BWD))]
        opa_next = opa_left & -opa_left                     # the lowest row left, one-hot
        opa_row = _row_index(opa_next, rows)
        m.d.comb += [upd_r.addr.eq(Mux(opa_busy, opa_row, held_row)),
                     upd_r.en.eq(opa_busy | (convert & (held_kind == CRS)))]

        def dac(line):
            return conv_drive[line * p.dac_bits:(line + 1) * p.dac_bits]

        cell_max = (1 << b) - 1
        dac_max = (1 << p.dac_bits) - 1

        def clipped(total, lines):
            return Mux(total > top, top, total) if lines * dac_max * cell_max > top else total

        n_codes = max(p.arrays, p.update_slices)
        for k in range(n_codes):
            for a in range(adcs):
                fsum = bsum = crs = 0
                if k < p.arrays:
                    fsum = clipped(tree_sum(dac(r) * _lane(fwd_r[k].data, a * rows + r, b) for r in range(rows)), rows)
                    bsum = clipped(tree_sum(dac(c) * _lane(bwd_r[k].data, a * cols + c, b) for c in range(cols)), cols)
                if k < p.update_slices:
                    cells = [_lane(upd_r.data, k * cols + a * lpa + j, lvl) if a * lpa + j < cols else Const(0, lvl)
                             for j in range(lpa)]
                    crs = _select(cells, conv_line)
                m.d.comb += port.codes[k][a].eq(Mux(conv_kind == CRS, crs, Mux(conv_kind == BWD, bsum, fsum)))

        # ---- OPA: latch the phase, then read-modify-write its rows ---------------------------
        ph_pot = Signal()
        ph_pieces = Signal(pieces_layout(p))
        wb, wb_row = Signal(), Signal(range(rows))
        with m.If(phase_start & act):
            m.d.sync += [opa_left.eq(port.rows), ph_pieces.eq(port.pieces), ph_pot.eq(port.potentiate)]
        with m.Elif(opa_busy):
            m.d.sync += opa_left.eq(opa_left & ~opa_next)
        m.d.sync += [wb.eq(opa_busy), wb_row.eq(opa_row)]
        lanes = []
        for k in range(p.update_slices):
            cell_top = (1 << p.slice_bits[k]) - 1
            for c in range(cols):
                cell, piece = _lane(upd_r.data, k * cols + c, lvl), ph_pieces[k][c]
                up, down = cell + piece, cell - piece
                lanes.append(Mux(ph_pot, Mux(up > cell_top, cell_top, up), Mux(cell < piece, 0, down))[:lvl])

        # ---- CRS row writes ------------------------------------------------------------------
        crs_write = write_start & act
        row = _row_index(port.rows, rows)
        with m.If(crs_write):
            m.d.comb += [upd_w.addr.eq(row), upd_w.data.eq(port.digits), upd_w.en.eq(1)]
        with m.Elif(wb):
            m.d.comb += [upd_w.addr.eq(wb_row), upd_w.data.eq(Cat(*lanes)), upd_w.en.eq(1)]
        bwd_addr = _tree_or([Mux(port.rows[r], r % lpa_t, 0) for r in range(rows)])
        bwd_slot = Cat(*(_tree_or([port.rows[r] for r in range(a * lpa_t, min(rows, (a + 1) * lpa_t))]
                                 or [Const(0)]) for a in range(adcs)))
        for k, wp in enumerate(bwd_w):
            m.d.comb += [wp.addr.eq(bwd_addr), wp.data.eq(Cat(*([port.levels[k]] * adcs))),
                         wp.en.eq(Mux(crs_write, bwd_slot, 0))]
        wr_rows, wr_levels = Signal(rows), Signal(copy_levels_layout(p, cols))
        with m.If(crs_write):
            m.d.sync += [wr_rows.eq(port.rows), wr_levels.eq(port.levels), fwd_line.eq(0)]
        with m.Elif(fwd_busy):
            m.d.sync += fwd_line.eq(fwd_line + 1)
        for k, wp in enumerate(fwd_w):
            per_adc = []
            for a in range(adcs):
                col = [wr_levels[k][a * lpa + j] if a * lpa + j < cols else Const(0, b) for j in range(lpa)]
                per_adc.append(_select(col, fwd_line))
            m.d.comb += [wp.addr.eq(fwd_line),
                         wp.data.eq(Cat(*(v for v in per_adc for _ in range(rows)))),
                         wp.en.eq(Mux(fwd_busy, Cat(*([wr_rows] * adcs)), 0))]
        return m
