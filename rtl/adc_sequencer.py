"""ADC sequencer: runs each step token on the crossbar (drive, sample-and-hold) and converts the
held lines through the shared ADCs."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, ResetSignal, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.cycles import level_sum_stages, mvm_schedule
from crosstrain.golden.encoding import weight_offset
from crosstrain.golden.periphery import check_params
from crosstrain.rtl.adder_tree import tree_sum
from crosstrain.rtl.fanout import copies
from crosstrain.rtl.input_streamer import lines, token_layout
from crosstrain.rtl.ports import FlowSignature, codes_layout

#: Token fields a step's records carry.
BOOKKEEPING = ("step", "sign", "first", "last", "empty", "transposed")


class MvmPortSignature(wiring.Signature):
    """The MVM crossbar port, as seen from the periphery (``Out`` toward the analog array).

    - ``drive`` (``lines x dac_bits``): DAC level of line ``l`` at bits ``[l*dac_bits,
      (l+1)*dac_bits)``; rows are driven, or columns when ``transposed``.
    - ``transposed``: the mode of ``drive`` / ``sample``.
    - ``sample``: one-cycle strobe; every array samples-and-holds its column sums (row sums
      when transposed) of the drive present in this cycle, at the end of the cycle.
    - ``convert`` / ``line``: ADC ``a`` of every array converts held line
      ``a * lines_per_adc + line`` of the last sample (a conversion in the cycle of a
      ``sample`` still converts the previous one).
    - ``codes`` (``In``, :func:`crosstrain.rtl.ports.codes_layout` of the ``arrays`` slice
      arrays): the codes of the conversion requested in cycle ``c``, presented by the array
      during cycle ``c + 1`` (registered); lines past the last real line convert to 0.
    """

    def __init__(self, p):
        lpa = max(p.lines_per_adc(), p.lines_per_adc(transposed=True))
        super().__init__({
            "drive": Out(lines(p) * p.dac_bits),
            "transposed": Out(1),
            "sample": Out(1),
            "convert": Out(1),
            "line": Out(range(max(lpa, 2))),       # 1 bit (always 0) with one line per ADC
            "codes": In(codes_layout(p, p.arrays)),
        })


def step_shift(p, step, sign):
    """The left shift of step ``step``'s weight (``step * dac_bits``; ``input_bits - 1`` on the
    sign step): :func:`crosstrain.golden.encoding.step_coefficients` in magnitude."""
    return Mux(sign, p.input_bits - 1, step * p.dac_bits)


def rotate_width(p) -> int:
    """Accumulator entries of the shift-and-add (one ``rotate`` copy each): ``lines_per_adc``
    (the larger of the two modes) per ADC lane."""
    return p.adcs_per_array * max(p.lines_per_adc(), p.lines_per_adc(transposed=True))


def record_layout(p) -> data.StructLayout:
    """One conversion's codes and bookkeeping: ``end`` marks the step's last conversion
    (with ``last``, the vector's final one); the rest is the step token's. ``bias`` is the
    step's offset-encoding correction of every line, ``-c * 2**(weight_bits-1) * level_sum``
    (``c`` the step coefficient, ``level_sum`` the sum of the step's DAC levels; 0 in
    differential encoding), modulo ``2**out_width``, minus 1 except on the sign step (the
    shift-and-add adds it with a carry-in of 1, which also completes its negation of the sign
    step's term). ``shift`` is the step's :func:`step_shift`, registered, so that the
    shift-and-add decodes no ``step`` and ``sign`` before its shifter. ``rotate`` holds copies of ``valid`` (one register each, one per accumulator
    entry of the shift-and-add, :func:`rotate_width`), so no one net loads every accumulator.
    Records flow without back-pressure (``FlowSignature``: ADC results cannot wait)."""
    return data.StructLayout({
        "codes": codes_layout(p, p.arrays),
        "step": range(p.input_steps),
        "sign": 1, "first": 1, "last": 1, "empty": 1, "end": 1,
        "bias": unsigned(p.out_width),
        "shift": range(p.input_bits),
        "transposed": 1,
        "rotate": rotate_width(p),
    })


class AdcSequencer(wiring.Component):
    """Runs step tokens on the crossbar and converts each sampled step, ISAAC-style.

    A token's step starts the first cycle it is valid: the lines are driven for
    ``read_cycles`` cycles (``sample`` in the last of them), and the token is taken at the end
    of the step's ``step_interval`` (:func:`crosstrain.golden.cycles.mvm_schedule`), so the next step is
    driven while this one converts (sample-and-hold). The ``adcs_per_array`` ADCs of every array
    convert the held lines in ``conv_cycles`` consecutive cycles starting the cycle after the
    sample. The sum of the step's levels (for each record's ``bias``) is an adder tree of
    :func:`crosstrain.golden.cycles.level_sum_stages` register stages, hidden under the read
    time: it is taken at the sample. Every ADC is busy every cycle when ``conv_cycles == step_interval`` and tokens keep
    coming. An ``empty`` token occupies one step slot without sampling or converting (its
    records still flow, zero-valued, so its output leaves in order).

    Back-pressure: the final conversion of a vector (``last`` step, last line) is issued only
    when no earlier vector's output is still waiting (``emitted`` clears it); meanwhile the held
    sample waits, and so does the next step's sample.

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams

    Members
    -------
    i : In(stream.Signature(token_layout(params)))
        Step tokens; taken at the end of each step (``ready`` does not depend on ``valid``).
    xbar : Out(MvmPortSignature(params))
        The crossbar port (see :class:`MvmPortSignature`).
    o : Out(crosstrain.rtl.ports.FlowSignature(record_layout(params)))
        One record per conversion, valid in the cycle its codes arrive (one cycle after the
        request): the codes from ``xbar.codes``, the step's bookkeeping, ``bias`` and ``shift``, and
        ``rotate`` (every bit equal to ``valid``). No back-pressure.
    emitted : In(1)
        An output vector left the unit this cycle.
    """

    def __init__(self, *, params):
        self._params = check_params(params)
        super().__init__({
            "i": In(stream.Signature(token_layout(params))),
            "xbar": Out(MvmPortSignature(params)),
            "o": Out(FlowSignature(record_layout(params))),
            "emitted": In(1),
        })

    @property
    def params(self):
        return self._params

    def elaborate(self, platform):
        m = Module()
        p = self._params
        fwd, tr = mvm_schedule(p.cfg), mvm_schedule(p.cfg, transposed=True)
        read = fwd.read_cycles
        tok = self.i.payload

        # ---- step timer: drive, sample, take the token --------------------------------------
        # `t` counts the step's cycles; whether it is at the sample or at the end of either
        # mode's interval is registered beside it (flags set as `t` moves), so the handshake
        # toward the streamer decodes no counter
        t = Signal(range(max(fwd.step_interval, tr.step_interval)))
        at = {n: Signal(name=f"t_at_{n}", init=n == 1) for n in {read, fwd.step_interval, tr.step_interval}}
        # `ready` leaves `valid` out (a token is taken only while valid anyway), so the path
        # from the streamer's `held` back to its own load enables goes through no logic here
        at_sample = self.i.valid & at[read]
        capture_ok = Signal()
        capture = at_sample & capture_ok
        hold = at_sample & ~capture_ok
        ready = Mux(tok.transposed, at[tr.step_interval], at[fwd.step_interval]) & \
            ~(at[read] & ~capture_ok)
        take = self.i.valid & ready
        m.d.comb += [self.i.ready.eq(ready & ~ResetSignal()),
                     self.xbar.drive.eq(Mux(self.i.valid, tok.levels.as_value(), 0)),
                     self.xbar.transposed.eq(tok.transposed),
                     self.xbar.sample.eq(capture & ~tok.empty)]
        with m.If(take):
            m.d.sync += [t.eq(0), *(flag.eq(n == 1) for n, flag in at.items())]
        with m.Elif(self.i.valid & ~hold):
            m.d.sync += [t.eq(t + 1), *(flag.eq(t == n - 2) for n, flag in at.items())]

        # ---- conversions of the held step ---------------------------------------------------
        # `end` (the conversion of the step's last line) is registered beside the line counter
        busy = Signal()
        j = Signal(range(max(fwd.conv_cycles, tr.conv_cycles)))
        end = Signal(init=fwd.conv_cycles == 1)
        book = Signal(record_layout(p))            # the held step's bookkeeping (codes unused)
        held_sum = Signal(range(lines(p) * ((1 << p.dac_bits) - 1) + 1))   # its levels' sum
        pending = Signal()                         # a final conversion's output not yet emitted
        n_conv = Mux(book.transposed, tr.conv_cycles, fwd.conv_cycles)
        final = busy & book.last & end
        go = busy & ~(final & pending)
        done = go & end
        m.d.comb += [capture_ok.eq(~busy | done),
                     self.xbar.convert.eq(go & ~book.empty),
                     self.xbar.line.eq(j)]
        # the levels are held from the step's first cycle; the sample is read_cycles - 1 later
        level_sum = tree_sum([tok.levels[k] for k in range(lines(p))], m=m,
                             stages=level_sum_stages(p.cfg), name="level_sum")
        with m.If(capture):
            m.d.sync += [busy.eq(1), j.eq(0), held_sum.eq(level_sum),
                         end.eq(Mux(tok.transposed, tr.conv_cycles, fwd.conv_cycles) == 1)]
            m.d.sync += [getattr(book, f).eq(getattr(tok, f)) for f in BOOKKEEPING]
        with m.Elif(done):
            m.d.sync += busy.eq(0)
        with m.Elif(go):
            m.d.sync += [j.eq(j + 1), end.eq(j == n_conv - 2)]
        with m.If(go & final):
            m.d.sync += pending.eq(1)
        with m.Elif(self.emitted):
            m.d.sync += pending.eq(0)

        # ---- records: bookkeeping registered to meet the codes ------------------------------
        # the bias from the held step (stable while it converts): a shift and a one's
        # complement, no carry chain
        rec = Signal(record_layout(p))
        w = p.out_width
        corr = (held_sum << (p.weight_bits - 1) << step_shift(p, book.step, book.sign))[:w] \
            if weight_offset(p.cfg) else C(0, w)
        m.d.sync += self.o.valid.eq(go)
        with m.If(go):
            m.d.sync += [getattr(rec, f).eq(getattr(book, f)) for f in BOOKKEEPING]
            m.d.sync += [rec.end.eq(end), rec.bias.eq(Mux(book.sign, corr, ~corr)),
                         rec.shift.eq(step_shift(p, book.step, book.sign))]
        m.d.comb += [self.o.payload.eq(rec), self.o.payload.codes.eq(self.xbar.codes),
                     self.o.payload.rotate.eq(Cat(copies(m, go, rotate_width(p), name="rotate")))]
        return m
