"""The tile-level top of one crossbar block: MVM, transposed MVM, OPA and CRS behind one command
stream and one crossbar port."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ResetSignal, Shape, Signal, signed
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.periphery import PeripheryParams, check_params
from crosstrain.rtl.adc_sequencer import MvmPortSignature
from crosstrain.rtl.crs_unit import CrsPortSignature, CrsUnit
from crosstrain.rtl.input_streamer import lines
from crosstrain.rtl.mvm_unit import MvmUnit
from crosstrain.rtl.opa_driver import OpaDriver, UpdatePortSignature
from crosstrain.rtl.row_writer import RowWriter, row_layout
from crosstrain.rtl.shift_add import output_layout


class Op(enum.Enum, shape=3):
    """Operation of a command."""
    MVM = 0          # y = x @ W (forward copy, rows driven)
    MVM_T = 1        # y = x @ W.T (backward copy, columns driven)
    OPA = 2          # outer-product update x (x) d of the update slices
    CRS = 3          # carry resolution: update slices -> forward and backward copies
    WRITE = 4        # program row ``row`` of every array with weights ``w``


class Mode(enum.Enum, shape=3):
    """What the port asks of the arrays in a cycle."""
    IDLE = 0
    MVM = 1          # drive rows of the forward copy, sample its columns, convert
    MVM_T = 2        # drive columns of the backward copy, sample its rows, convert
    OPA = 3          # update pulses into the update slices
    CRS_READ = 4     # one-hot row read of the update slices, sample, convert
    CRS_WRITE = 5    # row write of the update slices and both copies (conversions continue)


def command_layout(p: PeripheryParams) -> data.StructLayout:
    """One command: ``op``, ``x`` (signed ``input_bits`` per line: the MVM input, rows for
    ``MVM`` and ``OPA``, columns for ``MVM_T``; lines past the count ignored), ``d`` (signed
    ``error_bits`` per column, the OPA's error vector) and ``row`` (``WRITE``'s row index and
    weights, :func:`crosstrain.rtl.row_writer.row_layout`). ``CRS`` takes no operand."""
    return data.StructLayout({
        "op": Op,
        "x": data.ArrayLayout(signed(p.input_bits), lines(p)),
        "d": data.ArrayLayout(signed(p.error_bits), p.cols),
        "row": row_layout(p),
    })


def _merged(members: dict, name: str, member) -> None:
    """Add ``member`` to ``members``; a member two parts share keeps one flow and takes the
    wider shape (a range, a width or an array of more arrays)."""
    old = members.get(name)
    if old is None or Shape.cast(member.shape).width > Shape.cast(old.shape).width:
        members[name] = member
    assert old is None or old.flow == member.flow, name


class CrossbarPortSignature(wiring.Signature):
    """The unified crossbar port of :class:`CrossbarUnit` (``Out`` toward the analog block),
    built from its parts' ports: ``mode`` (:class:`Mode`), then the members of
    :class:`~crosstrain.rtl.adc_sequencer.MvmPortSignature`,
    :class:`~crosstrain.rtl.opa_driver.UpdatePortSignature` and
    :class:`~crosstrain.rtl.crs_unit.CrsPortSignature`. Members of the same name are one member
    (``rows``, ``sample``, ``convert``, ``line``, ``codes``: the parts never use them in the same
    cycle), as wide as the widest part's (``codes``: :func:`crosstrain.rtl.ports.codes_layout`
    of ``max(arrays, update_slices)``). ``mode`` replaces the parts' own mode strobes (the MVM
    port's ``transposed``, the CRS port's ``drive``)."""

    def __init__(self, p: PeripheryParams):
        members = {"mode": Out(Mode)}
        parts = ((MvmPortSignature(p), {"transposed"}), (UpdatePortSignature(p), set()),
                 (CrsPortSignature(p), {"drive"}))
        for part, replaced in parts:
            for name, member in part.members.items():
                if name not in replaced:
                    _merged(members, name, member)
        super().__init__(members)


#: Vectors an MvmUnit holds at most: one output waiting, the next vector's final conversion
#: held, and a third vector's first step driven (the streamer takes no fourth).
MAX_IN_FLIGHT = 3


class CrossbarUnit(wiring.Component):
    """One crossbar block's periphery: :class:`~crosstrain.rtl.mvm_unit.MvmUnit`,
    :class:`~crosstrain.rtl.opa_driver.OpaDriver` and :class:`~crosstrain.rtl.crs_unit.CrsUnit` behind one command
    stream and one crossbar port, so the same RTL serves forward, backward and update.

    Commands dispatch with no overhead cycle: the top only routes and gates. Policy: MVM and
    MVM_T commands pass straight to the MVM unit (back to back at its full, ADC-bound rate, the
    modes mixed freely) while no OPA or CRS runs; an OPA or CRS command waits until every MVM
    accepted so far has left ``o`` and no other OPA or CRS runs, except that an OPA follows an
    OPA with no gap (the driver's own back-to-back rule). So, exactly as :mod:`crosstrain.golden.cycles`:

    - MVM / MVM_T accepted at edge ``e`` (``o`` ready) leaves ``o`` at edge ``e +
      mvm_schedule(cfg, transposed).latency``; back to back, one every ``interval`` cycles;
    - OPA: ``pulse`` from the cycle after acceptance, for ``opa_cycles`` cycles;
    - CRS: mode ``CRS_READ`` / ``CRS_WRITE`` from the cycle after acceptance, for
      ``crs_cycles`` cycles.

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams
        As :class:`MvmUnit` (``pipeline_cycles >= 2``) and :class:`CrsUnit` (``adc_bits >=
        update_level_bits``) require.

    Members
    -------
    cmd : In(stream.Signature(command_layout(params)))
        Commands, one operation each (:func:`command_layout`); taken when dispatched, never
        while ``rst`` is high.
    o : Out(stream.Signature(output_layout(params)))
        MVM / MVM_T results in command order (signed ``out_width`` per line).
    xbar : Out(CrossbarPortSignature(params))
        ``mode`` (:class:`Mode`) says which arrays the cycle's strobes address. ``drive``
        (``dac_bits`` per line) with ``sample``, ``convert`` and ``line`` are the MVM port of
        :class:`crosstrain.rtl.adc_sequencer.MvmPortSignature` (mode ``MVM`` / ``MVM_T`` is the mode of the
        drive; a conversion reads the last sample, whatever its mode). In CRS, ``rows`` is the
        one-hot row read (mode ``CRS_READ``, ``sample`` in its last cycle) and ``convert`` /
        ``line`` convert column ``a * lines_per_adc + line`` of the held row on ADC ``a`` of every
        update slice. ``codes`` answers every conversion one cycle after its request
        (registered), array (or update slice) ``k``'s ADC ``a`` at bits ``[(k * adcs_per_array +
        a) * adc_bits, ...)``. In OPA, ``pulse``, ``start``, ``last``, ``potentiate``, ``rows``
        and ``pieces`` are :class:`crosstrain.rtl.opa_driver.UpdatePortSignature`. ``write`` (mode
        ``CRS_WRITE``) is a row write of ``write_row_cycles`` to row ``rows`` (one-hot) of every
        update slice (``digits``, ``[slice][column]``) and of the forward and backward copies
        (``levels``, ``[array][column]``), data held still while ``write`` is high.
    busy : Out(1)
        An accepted command has not finished: an MVM / MVM_T not yet left ``o``, or an OPA or
        CRS still driving the port.
    """

    def __init__(self, *, params: PeripheryParams):
        check_params(params)
        # the parts validate the parameters (one-line ConfigErrors) before anything is built
        self._mvm, self._opa, self._crs = MvmUnit(params=params), OpaDriver(params=params), CrsUnit(params=params)
        self._writer = RowWriter(params=params)
        self._params = params
        super().__init__({
            "cmd": In(stream.Signature(command_layout(params))),
            "o": Out(stream.Signature(output_layout(params))),
            "xbar": Out(CrossbarPortSignature(params)),
            "busy": Out(1),
        })

    @property
    def params(self) -> PeripheryParams:
        return self._params

    def elaborate(self, platform):
        m = Module()
        p = self._params
        m.submodules.mvm = mvm = self._mvm
        m.submodules.opa = opa = self._opa
        m.submodules.crs = crs = self._crs
        m.submodules.writer = wr = self._writer
        cmd, port = self.cmd, self.xbar
        op = cmd.payload.op

        # ---- MVMs in flight: accepted and not yet left `o` ----------------------------------
        in_flight = Signal(range(MAX_IN_FLIGHT + 1))
        m.d.sync += in_flight.eq(in_flight + (mvm.i.valid & mvm.i.ready) - (self.o.valid & self.o.ready))
        mvm_idle = in_flight == 0
        opa_busy, crs_busy = opa.upd.pulse, crs.busy | wr.write      # a row write as a CRS
        m.d.comb += self.busy.eq(~mvm_idle | opa_busy | crs_busy)

        # ---- dispatch -----------------------------------------------------------------------
        is_mvm = (op == Op.MVM) | (op == Op.MVM_T)
        go_mvm = cmd.valid & is_mvm & ~opa_busy & ~crs_busy
        go_opa = cmd.valid & (op == Op.OPA) & mvm_idle & ~crs_busy
        go_crs = cmd.valid & (op == Op.CRS) & mvm_idle & ~opa_busy & ~crs_busy
        go_wr = cmd.valid & (op == Op.WRITE) & mvm_idle & ~opa_busy & ~crs_busy
        m.d.comb += [
            mvm.i.valid.eq(go_mvm),
            mvm.i.payload.x.eq(cmd.payload.x),
            mvm.i.payload.transposed.eq(op == Op.MVM_T),
            opa.i.valid.eq(go_opa),
            opa.i.payload.d.eq(cmd.payload.d),
            crs.start.eq(go_crs),
            wr.i.valid.eq(go_wr), wr.i.payload.eq(cmd.payload.row),
            cmd.ready.eq(((go_mvm & mvm.i.ready) | (go_opa & opa.i.ready) | go_crs | (go_wr & wr.i.ready))
                         & ~ResetSignal()),
        ]
        m.d.comb += [opa.i.payload.x[r].eq(cmd.payload.x[r]) for r in range(p.rows)]
        wiring.connect(m, mvm.o, wiring.flipped(self.o))

        # ---- the port: the parts never overlap, so their strobes are ORed ----------------
        mx, up, cp = mvm.xbar, opa.upd, crs.crs
        with m.If(crs_busy):
            m.d.comb += port.mode.eq(Mux(cp.write | wr.write, Mode.CRS_WRITE, Mode.CRS_READ))
        with m.Elif(opa_busy):
            m.d.comb += port.mode.eq(Mode.OPA)
        with m.Elif(~mvm_idle):
            m.d.comb += port.mode.eq(Mux(mx.transposed, Mode.MVM_T, Mode.MVM))
        n_mvm = p.arrays * p.adcs_per_array * p.adc_bits
        n_crs = p.update_slices * p.adcs_per_array * p.adc_bits
        m.d.comb += [
            port.drive.eq(mx.drive),
            port.rows.eq(up.rows | cp.rows | Mux(wr.write, wr.rows, 0)),
            port.sample.eq(mx.sample | cp.sample),
            port.convert.eq(mx.convert | cp.convert),
            port.line.eq(Mux(crs_busy, cp.line, mx.line)),
            mx.codes.eq(port.codes.as_value()[:n_mvm]),
            cp.codes.eq(port.codes.as_value()[:n_crs]),
            port.pulse.eq(up.pulse), port.start.eq(up.start), port.last.eq(up.last),
            port.potentiate.eq(up.potentiate), port.pieces.eq(up.pieces),
            port.write.eq(cp.write | wr.write),
            port.digits.eq(Mux(wr.write, wr.digits.as_value(), cp.digits.as_value())),
            port.levels.eq(Mux(wr.write, wr.levels.as_value(), cp.levels.as_value())),
        ]
        return m
