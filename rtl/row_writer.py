"""Programming one weight row of a block: the row write of every copy and of the update slices."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, ResetSignal, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.periphery import PeripheryParams, check_params
from crosstrain.rtl.crs_compose import copy_levels_layout, levels_layout, reslice


def row_layout(p: PeripheryParams) -> data.StructLayout:
    """One row to program: ``row`` (its index) and ``w`` (``cols`` weights, signed
    ``weight_bits``)."""
    return data.StructLayout({"row": range(p.rows), "w": data.ArrayLayout(signed(p.weight_bits), p.cols)})


class RowWriter(wiring.Component):
    """Programs row ``row`` with weights ``w``: one row write of ``write_row_cycles`` cycles to
    every array, the copies' levels (:func:`crosstrain.golden.encoding.slice_weights`) and the
    update slices' digits of the wide weight ``w << (W - weight_bits)``, as
    :meth:`crosstrain.golden.opa.UpdateArrays.write_row` sets them. The signals are those of a
    CRS row write (:class:`crosstrain.rtl.crs_unit.CrsPortSignature`'s ``write``, ``rows``,
    ``digits``, ``levels``).

    Timing: a row accepted at edge ``e`` (``i.ready`` high when idle) is written from the cycle
    after it for ``write_row_cycles`` cycles, ``write`` high and the data held still; the next
    row is accepted in the cycle after the last write cycle.

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams

    Members
    -------
    i : In(stream.Signature(row_layout(params)))
        Rows to program; never taken while ``rst`` is high.
    write : Out(1)
        The row write (also: busy).
    rows : Out(rows)
        The written row, one-hot.
    digits : Out(levels_layout(params, cols))
        The update slices' digits, ``[slice][column]``.
    levels : Out(copy_levels_layout(params, cols))
        The copies' levels, ``[array][column]``.
    """

    def __init__(self, *, params: PeripheryParams):
        p = check_params(params)
        self._params = p
        super().__init__({
            "i": In(stream.Signature(row_layout(p))),
            "write": Out(1),
            "rows": Out(p.rows),
            "digits": Out(levels_layout(p, p.cols)),
            "levels": Out(copy_levels_layout(p, p.cols)),
        })

    @property
    def params(self) -> PeripheryParams:
        return self._params

    def elaborate(self, platform):
        m = Module()
        p = self._params
        wb, drop = p.weight_bits, p.update_slices * p.bits_per_cell - p.weight_bits
        left = Signal(range(p.write_row_cycles + 1))
        m.d.comb += [self.write.eq(left != 0), self.i.ready.eq((left == 0) & ~ResetSignal())]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [left.eq(p.write_row_cycles),
                         self.rows.eq(Cat(*(self.i.payload.row == r for r in range(p.rows))))]
            for c in range(p.cols):
                w = self.i.payload.w[c]
                u = Cat(Const(0, drop), w.as_unsigned() ^ (1 << (wb - 1)))   # (w << drop) + 2**(W-1)
                digits, levels = reslice(p, w, u)
                m.d.sync += [self.digits[s][c].eq(d) for s, d in enumerate(digits)]
                m.d.sync += [self.levels[a][c].eq(v) for a, v in enumerate(levels)]
        with m.Elif(left != 0):
            m.d.sync += left.eq(left - 1)
        return m
