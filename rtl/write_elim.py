"""Write-elimination comparator: which elements of an array write are significant."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, ResetSignal, Signal, Value, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.write_elim import ComparatorParams
from crosstrain.rtl.adder_tree import tree_sum
from crosstrain.rtl.fanout import copies

#: Lanes per copy of the threshold and of the pipeline's enable, and per partial count (see
#: WriteEliminator.elaborate).
GROUP = 16
#: Lanes per copy of ``compare`` and of the registered threshold (each drives every bit of a
#: lane).
SETTING_GROUP = 4


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
    (:func:`crosstrain.golden.cycles.comparator_latency`). The work, in order: ``|new - ref|`` of
    every lane, its threshold comparison, the counts of every 16 lanes (``GROUP``), the counts
    of the beat (and whether it ends its group), the group, the result and the counters.
    Registers follow the difference from 5 stages on, the comparison from 2, the 16-lane counts
    from 6, the beat's counts from 3, the group from 4; the result register is always there (so
    6 stages: each step in a cycle of its own). The stages move together, one beat per cycle while the result is read.

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

        init = {"compare": Compare.VALUE, "granularity": Granularity.TILE, "threshold": 0,
                "row_group": 1}
        regs = Signal(settings_layout(p), init=init)
        rst = ResetSignal()
        m.d.comb += self.settings.ready.eq(~rst)
        with m.If(self.settings.valid):
            m.d.sync += regs.eq(self.settings.payload)

        # one enable for the whole pipeline: every stage moves when the result register is
        # free or being read. Every GROUP lanes have their own copy of the threshold and of
        # `full` (so of the enable): no net fans out to all the lanes
        groups = [(lo, min(lo + GROUP, p.lanes)) for lo in range(0, p.lanes, GROUP)]
        full = Signal()                            # a result is held
        fulls, thr = [full], [regs.threshold]
        for copy in copies(m, self.settings.payload.threshold, len(groups) - 1, name="threshold",
                           enable=self.settings.valid):
            fulls.append(Signal(name=f"full{len(fulls)}", attrs={"keep": 1}))
            thr.append(copy)
        # `compare` selects the reference of every bit of every lane: a copy per SETTING_GROUP
        delta = [c == Compare.DELTA for c in copies(
            m, self.settings.payload.compare, -(-p.lanes // SETTING_GROUP), name="compare",
            enable=self.settings.valid, init=Compare.VALUE)]
        advances = [~f | self.o.ready for f in fulls]
        advance = advances[0]
        m.d.comb += [self.i.ready.eq(advance & ~rst), self.o.valid.eq(full & ~rst)]
        accept = self.i.valid & self.i.ready

        # |new - ref| of every lane (registered from 5 stages on), both differences side by side
        # (no negation after the subtraction); |d| < 2**width
        w = p.width
        mag = Signal(p.lanes * w)
        for k in range(p.lanes):
            ref = Mux(delta[k // SETTING_GROUP], beat.stored[k], 0)
            up, down = Signal(signed(w + 1), name=f"diff{k}"), Signal(signed(w + 1), name=f"ndiff{k}")
            m.d.comb += [up.eq(beat.new[k] - ref), down.eq(ref - beat.new[k]),
                         mag[k * w:(k + 1) * w].eq(Mux(up[-1], down, up))]
        live = beat.live
        s = self._stage(m, advance, accept, p.stages >= 5, last=beat.last,
                        granularity=regs.granularity, row_group=regs.row_group)
        if p.stages >= 5:
            mag = self._lanes(m, advances, groups, mag, w, "mag_d")
            live = self._lanes(m, advances, groups, live, 1, "live_d")
            thr = [c for g, ((lo, hi), t) in enumerate(zip(groups, thr))
                   for c in copies(m, t, -(-(hi - lo) // SETTING_GROUP), name=f"thr{g}",
                                   enable=advances[g])]
        else:
            thr = [thr[k // GROUP] for k in range(0, p.lanes, SETTING_GROUP)]

        # the threshold comparison of every lane (registered from 2 stages on)
        sig = Signal(p.lanes)
        m.d.comb += [sig[k].eq(live[k] & (mag[k * w:(k + 1) * w] > thr[k // SETTING_GROUP]))
                     for k in range(p.lanes)]
        if p.stages >= 2:
            sig = self._lanes(m, advances, groups, sig, 1, "sig_s")
            live = self._lanes(m, advances, groups, live, 1, "live_c")
        s = self._stage(m, advance, s["valid"], p.stages >= 2, last=s["last"],
                        granularity=s["granularity"], row_group=s["row_group"])
        s["sig"], s["live"] = sig, live

        # the counts of every GROUP lanes (registered from 6 stages on), then of the beat (from 3
        # on). The lanes skipped are counted, not subtracted (no carry chain after the sums)
        skip = Signal(p.lanes)
        m.d.comb += skip.eq(s["live"] & ~s["sig"])
        parts = {"n_live": [], "n_sig": [], "n_skip": [], "any": []}
        for g, (lo, hi) in enumerate(groups):
            for key, bits in (("n_live", s["live"]), ("n_sig", s["sig"]), ("n_skip", skip)):
                n = Signal(range(hi - lo + 1), name=f"{key}{g}")
                m.d.comb += n.eq(tree_sum(bits[k] for k in range(lo, hi)))
                parts[key].append(n)
            parts["any"].append(Signal(name=f"any{g}"))
            m.d.comb += parts["any"][g].eq(s["sig"][lo:hi].any())
        sig = s["sig"]
        if p.stages >= 6:
            parts = {key: [self._register(m, advances[g], v, f"{v.name}_s") for g, v in enumerate(vs)]
                     for key, vs in parts.items()}
            sig = self._lanes(m, advances, groups, sig, 1, "sig_p")
        s = self._stage(m, advance, s["valid"], p.stages >= 6, last=s["last"],
                        granularity=s["granularity"], row_group=s["row_group"])
        counts = {key: Signal(range(p.lanes + 1), name=key) for key in ("n_live", "n_sig", "n_skip")}
        m.d.comb += [n.eq(tree_sum(parts[key])) for key, n in counts.items()]
        # beside the counts, whether the beat ends its group: it depends only on the beats'
        # order (every beat passes here once, in order), so it is known a stage ahead of the group
        pos = Signal(p.group_bits, init=1)         # beats of the current group, this one included
        cell = s["granularity"] == Granularity.CELL
        row = s["granularity"] == Granularity.ROW
        end = cell | s["last"] | (row & (pos >= s["row_group"]))
        with m.If(s["valid"] & advance):
            m.d.sync += pos.eq(Mux(end, 1, pos + 1))
        s = self._stage(m, advance, s["valid"], p.stages >= 3, any=Cat(parts["any"]).any(),
                        **counts, end=end, cell=cell)
        s["sig"] = self._lanes(m, advances, groups, sig, 1, "sig_c") if p.stages >= 3 else sig

        # the group (registered from 4 stages on)
        acc = Signal()                             # some element of the group so far significant
        acc_live = Signal(p.count_width)           # live elements of the group so far
        cell, end = s["cell"], s["end"]
        running = acc | s["any"]
        group_live = self._saturate(acc_live + s["n_live"])
        with m.If(s["valid"] & advance):
            with m.If(end):
                m.d.sync += [acc.eq(0), acc_live.eq(0)]
            with m.Else():
                m.d.sync += [acc.eq(running), acc_live.eq(group_live)]
        mask = self._lanes(m, advances, groups, s["sig"], 1, "mask") if p.stages >= 4 else s["sig"]
        s = self._stage(m, advance, s["valid"], p.stages >= 4, end=end,
                        write=running,
                        add_issued=Mux(cell, s["n_sig"], Mux(end & running, group_live, 0)),
                        add_elim=Mux(cell, s["n_skip"], Mux(end & ~running, group_live, 0)))

        # the result register and the counters
        take = s["valid"] & advance
        for (lo, hi), enable in zip(groups, advances):
            with m.If(s["valid"] & enable):
                m.d.sync += self.o.payload.mask[lo:hi].eq(mask[lo:hi])
        with m.If(take):
            m.d.sync += [self.o.payload.group_end.eq(s["end"]),
                         self.o.payload.group_write.eq(s["write"])]
        for f, enable in zip(fulls, advances):
            with m.If(enable):
                m.d.sync += f.eq(s["valid"])
        for counter, add in ((self.issued, s["add_issued"]), (self.eliminated, s["add_elim"])):
            with m.If(self.clear):
                m.d.sync += counter.eq(0)
            with m.Elif(take):
                m.d.sync += counter.eq(self._saturate(counter + add))
        return m

    @staticmethod
    def _register(m, enable, value, name):
        """``value`` through a register that loads on ``enable``."""
        r = Signal(value.shape(), name=name)
        with m.If(enable):
            m.d.sync += r.eq(value)
        return r

    @staticmethod
    def _lanes(m, advances, groups, value, bits, name):
        """``value`` (``bits`` per lane) through a register whose lanes of group ``g`` load on
        ``advances[g]``."""
        r = Signal(len(value), name=name)
        for (lo, hi), enable in zip(groups, advances):
            with m.If(enable):
                m.d.sync += r[lo * bits:hi * bits].eq(value[lo * bits:hi * bits])
        return r

    @staticmethod
    def _stage(m, advance, valid, registered: bool, **values) -> dict:
        """``values`` and their ``valid``, through a register stage that loads on ``advance``
        when ``registered``, else unchanged (combinational)."""
        values["valid"] = valid
        if not registered:
            return values
        return {name: WriteEliminator._register(m, advance, v, f"{name}_s")
                for name, v in values.items()}

    def _saturate(self, value):
        """An unsigned ``value`` clipped to ``count_max``, by its bits above ``count_width``
        (no comparison carry chain)."""
        cw = self._params.count_width
        if len(value) <= cw:
            return value
        return Mux(value[cw:].any(), self._params.count_max, value[:cw])
