"""Shift-and-add: ADC codes of every step and slice array into the signed output vector."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden import encoding
from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import check_params
from crosstrain.rtl.adc_sequencer import record_layout, record_signature
from crosstrain.rtl.input_streamer import lines


def output_layout(p) -> data.ArrayLayout:
    """One output vector: ``cols`` values (``rows`` when transposed), signed ``out_width``
    each; lines past the output count are 0."""
    return data.ArrayLayout(signed(p.out_width), lines(p))


def check_pipeline(p) -> None:
    if p.pipeline_cycles < 2:
        raise ConfigError(f"tile.pipeline_cycles = {p.pipeline_cycles} is too short for the MVM "
                          "RTL: it needs >= 2 (codes registered, then the shift-and-add)")


class ShiftAdd(wiring.Component):
    """Accumulates the ADC codes of every step and slice array into the output vector.

    For each conversion record, each ADC lane ``a`` forms ``z = sum_k sign_k * code_k <<
    shift_k`` over the slice arrays (:func:`crosstrain.golden.encoding.slice_weights`: the negative set
    subtracts in differential encoding); in offset encoding it subtracts the step's share of the
    bias, ``2**(weight_bits-1) * level_sum``, so that the bias removed over a vector is
    ``2**(weight_bits-1) * sum(x)``; it weights ``z`` by the step coefficient
    (:func:`crosstrain.golden.encoding.step_coefficients`: ``<< step*dac_bits``, negated ``<<
    input_bits-1`` for the sign step) and adds it to the line's accumulator (replaces it on a
    ``first`` step). Accumulators are rings of ``lines_per_adc`` entries per lane that rotate
    once per conversion, so the lines come back in order every step. Arithmetic is modulo
    ``2**out_width``, exact because every output fits (:attr:`PeripheryParams.min_out_width`).
    An ``empty`` record counts its codes as 0. Equals :func:`crosstrain.golden.crossbar.sliced_mvm`.

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams
        ``pipeline_cycles`` >= 2: records pass ``pipeline_cycles - 2`` register stages first.

    Members
    -------
    i : In(crosstrain.rtl.adc_sequencer.record_signature(params))
        One record per conversion, in line order within each step (no back-pressure).
    o : Out(stream.Signature(output_layout(params)))
        The output vector, valid ``pipeline_cycles - 1`` cycles after the record with ``last``
        and ``end``, held until taken. The producer must not deliver the next vector's final
        record before the output is taken (:class:`crosstrain.rtl.adc_sequencer.AdcSequencer` does not).
    """

    def __init__(self, *, params):
        self._params = check_params(params)
        check_pipeline(params)
        super().__init__({
            "i": In(record_signature(params)),
            "o": Out(stream.Signature(output_layout(params))),
        })

    @property
    def params(self):
        return self._params

    def elaborate(self, platform):
        m = Module()
        p = self._params
        w = p.out_width
        adcs = p.adcs_per_array
        _, sign, shift = encoding.slice_weights([[0]], p.cfg)     # every array's sign and shift

        # ---- pipeline_cycles - 2 register stages --------------------------------------------
        valid, rec = self.i.valid, self.i.payload
        for k in range(p.pipeline_cycles - 2):
            v, r = Signal(name=f"stage{k}_valid"), Signal(record_layout(p), name=f"stage{k}")
            m.d.sync += [v.eq(valid), r.eq(rec)]
            valid, rec = v, r

        # ---- one accumulator ring per ADC lane ----------------------------------------------
        n_fwd, n_tr = p.lines_per_adc(), p.lines_per_adc(transposed=True)
        depth = max(n_fwd, n_tr)
        shamt = Mux(rec.sign, p.input_bits - 1, rec.step * p.dac_bits)
        bias = (rec.level_sum << (p.weight_bits - 1)) if encoding.weight_offset(p.cfg) else 0
        rings_next = []
        for a in range(adcs):
            ring = [Signal(signed(w), name=f"acc{a}_{e}") for e in range(depth)]
            z = sum(int(sign[k]) * (rec.codes[k * adcs + a] << int(shift[k]))
                    for k in range(p.arrays))
            z = Mux(rec.empty, 0, z - bias)
            scaled = Signal(signed(w), name=f"scaled{a}")
            term = Signal(signed(w), name=f"term{a}")
            new = Signal(signed(w), name=f"new{a}")
            m.d.comb += [scaled.eq(z << shamt),
                         term.eq(Mux(rec.sign, -scaled, scaled)),
                         new.eq(Mux(rec.first, 0, ring[0]) + term)]
            nxt = []                               # the ring after this conversion
            for e in range(depth):
                tail = [new if e == n - 1 else ring[e + 1] if e < n - 1 else ring[e]
                        for n in (n_fwd, n_tr)]
                nxt.append(Mux(rec.transposed, tail[1], tail[0]) if tail[0] is not tail[1]
                           else tail[0])
            with m.If(valid):
                m.d.sync += [ring[e].eq(nxt[e]) for e in range(depth)]
            rings_next.append(nxt)

        # ---- output register ----------------------------------------------------------------
        zero = C(0, w)

        def gathered(n, n_out):
            return [rings_next[k // n][k % n] if k < n_out else zero for k in range(lines(p))]

        fwd, tr = gathered(n_fwd, p.cols), gathered(n_tr, p.rows)
        with m.If(valid & rec.last & rec.end):
            m.d.sync += self.o.valid.eq(1)
            # one assignment: per-line assignments into the wide payload make Amaranth's export
            # quadratic in the lines
            m.d.sync += self.o.payload.eq(Cat(
                (fwd[k] if fwd[k] is tr[k] else Mux(rec.transposed, tr[k], fwd[k]))[:w]
                for k in range(lines(p))))
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
