"""PANTHER's outer-product update (OPA) driver: row bits and column pulse widths per phase."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, ResetSignal, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.opa import PHASES
from crosstrain.golden.periphery import PeripheryParams, check_params


def opa_input_layout(p: PeripheryParams) -> data.StructLayout:
    """One OPA: the row vector ``x`` (``input_bits`` signed) and column vector ``d``
    (``error_bits`` signed)."""
    return data.StructLayout({
        "x": data.ArrayLayout(signed(p.input_bits), p.rows),
        "d": data.ArrayLayout(signed(p.error_bits), p.cols),
    })


def pieces_layout(p: PeripheryParams) -> data.ArrayLayout:
    """Pulse widths: ``bits_per_cell`` bits per column of every update slice, indexed
    ``[slice][column]`` (flat bit offset ``(slice * cols + column) * bits_per_cell``)."""
    return data.ArrayLayout(data.ArrayLayout(unsigned(p.bits_per_cell), p.cols), p.update_slices)


class UpdatePortSignature(wiring.Signature):
    """The OPA update port: what the driver presents to the update-slice arrays (members seen
    from the driver; timing in :class:`OpaDriver`).

    - ``pulse``: a driven cycle; ``start``: the first cycle of a phase; ``last``: every cycle of
      the OPA's last phase; ``potentiate``: the phase's polarity;
    - ``rows`` (one bit per row): the rows driven in the phase;
    - ``pieces`` (:func:`pieces_layout`): the pulse width of every column of every update slice.
    """

    def __init__(self, p: PeripheryParams):
        super().__init__({
            "pulse": Out(1),
            "start": Out(1),
            "last": Out(1),
            "potentiate": Out(1),
            "rows": Out(p.rows),
            "pieces": Out(pieces_layout(p)),
        })


class OpaDriver(wiring.Component):
    """Drives one outer-product update ``x (x) d`` into the update slices, exactly as
    :func:`crosstrain.golden.opa.opa_drive`.

    For each of the ``input_bits`` row-bit steps ``j`` (LSB first) and each polarity phase of
    :data:`crosstrain.golden.opa.PHASES` (row sign, column sign), in that order, the driver holds for
    ``opa_phase_cycles`` cycles: the rows whose input has that sign and bit ``j`` of ``|x|`` set,
    and on the columns whose error has that sign the ``bits_per_cell``-bit pieces of
    ``(|d| << j) >> opa_shift``, piece ``m`` to update slice ``m``; other columns get width 0.
    The phase potentiates when the signs agree, else depresses. ``|x|`` and ``|d| << j`` live in
    shift registers (no barrel shifter).

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams

    Members
    -------
    i : In(stream.Signature(opa_input_layout(params)))
        The vectors of one OPA. Accepted while idle, and in the last cycle of the last phase
        (so back-to-back OPAs leave no gap); never while ``rst`` is high.
    upd : Out(UpdatePortSignature(params))
        ``pulse`` is high in every driven cycle: from the cycle after ``i`` is accepted, for
        ``crosstrain.golden.cycles.opa_cycles`` cycles (``input_bits`` x 4 phases x ``opa_phase_cycles``).
        ``start`` marks the first cycle of each phase, ``last`` every cycle of the OPA's last
        phase. ``rows`` (one bit per row), ``pieces`` (:func:`pieces_layout`) and
        ``potentiate`` hold still through a phase and are 0 while ``pulse`` is low. All outputs
        are decoded from registers only.
    """

    def __init__(self, *, params: PeripheryParams):
        check_params(params)
        self._params = params
        super().__init__({
            "i": In(stream.Signature(opa_input_layout(params))),
            "upd": Out(UpdatePortSignature(params)),
        })

    @property
    def params(self) -> PeripheryParams:
        return self._params

    def elaborate(self, platform):
        m = Module()
        p = self._params
        b, n_steps, n_slices = p.bits_per_cell, p.input_bits, p.update_slices
        shift = p.cfg.precision.opa_shift
        dv_bits = p.error_bits + n_steps - 1        # |d| << j for j < input_bits

        busy = Signal()
        step = Signal(range(n_steps))
        phase = Signal(range(len(PHASES)))
        cyc = Signal(range(p.opa_phase_cycles))
        ax = [Signal(p.input_bits, name=f"ax{r}") for r in range(p.rows)]        # |x| >> j
        xneg = Signal(p.rows)
        dv = [Signal(dv_bits, name=f"dv{c}") for c in range(p.cols)]            # |d| << j
        dneg = Signal(p.cols)

        # polarity of the phase, as sums of products (continuous assignments: an always block
        # reading only an unchanged register would never run in Icarus)
        def decode(pick):
            return Cat(*(phase == k for k, signs in enumerate(PHASES) if pick(*signs))).any()
        row_neg, col_neg = Signal(), Signal()
        agree = Signal()
        m.d.comb += [row_neg.eq(decode(lambda sr, sc: sr < 0)), col_neg.eq(decode(lambda sr, sc: sc < 0)),
                     agree.eq(decode(lambda sr, sc: sr == sc))]

        upd = self.upd
        phase_end = cyc == p.opa_phase_cycles - 1
        last_phase = (step == n_steps - 1) & (phase == len(PHASES) - 1)
        m.d.comb += [upd.pulse.eq(busy), upd.start.eq(busy & (cyc == 0)),
                     upd.last.eq(busy & last_phase), upd.potentiate.eq(busy & agree)]
        # whole-vector assignments: one driver per port (Icarus re-resolves a net with many
        # part-select drivers on every change of any part)
        m.d.comb += upd.rows.eq(Cat(*(busy & ax[r][0] & (xneg[r] == row_neg) for r in range(p.rows))))
        # every piece exactly b bits wide in the Cat: the top piece of |d| << j may have fewer
        # bits (dv_bits not a multiple of b) and pieces past it none; zero-extended by the
        # b-bit Const (a narrower element would shift every later piece of the Cat)
        pieces = []
        for s in range(n_slices):                       # [slice][column], column fastest
            lo = shift + b * s
            for c in range(p.cols):
                piece = dv[c][lo:lo + b] if lo < dv_bits else Const(0, b)
                pieces.append(Mux(busy & (dneg[c] == col_neg), piece, Const(0, b)))
        m.d.comb += upd.pieces.eq(Cat(*pieces))

        with m.If(busy):
            m.d.sync += cyc.eq(cyc + 1)
            with m.If(phase_end):
                m.d.sync += [cyc.eq(0), phase.eq(phase + 1)]
                with m.If(phase == len(PHASES) - 1):
                    m.d.sync += [phase.eq(0), step.eq(step + 1)]
                    m.d.sync += [a.eq(a >> 1) for a in ax] + [v.eq(v << 1) for v in dv]
                    with m.If(step == n_steps - 1):
                        m.d.sync += busy.eq(0)

        m.d.comb += self.i.ready.eq((~busy | (last_phase & phase_end)) & ~ResetSignal())
        # export time linear in rows and cols (Amaranth 0.5): elements are sliced from signals,
        # not from fields of the payload (the export copies a field's whole slice for every
        # element), and the sign registers take one assignment each (per-bit assignments into
        # one wide signal are quadratic)
        x, d = Signal.like(self.i.payload.x), Signal.like(self.i.payload.d)
        m.d.comb += [x.eq(self.i.payload.x), d.eq(self.i.payload.d)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [busy.eq(1), step.eq(0), phase.eq(0), cyc.eq(0)]
            m.d.sync += [ax[r].eq(abs(x[r])) for r in range(p.rows)]
            m.d.sync += [dv[c].eq(abs(d[c])) for c in range(p.cols)]
            m.d.sync += [xneg.eq(Cat(x[r] < 0 for r in range(p.rows))),
                         dneg.eq(Cat(d[c] < 0 for c in range(p.cols)))]
        return m
