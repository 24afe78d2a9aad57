"""Write-elimination comparator: which elements of an array write are significant."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ResetSignal, Signal, Value, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.write_elim import ComparatorParams
from crosstrain.rtl.adder_tree import tree_sum


class Compare(enum.Enum, shape=1):
    """What an element is compared with: zero (``value``) or the level stored (``delta``)."""
    VALUE = 0
    DELTA = 1


class Granularity(enum.Enum, shape=2):
    """The group a skip decision covers: one element, ``row_group`` beats, or a tile."""
    CELL = 0
    ROW = 1
    TILE = 2


def beat_layout(p: ComparatorParams) -> data.StructLayout:
    """One beat: one array row of one tile. ``live`` marks real elements (not padding),
    ``last`` the last row of a tile."""
    return data.StructLayout({
        "new": data.ArrayLayout(signed(p.width), p.lanes),
        "stored": data.ArrayLayout(signed(p.width), p.lanes),
        "live": p.lanes,
        "last": 1,
    })


def result_layout(p: ComparatorParams) -> data.StructLayout:
    return data.StructLayout({"mask": p.lanes, "group_end": 1, "group_write": 1})


def settings_layout(p: ComparatorParams) -> data.StructLayout:
    return data.StructLayout({
        "compare": Compare,
        "granularity": Granularity,
        "threshold": unsigned(p.width),
        "row_group": unsigned(p.group_bits),
    })


class WriteEliminator(wiring.Component):
    """Compares each element of an array write with a threshold; flags groups worth writing.

    An element is significant when ``|new - ref| > threshold`` and it is live, where ``ref`` is
    0 (``Compare.VALUE``) or the level already stored (``Compare.DELTA``). Significance is the
    write enable at cell granularity; at row granularity (``row_group`` beats, counted from the
    start of a tile) or tile granularity (up to a beat with ``last``) the whole group is written
    when any of its elements is significant, else skipped. Exactly
    :func:`crosstrain.golden.write_elim.compare_beats`.

    Timing: a beat's result is valid ``params.stages`` cycles after the beat is accepted
    (:func:`crosstrain.golden.cycles.comparator_latency`): stage 1 compares every lane, stage 2
    counts the live and significant lanes, stage 3 closes the group, stage 4 loads the result
    and the counters (with fewer stages, the later ones share a cycle with the earlier). The
    stages move together, one beat per cycle while the result is read.

    Parameters
    ----------
    params : crosstrain.golden.write_elim.ComparatorParams
        ``lanes`` elements of ``width`` bits per beat, ``count_width``-bit counters,
        ``group_bits``-bit row-group register, ``stages`` register stages.

    Members
    -------
    settings : In(stream.Signature(settings_layout(params)))
        Register write: ``compare``, ``granularity``, ``threshold``, ``row_group`` (0 acts as 1).
        Always ready except while ``rst`` is high; a transfer takes effect from the next beat. Reset: value compare, tile
        granularity, threshold 0, row group 1. Change them between tiles.
    i : In(stream.Signature(beat_layout(params)))
        Beats; one accepted per cycle while ``o`` is empty or being read (never while ``rst``
        is high). The settings in force when a beat is accepted apply to it.
    o : Out(stream.Signature(result_layout(params)))
        One result per beat, valid ``stages`` cycles after the beat is accepted when ``o`` is
        read (low while ``rst`` is high): ``mask`` (significant
        live elements), ``group_end`` (the beat closes its group; every beat at cell
        granularity), ``group_write`` (some element of the group so far is significant: at a
        ``group_end``, whether the group is written; at cell granularity, whether the row is).
    clear : In(1)
        Zeroes both counters on the next cycle (a result loaded in the same cycle is not
        counted).
    issued, eliminated : Out(count_width)
        Saturating counts of element writes issued and eliminated, over live elements; at row or
        tile granularity a group counts with its last beat. Updated in the cycle the beat's
        result becomes valid.
    """

    def __init__(self, *, params: ComparatorParams):
        if not isinstance(params, ComparatorParams):
            raise TypeError(f"params must be a crosstrain.golden.write_elim.ComparatorParams, not {params!r}")
        self._params = params
        super().__init__({
            "settings": In(stream.Signature(settings_layout(params))),
            "i": In(stream.Signature(beat_layout(params))),
            "o": Out(stream.Signature(result_layout(params))),
            "clear": In(1),
            "issued": Out(params.count_width),
            "eliminated": Out(params.count_width),
        })

    @property
    def params(self) -> ComparatorParams:
        return self._params

    def elaborate(self, platform):
        m = Module()
        p = self._params
        beat = self.i.payload

        regs = Signal(settings_layout(p), init={"compare": Compare.VALUE,
                                                "granularity": Granularity.TILE,
                                                "threshold": 0, "row_group": 1})
        rst = ResetSignal()
        m.d.comb += self.settings.ready.eq(~rst)
        with m.If(self.settings.valid):
            m.d.sync += regs.eq(self.settings.payload)

        # one enable for the whole pipeline: every stage moves when the result register is
        # free or being read
        full = Signal()                            # a result is held
        advance = ~full | self.o.ready
        m.d.comb += [self.i.ready.eq(advance & ~rst), self.o.valid.eq(full & ~rst)]
        accept = self.i.valid & self.i.ready

        # stage 1: the comparison of every lane
        sig = Signal(p.lanes)
        for k in range(p.lanes):
            ref = Mux(regs.compare == Compare.DELTA, beat.stored[k], 0)
            diff = Signal(signed(p.width + 1), name=f"diff{k}")
            m.d.comb += [diff.eq(beat.new[k] - ref),
                         sig[k].eq(beat.live[k] & (abs(diff) > regs.threshold))]
        s = self._stage(m, advance, accept, p.stages >= 2, sig=sig, live=beat.live,
                        last=beat.last, granularity=regs.granularity, row_group=regs.row_group)

        # stage 2: the counts of the beat
        n_live, n_sig = Signal(range(p.lanes + 1)), Signal(range(p.lanes + 1))
        n_skip = Signal(range(p.lanes + 1))
        m.d.comb += [n_live.eq(tree_sum(s["live"][k] for k in range(p.lanes))),
                     n_sig.eq(tree_sum(s["sig"][k] for k in range(p.lanes))),
                     n_skip.eq(n_live - n_sig)]
        s = self._stage(m, advance, s["valid"], p.stages >= 3, sig=s["sig"], any=s["sig"].any(),
                        n_live=n_live, n_skip=n_skip, n_sig=n_sig, last=s["last"],
                        granularity=s["granularity"], row_group=s["row_group"])

        # stage 3: the group
        pos = Signal(p.group_bits)                 # beats of the current group so far
        acc = Signal()                             # some element of the group so far significant
        acc_live = Signal(p.count_width)           # live elements of the group so far
        cell = s["granularity"] == Granularity.CELL
        row = s["granularity"] == Granularity.ROW
        running = acc | s["any"]
        end = cell | s["last"] | (row & (pos + 1 >= s["row_group"]))
        group_live = self._saturate(acc_live + s["n_live"])
        with m.If(s["valid"] & advance):
            with m.If(end):
                m.d.sync += [acc.eq(0), pos.eq(0), acc_live.eq(0)]
            with m.Else():
                m.d.sync += [acc.eq(running), pos.eq(pos + 1), acc_live.eq(group_live)]
        s = self._stage(m, advance, s["valid"], p.stages >= 4, mask=s["sig"], end=end,
                        write=running,
                        add_issued=Mux(cell, s["n_sig"], Mux(end & running, group_live, 0)),
                        add_elim=Mux(cell, s["n_skip"], Mux(end & ~running, group_live, 0)))

        # stage 4: the result register and the counters
        take = s["valid"] & advance
        with m.If(take):
            m.d.sync += [self.o.payload.mask.eq(s["mask"]), self.o.payload.group_end.eq(s["end"]),
                         self.o.payload.group_write.eq(s["write"])]
        with m.If(advance):
            m.d.sync += full.eq(s["valid"])
        for counter, add in ((self.issued, s["add_issued"]), (self.eliminated, s["add_elim"])):
            with m.If(self.clear):
                m.d.sync += counter.eq(0)
            with m.Elif(take):
                m.d.sync += counter.eq(self._saturate(counter + add))
        return m

    @staticmethod
    def _stage(m, advance, valid, registered: bool, **values) -> dict:
        """``values`` and their ``valid``, through a register stage that loads on ``advance``
        when ``registered``, else unchanged (combinational)."""
        values["valid"] = valid
        if not registered:
            return values
        out = {}
        for name, v in values.items():
            out[name] = Signal(v.shape(), name=f"{name}_s")
            with m.If(advance):
                m.d.sync += out[name].eq(v)
        return out

    def _saturate(self, value):
        """An unsigned ``value`` clipped to ``count_max``, by its bits above ``count_width``
        (no comparison carry chain)."""
        cw = self._params.count_width
        if len(value) <= cw:
            return value
        return Mux(value[cw:].any(), self._params.count_max, value[:cw])
