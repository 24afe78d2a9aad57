"""Carry resolution (CRS) of one block: read the update slices row by row, compose, write back."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import PeripheryParams, check_params
from crosstrain.rtl.crs_compose import CrsCompose, copy_levels_layout, levels_layout
from crosstrain.rtl.ports import codes_layout


class CrsPortSignature(wiring.Signature):
    """The CRS unit's port to the arrays of one block (members seen from the unit; timing in
    :class:`CrsUnit`). Members shared with the MVM port
    (:class:`crosstrain.rtl.adc_sequencer.MvmPortSignature`) have its names and meaning.

    - ``drive``: a row read of every update slice; ``rows`` (one-hot): the row read, or the row
      written while ``write`` is high (a read and a write never overlap);
    - ``sample``: the sample-and-holds take the driven row's columns at the end of the cycle;
    - ``convert`` / ``line``: ADC ``a`` of every update slice converts held column
      ``a * lines_per_adc + line``; ``codes`` (``In``,
      :func:`crosstrain.rtl.ports.codes_layout` of the ``update_slices``) answer it one cycle
      later;
    - ``write``: a row write; ``digits`` (``[slice][column]``) to the update slices, ``levels``
      (``[array][column]``) to the forward and the backward copy.
    """

    def __init__(self, p: PeripheryParams):
        super().__init__({
            "drive": Out(1),
            "rows": Out(p.rows),
            "sample": Out(1),
            "convert": Out(1),
            "line": Out(range(max(p.lines_per_adc(), 2))),   # 1 bit (always 0) with one line per ADC
            "codes": In(codes_layout(p, p.update_slices)),
            "write": Out(1),
            "digits": Out(levels_layout(p, p.cols)),
            "levels": Out(copy_levels_layout(p, p.cols)),
        })


class State(enum.Enum, shape=2):
    IDLE = 0
    READ = 1         # drive a row (and let the previous row's last columns leave the pipeline)
    CONVERT = 2      # convert the sampled row while the previous row is written


class CrsUnit(wiring.Component):
    """Resolves the carries of one ``rows x cols`` block, with the schedule of
    :func:`crosstrain.golden.cycles.crs_cycles` and the arithmetic of :meth:`crosstrain.golden.opa.UpdateArrays.crs`.

    Slot 0 drives row 0 (``read_cycles``) and converts it (``conv_cycles``). Slot ``r`` in
    1 .. rows-1 drives row ``r`` for ``read_cycles`` within ``max(read_cycles,
    pipeline_cycles)`` cycles (row ``r-1``'s last columns leave the :class:`CrsCompose`
    pipeline meanwhile), then for ``max(conv_cycles, write_row_cycles)`` cycles converts row
    ``r`` from the sample-and-holds while writing row ``r-1``. The last slot waits
    ``pipeline_cycles`` and writes the last row. The update slices are thus never read and
    written at once. Each conversion's codes arrive registered in the next cycle (as on the MVM
    port, :class:`crosstrain.rtl.adc_sequencer.MvmPortSignature`) and go through one :class:`CrsCompose` lane
    per ADC (``pipeline_cycles - 1`` stages: the ADC register is the first of the
    ``pipeline_cycles``) into one of two row buffers (ping-pong: one fills while the other is
    written).

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams
        ``adc_bits`` must hold an update-slice level (``update_level_bits``);
        ``pipeline_cycles`` at least 1 (the ADC's output register).

    Members
    -------
    start : In(1)
        Starts a CRS when sampled high while idle (ignored while ``rst`` is high).
    busy : Out(1)
        High from the first row-drive cycle (the cycle after ``start``) through the last write
        cycle: ``crosstrain.golden.cycles.crs_cycles`` cycles.
    crs : Out(CrsPortSignature(params))
        ``drive`` with the one-hot ``rows``: a row read of every update slice (DAC level 1),
        ``sample`` in its last cycle (the sample-and-holds take the columns at the end of it).
        ``convert`` with ``line`` ``k``: every ADC ``a`` of every slice converts column
        ``a * lines_per_adc + k`` of the held row in this cycle; its ``codes``
        (``[slice][adc]``, codes past the last column ignored) must be presented in the next
        cycle (registered) and are taken at the end of it. ``write`` with the one-hot ``rows``:
        one row write of ``write_row_cycles`` cycles, all arrays at once; ``digits`` (``[slice][column]``) are the clean levels for the
        update slices, ``levels`` (``[array][column]``, :func:`crosstrain.golden.encoding.slice_weights`
        order) go to the forward copy and to the backward copy (same weights, read transposed).
        Data hold still while ``write`` is high. All outputs are decoded from registers.
    """

    def __init__(self, *, params: PeripheryParams):
        check_params(params)
        if params.adc_bits < params.update_level_bits:
            raise ConfigError(f"converters.adc_bits = {params.adc_bits} is too narrow for CRS: the "
                              f"update slices hold {params.update_level_bits}-bit levels "
                              "(precision.update_slice_bits)")
        if params.pipeline_cycles < 1:
            raise ConfigError(f"tile.pipeline_cycles = {params.pipeline_cycles} is too short for "
                              "CRS: the ADC's output register takes the first cycle")
        self._params = params
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "crs": Out(CrsPortSignature(params)),
        })

    @property
    def params(self) -> PeripheryParams:
        return self._params

    def elaborate(self, platform):
        m = Module()
        p = self._params
        read, conv, pipe, write = p.read_cycles, p.lines_per_adc(), p.pipeline_cycles, p.write_row_cycles
        rows, lanes, lines = p.rows, p.adcs_per_array, p.lines_per_adc()
        port = self.crs

        state = Signal(State)
        slot = Signal(range(rows + 1))
        cnt = Signal(range(max(read, pipe, conv, write)))
        first, last = slot == 0, slot == rows
        read_len = Mux(first, read, Mux(last, pipe, max(read, pipe)))
        conv_len = Mux(first, conv, Mux(last, write, max(conv, write)))

        reading, converting = state == State.READ, state == State.CONVERT
        m.d.comb += [
            self.busy.eq(state != State.IDLE),
            port.drive.eq(reading & ~last & (cnt < read)),
            port.sample.eq(port.drive & (cnt == read - 1)),
            port.convert.eq(converting & ~last & (cnt < conv)),
            port.line.eq(Mux(port.convert, cnt, 0)),
            port.write.eq(converting & ~first & (cnt < write)),
        ]
        m.d.comb += port.rows.eq(Cat(*((port.drive & (slot == r)) | (port.write & (slot == r + 1))
                                       for r in range(rows))))

        with m.Switch(state):
            with m.Case(State.IDLE):
                with m.If(self.start):
                    m.d.sync += [state.eq(State.READ), slot.eq(0), cnt.eq(0)]
            with m.Case(State.READ):
                m.d.sync += cnt.eq(cnt + 1)
                with m.If(cnt == read_len - 1):
                    m.d.sync += [cnt.eq(0), state.eq(State.CONVERT)]
            with m.Default():            # State.CONVERT (a full case: no lint gap)
                m.d.sync += cnt.eq(cnt + 1)
                with m.If(cnt == conv_len - 1):
                    m.d.sync += [cnt.eq(0), slot.eq(slot + 1), state.eq(State.READ)]
                    with m.If(last):
                        m.d.sync += state.eq(State.IDLE)

        # compose each conversion cycle's columns, into the row buffer of the row being read
        # (the codes of a conversion arrive in the next cycle)
        m.submodules.compose = compose = CrsCompose(params=p, lanes=lanes, stages=pipe - 1)
        m.d.sync += compose.i.valid.eq(port.convert)
        for s in range(p.update_slices):
            for a in range(lanes):
                m.d.comb += compose.i.payload[s][a].eq(port.codes[s][a][:p.update_level_bits])
        out_idx = Signal(range(lines))               # conversion index of the composed columns
        out_buf = Signal()                           # row buffer they go to: row number mod 2
        digits = [Signal(levels_layout(p, p.cols), name=f"digits{k}") for k in range(2)]
        levels = [Signal(copy_levels_layout(p, p.cols), name=f"levels{k}") for k in range(2)]
        res = compose.o.payload
        with m.If(self.start & (state == State.IDLE)):
            m.d.sync += [out_idx.eq(0), out_buf.eq(0)]
        with m.Elif(compose.o.valid):
            m.d.sync += out_idx.eq(Mux(out_idx == lines - 1, 0, out_idx + 1))
            with m.If(out_idx == lines - 1):
                m.d.sync += out_buf.eq(~out_buf)
            for c in range(p.cols):
                a, k = divmod(c, lines)
                with m.If(out_idx == k):
                    for buf in range(2):
                        with m.If(out_buf == buf):
                            m.d.sync += [digits[buf][s][c].eq(res.digits[s][a])
                                         for s in range(p.update_slices)]
                            m.d.sync += [levels[buf][j][c].eq(res.levels[j][a]) for j in range(p.arrays)]
        # slot r writes row r - 1, whose buffer is (r - 1) mod 2
        m.d.comb += [port.digits.eq(Mux(slot[0], digits[0], digits[1])),
                     port.levels.eq(Mux(slot[0], levels[0], levels[1]))]
        return m
