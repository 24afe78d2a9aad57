"""Shift-and-add: ADC codes of every step and slice array into the signed output vector."""

from __future__ import annotations

import itertools

from amaranth.hdl import C, Cat, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden import encoding
from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import check_params
from crosstrain.rtl.adc_sequencer import record_layout
from crosstrain.rtl.fanout import copies
from crosstrain.rtl.input_streamer import lines
from crosstrain.rtl.ports import FlowSignature


#: Output lines per copy of their load enable (see ShiftAdd.elaborate).
GROUP = 16


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
    subtracts in differential encoding), weights ``z`` by the step coefficient
    (:func:`crosstrain.golden.encoding.step_coefficients`: ``<< step*dac_bits``, negated ``<<
    input_bits-1`` for the sign step; the record's ``shift`` is the amount) and adds it, with the record's ``bias`` (the step's share
    of the offset-encoding correction, so that the bias removed over a vector is
    ``2**(weight_bits-1) * sum(x)``: :func:`crosstrain.rtl.adc_sequencer.record_layout`) and a
    carry-in of 1, to the line's accumulator (replaces it on a ``first`` step). Accumulators
    are rings of ``lines_per_adc`` entries per lane that rotate once per conversion (each entry
    on its bit of ``rotate``), so the lines come back in order every step. Arithmetic is modulo
    ``2**out_width``, exact because every output fits (:attr:`PeripheryParams.min_out_width`).
    An ``empty`` record counts its codes as 0. Equals :func:`crosstrain.golden.crossbar.sliced_mvm`.

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams
        ``pipeline_cycles`` >= 2: records pass ``pipeline_cycles - 2`` register stages before
        the accumulation; the last two of them (or the one) split each lane's term (the
        slice-array sum, then the step shift), for the clock rate, at no cost in
        cycles beyond ``pipeline_cycles``.

    Members
    -------
    i : In(crosstrain.rtl.ports.FlowSignature(record_layout(params)))
        One record per conversion, in line order within each step (no back-pressure); every
        bit of ``rotate`` equals ``valid``.
    o : Out(stream.Signature(output_layout(params)))
        The output vector, valid ``pipeline_cycles - 1`` cycles after the record with ``last``
        and ``end``, held until taken (while ``valid`` is low the payload is not held). The
        producer must not deliver the next vector's final record before the output is taken
        (:class:`crosstrain.rtl.adc_sequencer.AdcSequencer` does not). Low while ``rst`` is
        high.
    """

    def __init__(self, *, params):
        self._params = check_params(params)
        check_pipeline(params)
        super().__init__({
            "i": In(FlowSignature(record_layout(params))),
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

        # ---- pipeline_cycles - 2 register stages: the last two (when there are) split each
        # lane's term, the others come first and only delay the records --------------------
        extra = p.pipeline_cycles - 2
        valid, rec = self.i.valid, self.i.payload
        stages = itertools.count()

        def delay():
            k = next(stages)
            v, r = Signal(name=f"stage{k}_valid"), Signal(record_layout(p), name=f"stage{k}")
            m.d.sync += [v.eq(valid), r.eq(rec)]
            return v, r

        for _ in range(extra - 2):
            valid, rec = delay()

        # ---- each lane's term: z = sum_k sign_k * code_k << shift_k (registered when
        # extra >= 2), shifted by the step (registered when extra >= 1) ---------------------
        zs = []
        for a in range(adcs):
            z = sum(int(sign[k]) * (rec.codes[k][a] << int(shift[k])) for k in range(p.arrays))
            zs.append(Signal(z.shape(), name=f"z{a}"))
            m.d.comb += zs[a].eq(Mux(rec.empty, 0, z))
        if extra >= 2:
            zs = [self._register(m, z, f"z{a}_s") for a, z in enumerate(zs)]
            valid, rec = delay()
        scaled = [Signal(signed(w), name=f"scaled{a}") for a in range(adcs)]
        m.d.comb += [s.eq(z << rec.shift) for s, z in zip(scaled, zs)]
        n_fwd, n_tr = p.lines_per_adc(), p.lines_per_adc(transposed=True)
        depth = max(n_fwd, n_tr)
        if extra >= 1:
            scaled = [self._register(m, v, f"scaled{a}_s") for a, v in enumerate(scaled)]
            valid, rec = delay()

        # ---- one accumulator ring per ADC lane, each entry loading on its own copy of
        # `valid` (the record's `rotate`): no net reaches them all ---------------------------
        rings_next = []
        for a in range(adcs):
            ring = [Signal(signed(w), name=f"acc{a}_{e}") for e in range(depth)]
            # base + (+-scaled) + bias as one carry chain: the sign step's negation is
            # ~scaled + 1, the bias is the correction minus 1 off the sign step, so the two
            # +1 are the one carry-in; the three operands meet in a carry-save layer
            base = Signal(signed(w), name=f"base{a}")
            term = Signal(w, name=f"term{a}")
            new = Signal(signed(w), name=f"new{a}")
            m.d.comb += [base.eq(Mux(rec.first, 0, ring[0])),
                         term.eq(scaled[a] ^ rec.sign.replicate(w))]
            ops = (base.as_unsigned(), term, rec.bias)
            total = ops[0] ^ ops[1] ^ ops[2]
            carry = (ops[0] & ops[1]) | (ops[0] & ops[2]) | (ops[1] & ops[2])
            m.d.comb += new.eq(total + Cat(C(1, 1), carry[:w - 1]))
            nxt = []                               # the ring after this conversion
            for e in range(depth):
                tail = [new if e == n - 1 else ring[e + 1] if e < n - 1 else ring[e]
                        for n in (n_fwd, n_tr)]
                nxt.append(Mux(rec.transposed, tail[1], tail[0]) if tail[0] is not tail[1]
                           else tail[0])
            for e in range(depth):
                with m.If(rec.rotate[a * depth + e]):
                    m.d.sync += ring[e].eq(nxt[e])
            rings_next.append(nxt)

        # ---- output register ----------------------------------------------------------------
        zero = C(0, w)

        def gathered(n, n_out):
            return [rings_next[k // n][k % n] if k < n_out else zero for k in range(lines(p))]

        fwd, tr = gathered(n_fwd, p.cols), gathered(n_tr, p.rows)
        # The register loads whenever it holds no output or its output is being taken (the
        # final record's flag would have to reach every bit); `full` has a copy per GROUP
        # lines, one assignment each (per-line assignments into the wide payload make
        # Amaranth's export quadratic in the lines)
        load = valid & rec.last & rec.end
        full = Signal()                            # an output is held
        with m.If(load | self.o.ready):
            m.d.sync += full.eq(load)
        m.d.comb += self.o.valid.eq(full & ~ResetSignal())
        fulls = [full, *copies(m, load, -(-lines(p) // GROUP) - 1, name="full",
                               enable=load | self.o.ready)]
        payload = self.o.payload.as_value()
        for g, f in enumerate(fulls):
            lo, hi = g * GROUP, min(lines(p), (g + 1) * GROUP)
            with m.If(~f | self.o.ready):
                m.d.sync += payload[lo * w:hi * w].eq(Cat(
                    (fwd[k] if fwd[k] is tr[k] else Mux(rec.transposed, tr[k], fwd[k]))[:w]
                    for k in range(lo, hi)))
        return m

    @staticmethod
    def _register(m, value, name):
        r = Signal(value.shape(), name=name)
        m.d.sync += r.eq(value)
        return r
