"""Input streamer / DAC driver: one input vector in, one crossbar step token per DAC step out."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Const, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.periphery import PeripheryParams, check_params


def lines(p: PeripheryParams) -> int:
    """Lines of the vector ports: the longer of rows and columns (MVM drives rows, the
    transposed MVM columns)."""
    return max(p.rows, p.cols)


def vector_layout(p: PeripheryParams) -> data.StructLayout:
    """One input vector: ``x`` (signed ``input_bits`` each, line ``l`` drives row ``l``, or
    column ``l`` when ``transposed``; lines past the driven count are ignored) and the mode."""
    return data.StructLayout({"x": data.ArrayLayout(signed(p.input_bits), lines(p)),
                              "transposed": 1})


def token_layout(p: PeripheryParams) -> data.StructLayout:
    """One crossbar step: the DAC level of every line, the step index (its shift; the sign step
    is ``input_steps - 1``), ``sign``, ``first`` (clear the accumulators), ``last`` (emit the
    output), ``empty`` (an all-zero vector: no drive, output zero) and the mode. (The sum of
    the levels, for the offset-encoding correction, is the ADC sequencer's: it sums its drive
    while the step is read.)"""
    return data.StructLayout({
        "levels": data.ArrayLayout(p.dac_bits, lines(p)),
        "step": range(p.input_steps),
        "sign": 1, "first": 1, "last": 1, "empty": 1,
        "transposed": 1,
    })


class InputStreamer(wiring.Component):
    """Splits each input vector into its crossbar steps (:func:`crosstrain.golden.encoding.input_steps`).

    Step ``k < input_steps - 1`` drives DAC level ``(x >> k*dac_bits) & (2**dac_bits - 1)`` of
    the low ``input_bits - 1`` bits of every value (two's-complement pattern), LSB chunk first;
    the last step (``sign``) drives the sign bit. With ``skip_zero`` only steps that drive some
    line with a non-zero level are issued, and an all-zero vector issues one ``empty`` token
    (step 0, no drive): exactly :meth:`crosstrain.golden.zeroskip.StepPlan.tokens`.

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams
    skip_zero : bool
        Issue only the steps that carry information.

    Members
    -------
    i : In(stream.Signature(vector_layout(params)))
        Input vectors. Ready when no token is pending or the vector's last token is being
        taken, so a new vector's first token follows the previous last token with no gap.
        Never ready while ``rst`` is high.
    o : Out(stream.Signature(token_layout(params)))
        Step tokens; the first token of a vector is valid the cycle after the vector is
        accepted, each next one the cycle after the previous is taken (one per cycle at most).
        Lines beyond the mode's driven count (rows, or columns when transposed) drive 0.
        Not valid while ``rst`` is high.
    """

    def __init__(self, *, params: PeripheryParams, skip_zero: bool = False):
        self._params = check_params(params)
        if not isinstance(skip_zero, bool):
            raise TypeError(f"skip_zero must be a bool, not {skip_zero!r}")
        self._skip_zero = skip_zero
        super().__init__({
            "i": In(stream.Signature(vector_layout(params))),
            "o": Out(stream.Signature(token_layout(params))),
        })

    @property
    def params(self) -> PeripheryParams:
        return self._params

    @property
    def skip_zero(self) -> bool:
        return self._skip_zero

    def _chunks(self, value):
        """The DAC level of every step of one value, as ``input_steps`` words of ``dac_bits``."""
        p = self._params
        n, d, s = p.input_bits, p.dac_bits, p.input_steps
        pad = (s - 1) * d - (n - 1)
        return Cat(value[:n - 1], C(0, pad), value[n - 1], C(0, d - 1))

    def elaborate(self, platform):
        m = Module()
        p = self._params
        n_lines, d, s = lines(p), p.dac_bits, p.input_steps
        vin = self.i.payload
        accept = self.i.valid & self.i.ready
        advance = self.o.valid & self.o.ready
        tok = self.o.payload

        # the input with lines beyond the mode's driven count cleared. Export time stays linear
        # in the lines (Amaranth 0.5): lines are sliced from signals, not from a field of the
        # payload (the export copies the field's whole slice for every line), and `masked` is
        # one assignment (per-line assignments into one wide signal are quadratic)
        x_in, mode_in = Signal.like(vin.x), Signal()
        m.d.comb += [x_in.eq(vin.x), mode_in.eq(vin.transposed)]
        masked = Signal(data.ArrayLayout(signed(p.input_bits), n_lines))
        m.d.comb += masked.eq(Cat(
            x_in[k] if k < min(p.rows, p.cols)
            else Mux(Mux(mode_in, k < p.cols, k < p.rows), x_in[k], 0)[:p.input_bits]
            for k in range(n_lines)))

        vec = Signal(data.ArrayLayout(signed(p.input_bits), n_lines))   # the vector being issued
        rem = Signal(s)                                                 # steps left after the token
        mode = Signal()
        with m.If(accept):
            m.d.sync += [vec.eq(masked), mode.eq(vin.transposed)]

        if self._skip_zero:
            chunks_in = [self._chunks(masked[k]) for k in range(n_lines)]
            issued_in = Cat(Cat(c[j * d:(j + 1) * d] for c in chunks_in).any() for j in range(s))
        else:
            issued_in = Const((1 << s) - 1, s)

        src_mask = Signal(s)
        src = Signal(data.ArrayLayout(signed(p.input_bits), n_lines))
        m.d.comb += [src_mask.eq(Mux(accept, issued_in, rem)),
                     src.eq(Mux(accept, masked.as_value(), vec.as_value()))]
        step = Signal(range(s))
        for j in reversed(range(s)):          # lowest pending step wins
            with m.If(src_mask[j]):
                m.d.comb += step.eq(j)
        rest = Signal(s)
        m.d.comb += rest.eq(src_mask & (src_mask - 1))
        levels = [self._chunks(src[k]).word_select(step, d) for k in range(n_lines)]

        load = accept | (advance & ~tok.last)
        held = Signal()                                                 # a token is on `o`
        with m.If(load):
            m.d.sync += [rem.eq(rest),
                         tok.levels.eq(Cat(levels)),
                         tok.step.eq(step),
                         tok.sign.eq(step == s - 1),
                         tok.first.eq(accept),
                         tok.last.eq(rest == 0),
                         tok.empty.eq(accept & (issued_in == 0)),
                         tok.transposed.eq(Mux(accept, vin.transposed, mode))]
        with m.If(load):
            m.d.sync += held.eq(1)
        with m.Elif(advance):
            m.d.sync += held.eq(0)
        rst = ResetSignal()
        m.d.comb += [self.o.valid.eq(held & ~rst),
                     self.i.ready.eq((~held | (self.o.ready & tok.last)) & ~rst)]
        return m
