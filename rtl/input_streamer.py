"""Input streamer / DAC driver: one input vector in, one crossbar step token per DAC step out."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, ResetSignal, Signal, signed
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


#: Lines per copy of the token's load enable (see InputStreamer.elaborate); the one-hot step
#: select has a copy per two groups.
GROUP = 8


def lowest(bits):
    """The lowest set bit of ``bits``, one-hot (0 when none is)."""
    return (bits & (~bits + 1))[:len(bits)]


def encode(onehot):
    """The index of the set bit of ``onehot`` (0 when none is)."""
    n = len(onehot)
    return Cat(Cat(onehot[j] for j in range(n) if j >> b & 1).any()
               for b in range(max(1, (n - 1).bit_length())))


def tree_or(values):
    """OR of ``values`` as a balanced tree."""
    terms = list(values)
    while len(terms) > 1:
        terms = [terms[k] | terms[k + 1] if k + 1 < len(terms) else terms[k]
                 for k in range(0, len(terms), 2)]
    return terms[0]


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
        tok = self.o.payload
        held = Signal()                                                 # a token is on `o`
        # the handshakes without `rst` (a reset overrides every register load anyway): the
        # load enable of the token is one LUT of four registers and ports
        accept = self.i.valid & (~held | (self.o.ready & tok.last))
        advance = held & self.o.ready

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

        # the levels of every step of the input, step j's of every line side by side; the
        # vector being issued is held so (`steps`), and a step is picked by a one-hot `sel`,
        # registered ahead, so no step index is decoded between the handshake and the token
        width = n_lines * d
        chunks_in = [self._chunks(masked[k]) for k in range(n_lines)]
        # named signals, not expressions: amaranth.sim inlines an expression at every use (and
        # a slice of a Cat computes the whole Cat), which at 128 lines made the simulation
        # gigabytes large
        steps_in = [Signal(width, name=f"step{j}_in") for j in range(s)]
        m.d.comb += [v.eq(Cat(c[j * d:(j + 1) * d] for c in chunks_in))
                     for j, v in enumerate(steps_in)]
        steps = Signal(s * width)
        rem = Signal(s)                                # steps left after the token on `o`
        sel = Signal(s)                                # one-hot: the lowest of `rem`
        mode = Signal()

        issued_in, first_in = Signal(s), Signal(s)         # steps to issue, the first of them
        rest_in, rest_v = Signal(s), Signal(s)
        last, sel_next = Signal(), Signal(s)
        m.d.comb += [
            issued_in.eq(Cat(v.any() for v in steps_in) if self._skip_zero else (1 << s) - 1),
            first_in.eq(lowest(issued_in)),
            rest_in.eq(issued_in & ~first_in), rest_v.eq(rem & ~sel),
            last.eq(Mux(accept, rest_in == 0, rest_v == 0)),
            sel_next.eq(Mux(accept, lowest(rest_in), lowest(rest_v))),
        ]

        def pick(words, onehot):
            terms = [w & onehot[j].replicate(len(w)) for j, w in enumerate(words)]
            return tree_or(terms)

        # every GROUP lines have their own copy of `held` and `last`, and so their own load
        # enable: no one net fans out to all the levels and the held vector; every two groups
        # share a copy of `sel` (more copies would spread `sel_next` too far)
        for g, lo in enumerate(range(0, width, GROUP * d)):
            hi = min(width, lo + GROUP * d)
            if g == 0:
                held_g, last_g, sel_g = held, tok.last, sel
            else:
                held_g = Signal(name=f"held{g}", attrs={"keep": 1})
                last_g = Signal(name=f"last{g}", attrs={"keep": 1})
                if g % 2 == 0:
                    sel_g = Signal(s, name=f"sel{g // 2}", attrs={"keep": 1})
            accept_g = self.i.valid & (~held_g | (self.o.ready & last_g))
            advance_g = held_g & self.o.ready
            with m.If(accept_g):
                m.d.sync += [steps[j * width + lo:j * width + hi].eq(steps_in[j][lo:hi])
                             for j in range(s)]
            with m.If(accept_g | (advance_g & ~last_g)):
                m.d.sync += [held_g.eq(1), last_g.eq(last), *([sel_g.eq(sel_next)] if g % 2 == 0 else []),
                             tok.levels.as_value()[lo:hi].eq(Mux(
                                 accept_g, pick([w[lo:hi] for w in steps_in], first_in),
                                 pick([steps[j * width + lo:j * width + hi] for j in range(s)],
                                      sel_g)))]
            with m.Elif(advance_g):
                m.d.sync += held_g.eq(0)

        step = Mux(accept, encode(first_in), encode(sel))
        with m.If(accept):
            m.d.sync += mode.eq(vin.transposed)
        with m.If(accept | (advance & ~tok.last)):
            m.d.sync += [rem.eq(Mux(accept, rest_in, rest_v)),
                         tok.step.eq(step),
                         tok.sign.eq(step == s - 1),
                         tok.first.eq(accept),
                         tok.empty.eq(accept & (issued_in == 0)),
                         tok.transposed.eq(Mux(accept, vin.transposed, mode))]
        rst = ResetSignal()
        m.d.comb += [self.o.valid.eq(held & ~rst),
                     self.i.ready.eq((~held | (self.o.ready & tok.last)) & ~rst)]
        return m
