"""Carry-resolution datapath: update-slice levels -> new weight, clean digits, copy levels."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.periphery import PeripheryParams, check_params
from crosstrain.rtl.ports import FlowSignature


def levels_layout(p: PeripheryParams, lanes: int) -> data.ArrayLayout:
    """Update-slice levels of ``lanes`` columns, indexed ``[slice][lane]``,
    ``update_level_bits`` each (slice ``m`` uses its low ``slice_bits[m]`` bits)."""
    return data.ArrayLayout(data.ArrayLayout(unsigned(p.update_level_bits), lanes), p.update_slices)


def copy_levels_layout(p: PeripheryParams, lanes: int) -> data.ArrayLayout:
    """Forward / backward copy levels, indexed ``[array][lane]`` in
    :func:`crosstrain.golden.encoding.slice_weights` order (offset: ``weight_slices`` arrays; differential:
    the positive set, then the negative set)."""
    return data.ArrayLayout(data.ArrayLayout(unsigned(p.bits_per_cell), lanes), p.arrays)


def result_layout(p: PeripheryParams, lanes: int) -> data.StructLayout:
    return data.StructLayout({
        "digits": levels_layout(p, lanes),
        "levels": copy_levels_layout(p, lanes),
        "weight": data.ArrayLayout(signed(p.weight_bits), lanes),
    })


def clip_signed(value, bits: int):
    """``value`` (signed) clipped to signed ``bits`` bits, decided by its top bits: in range when
    they all equal the sign, else the bound of the sign's side (no comparison carry chains)."""
    width = len(value)
    if width <= bits:
        return value
    top = value[bits - 1:]
    fits = (top == 0) | (top == (1 << (width - bits + 1)) - 1)
    return Mux(fits, value[:bits].as_signed(),
               Mux(value[-1], -(1 << (bits - 1)), (1 << (bits - 1)) - 1))


def reslice(p: PeripheryParams, w, u) -> tuple[list, list]:
    """``(digits, levels)`` of one column: the update-slice digits (``digits[m]``: the
    ``bits_per_cell``-bit digit ``m`` of ``u`` plus ``bias[m]``) of ``u``, the wide weight plus
    ``2**(W-1)`` (unsigned), and the copy levels (``levels[array]``,
    :func:`crosstrain.golden.encoding.slice_weights`) of ``w``, the weight (signed
    ``weight_bits``); combinational."""
    b, wb = p.bits_per_cell, p.weight_bits
    digits = [u[b * s:b * (s + 1)] + ((1 << h) - (1 << b)) // 2 for s, h in enumerate(p.slice_bits)]
    if p.encoding == "offset":
        parts = [w.as_unsigned() ^ (1 << (wb - 1))]                      # w + 2**(wb-1)
    else:
        parts = [Mux(w > 0, w, 0).as_unsigned()[:wb], Mux(w < 0, -w, 0).as_unsigned()[:wb]]
    levels = [part[b * s:b * (s + 1)] for part in parts for s in range(p.weight_slices)]
    return digits, levels


class CrsCompose(wiring.Component):
    """Composes update-slice levels into the wide weight, rounds it to ``weight_bits`` and
    re-slices it, for ``lanes`` columns at once; exactly :meth:`crosstrain.golden.opa.UpdateArrays.crs`.

    Per column, with ``W = update_slices * bits_per_cell`` and ``bias[m] = (2**slice_bits[m] -
    2**bits_per_cell) // 2``: ``wide = sum_m (level[m] - bias[m]) << (bits_per_cell * m) -
    2**(W-1)``, clipped to signed ``W`` bits; ``weight = (wide + 2**(drop-1)) >> drop`` with
    ``drop = W - weight_bits`` (round half up), clipped to signed ``weight_bits``; clean digits
    ``digit[m] = bits_per_cell-bit digit m of (wide + 2**(W-1)) + bias[m]``; copy levels
    :func:`crosstrain.golden.encoding.slice_weights` of ``weight`` (offset or differential).

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams
    lanes : int
        Columns composed per cycle; default ``adcs_per_array`` (the CRS unit uses one per ADC).
    stages : int
        Register stages, the latency in cycles; default ``pipeline_cycles`` (the CRS unit uses
        ``pipeline_cycles - 1``: the ADC's output register is the first stage of its pipeline).

    Members
    -------
    i : In(crosstrain.rtl.ports.FlowSignature(levels_layout(params, lanes)))
        Levels of ``lanes`` columns; one accepted every cycle.
    o : Out(crosstrain.rtl.ports.FlowSignature(result_layout(params, lanes)))
        ``digits``, ``levels`` and ``weight`` of the columns, valid ``stages`` cycles after
        they entered (0: in the same cycle); one per cycle. The wide weight is registered after
        the first stage, the results after the remaining ones; a stage holds its value until the
        next valid word replaces it.
    """

    def __init__(self, *, params: PeripheryParams, lanes: int | None = None,
                 stages: int | None = None):
        check_params(params)
        lanes = params.adcs_per_array if lanes is None else lanes
        stages = params.pipeline_cycles if stages is None else stages
        if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes <= 0:
            raise ValueError(f"lanes must be a positive integer, not {lanes!r}")
        if not isinstance(stages, int) or isinstance(stages, bool) or stages < 0:
            raise ValueError(f"stages must be a non-negative integer, not {stages!r}")
        self._params, self._lanes, self._stages = params, lanes, stages
        super().__init__({
            "i": In(FlowSignature(levels_layout(params, lanes))),
            "o": Out(FlowSignature(result_layout(params, lanes))),
        })

    @property
    def params(self) -> PeripheryParams:
        return self._params

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def stages(self) -> int:
        return self._stages

    def elaborate(self, platform):
        m = Module()
        p, lanes = self._params, self._lanes
        b, n_upd = p.bits_per_cell, p.update_slices
        wide_bits, wb = n_upd * b, p.weight_bits
        drop = wide_bits - wb
        bias = [((1 << h) - (1 << b)) // 2 for h in p.slice_bits]

        # stage 1: the wide weight of every lane, clipped to signed W bits
        wide = [Signal(signed(wide_bits), name=f"wide{k}") for k in range(lanes)]
        for k in range(lanes):
            terms = [(self.i.payload[s][k][:p.slice_bits[s]] - bias[s]) << (b * s) for s in range(n_upd)]
            total = Signal(signed(wide_bits + max(p.slice_bits) + n_upd.bit_length() + 1),
                           name=f"total{k}")
            m.d.comb += total.eq(sum(terms) - (1 << (wide_bits - 1)))
            m.d.comb += wide[k].eq(clip_signed(total, wide_bits))
        wide_q, valid_q = self._stage(m, wide, self.i.valid, "wide")

        # stage 2: round, clip, re-slice
        result = Signal(result_layout(p, lanes))
        for k in range(lanes):
            w = Signal(signed(wb), name=f"weight{k}")
            if drop:
                rounded = Signal(signed(wide_bits + 1 - drop), name=f"rounded{k}")
                m.d.comb += rounded.eq((wide_q[k] + (1 << (drop - 1))) >> drop)
                m.d.comb += w.eq(clip_signed(rounded, wb))
            else:
                m.d.comb += w.eq(wide_q[k])
            m.d.comb += result.weight[k].eq(w)
            u = wide_q[k].as_unsigned() ^ (1 << (wide_bits - 1))              # wide + 2**(W-1)
            digits, levels = reslice(p, w, u)
            m.d.comb += [result.digits[s][k].eq(d) for s, d in enumerate(digits)]
            m.d.comb += [result.levels[a][k].eq(v) for a, v in enumerate(levels)]
        out, valid = [result], valid_q
        for n in range(max(self._stages - 1, 0)):
            out, valid = self._stage(m, out, valid, f"out{n}")
        m.d.comb += [self.o.payload.eq(out[0]), self.o.valid.eq(valid)]
        return m

    def _stage(self, m, values, valid, name):
        """A register stage unless there are none: values load with ``valid``."""
        if self._stages == 0:
            return values, valid
        regs = [Signal.like(v, name=f"{name}_q{k}") for k, v in enumerate(values)]
        valid_q = Signal(name=f"{name}_valid")
        m.d.sync += valid_q.eq(valid)
        with m.If(valid):
            m.d.sync += [r.eq(v) for r, v in zip(regs, values)]
        return regs, valid_q
