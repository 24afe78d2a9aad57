"""A tile: crossbar units on emulated arrays, a vector buffer, and the operation scheduler that
runs a program of :mod:`crosstrain.golden.isa` words on them."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal, signed
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden import isa
from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import PeripheryParams, check_params
from crosstrain.rtl.crossbar_emulator import STALL_COUNTER_BITS
from crosstrain.rtl.crossbar_unit import Op
from crosstrain.rtl.emulated_unit import EmulatedCrossbarUnit
from crosstrain.rtl.input_streamer import lines
from crosstrain.rtl.row_writer import row_layout
from crosstrain.rtl.shift_add import output_layout
from crosstrain.rtl.tile_buffer import MAX_VALUE_BITS, TileBuffer

#: Width of a STORE's issue number (the oldest ready STORE goes first).
AGE_BITS = 32
#: The unit command of each array instruction, and the registers it reads (0 row input,
#: 1 column input, 2 the row a WRITE programs).
ARRAY_OPS = {"MVM": (Op.MVM, (0,)), "MTVM": (Op.MVM_T, (1,)), "OPA": (Op.OPA, (0, 1)), "CRS": (Op.CRS, ()),
             "WRITE": (Op.WRITE, (2,))}


def check_tile(tile) -> isa.TileParams:
    """``tile`` itself, or TypeError when it is not a :class:`~crosstrain.golden.isa.TileParams`."""
    if not isinstance(tile, isa.TileParams):
        raise TypeError(f"tile must be a crosstrain.golden.isa.TileParams, not {tile!r}")
    return tile


def fields(word, tile: isa.TileParams, op: str) -> dict:
    """The fields of ``op`` in the 64-bit ``word`` (slices, :meth:`TileParams.layout`)."""
    out, pos = {}, isa.WORD_BITS - isa.OPCODE_BITS
    for name, width in tile.layout(op):
        pos -= width
        out[name] = word[pos:pos + width]
    return out


class HostPortSignature(wiring.Signature):
    """The host's port to the tile's buffer, one value per access (members seen from the host;
    timing in :class:`Tile`).

    - ``en``: an access this cycle; ``we``: it writes ``wdata`` (else it reads);
    - ``addr``: the value's address, ``0 .. depth - 1``;
    - ``wdata``, ``rdata``: signed ``value_bits`` values;
    - ``ready`` (from the tile): the buffer is free for the host this cycle.
    """

    def __init__(self, depth: int, value_bits: int):
        super().__init__({
            "en": Out(1),
            "we": Out(1),
            "addr": Out(range(depth)),
            "wdata": Out(signed(value_bits)),
            "rdata": In(signed(value_bits)),
            "ready": In(1),
        })


class Tile(wiring.Component):
    """``tile.units`` :class:`~crosstrain.rtl.emulated_unit.EmulatedCrossbarUnit` s, a
    :class:`~crosstrain.rtl.tile_buffer.TileBuffer` of ``tile.buffer_depth`` values and the
    operation scheduler, running words of :mod:`crosstrain.golden.isa` from ``instr``.

    Each unit has a row-input register (``rows`` values of ``input_bits``), a column-input
    register (``cols`` values of ``error_bits``), an output register (its last MVM / MTVM
    output), a row register (a WRITE's row), an array queue and a STORE queue
    (``tile.queue_depth`` entries each). The scheduler takes one word per cycle, in order, and
    stalls ``instr`` (``ready`` low) while the word cannot issue: a LOAD (WRITE) while an array instruction queued before it still has
    to take the register (the row register), an array instruction or STORE while its queue is
    full, a SYNC until the units in its mask have finished everything issued to them. A LOAD
    reads the buffer when it issues and writes the register in the next cycle; an array
    instruction goes to its unit when the unit takes it, its operands straight from the
    registers; the oldest STORE whose output is in its output register reads the buffer (one per
    cycle) and writes it in the next cycle. Timing, with the words offered back to back from
    cycle 0: exactly :func:`crosstrain.golden.interpreter.run`'s cycle model (its module
    docstring) while no emulator stalls its unit; stalled cycles (counted in ``stall_cycles``)
    delay what waits on that unit: on one unit the program takes the model's cycles plus them. HALT stops the scheduler; ``done`` rises when every unit has
    finished.

    The values are :func:`crosstrain.golden.interpreter.run`'s for every program it accepts
    (it refuses a LOAD of values a STORE still writes: put a SYNC between). A LOAD keeps a
    value's low ``input_bits``; a STORE sign-extends the outputs to ``value_bits`` and the
    buffer wraps there (golden's int64 does not). A LOOP takes its body's words from ``instr``
    once, recording them, and replays them for the later iterations (no cycle between
    iterations), adding ``i * stride`` to the LOAD, STORE and WRITE addresses of iteration
    ``i``. A WRITE is a LOAD of the weight row (the rest of the row 0) into the unit's row
    register and a row-programming command (:class:`~crosstrain.rtl.row_writer.RowWriter`) in its
    array queue. An unknown opcode, a unit beyond ``tile.units``, a LOOP or HALT in a LOOP's
    body or an empty LOOP raises ``error`` and halts.

    Parameters
    ----------
    params : crosstrain.golden.periphery.PeripheryParams
        The units' periphery (as :class:`~crosstrain.rtl.crossbar_unit.CrossbarUnit` requires),
        with ``error_bits == input_bits`` (a transposed MVM drives ``input_bits``).
    tile : crosstrain.golden.isa.TileParams
        ``max_length`` at least ``max(rows, cols)``.
    value_bits : int
        Width of a signed buffer value, from the widest of ``out_width``, ``input_bits`` to 64;
        0 means that widest.
    weights : sequence of arrays (rows x cols), optional
        Each unit's block before the program (all zero if omitted).
    init : sequence of int, optional
        The buffer's ``buffer_depth`` values before the program (all zero if omitted).

    Members
    -------
    instr : In(stream.Signature(64))
        Program words (:func:`crosstrain.golden.isa.encode`).
    halted : Out(1)
        A HALT (or a word raising ``error``) has issued; ``instr`` is no longer taken.
    done : Out(1)
        Halted and every unit has finished everything issued to it.
    error : Out(1)
        The scheduler met a word it does not execute.
    stall_cycles : Out(STALL_COUNTER_BITS)
        Cycles in which some unit's emulator stalled it, since reset.
    host : In(HostPortSignature(tile.buffer_depth, value_bits))
        A bench's or bus wrapper's access to the buffer, one value per cycle, e.g. to fill it
        before a program and read it back after ``done``. ``ready`` is high while every unit
        has finished everything issued to it (no LOAD, STORE or array instruction in flight;
        high after reset, and with ``done``). An access takes place in a cycle where ``en`` and
        ``ready`` are high: a write stores ``wdata`` at ``addr`` at the end of the cycle; a read
        of ``addr`` shows the value in ``rdata`` in the next cycle (a block-RAM read; a write in
        the same cycle is not seen), held until the next buffer read (the host's or a LOAD's).
        Reads and writes may follow each other every cycle. While ``en`` is high no word issues
        (``instr.ready`` is low; a LOOP's replay waits), so a waiting host gets in once the
        units have drained; while ``en`` is low the scheduler's timing is as described above.
    """

    def __init__(self, *, params: PeripheryParams, tile: isa.TileParams, value_bits: int = 32,
                 weights=None, init=None):
        p, t = check_params(params), check_tile(tile)
        if max(p.rows, p.cols) > t.max_length:
            raise ConfigError(f"tile.max_length = {t.max_length} is below the {p.rows} x {p.cols} "
                              f"crossbar's larger side: use max_length >= {max(p.rows, p.cols)}")
        if p.error_bits != p.input_bits:
            raise ConfigError(f"precision.error_bits = {p.error_bits} differs from input_bits = "
                              f"{p.input_bits}: the unit's transposed MVM drives input_bits values; "
                              "set them equal")
        low = max(p.out_width, p.input_bits, p.weight_bits)
        if isinstance(value_bits, bool) or not isinstance(value_bits, int) or not (
                value_bits == 0 or low <= value_bits <= MAX_VALUE_BITS):
            raise ConfigError(f"value_bits = {value_bits!r} is not allowed: 0 (the narrowest, {low}) "
                              f"or an integer from {low} (out_width, input_bits, weight_bits) to "
                              f"{MAX_VALUE_BITS}")
        value_bits = value_bits or low
        if weights is not None and len(weights) != t.units:
            raise ConfigError(f"weights holds {len(weights)} blocks, not tile.units = {t.units}")
        for k, w in enumerate(weights or ()):
            if np.shape(w) != (p.rows, p.cols):
                raise ConfigError(f"weights[{k}] of shape {np.shape(w)} is not the {p.rows} x {p.cols} block")
        self._buffer = TileBuffer(depth=t.buffer_depth, lanes=t.max_length, value_bits=value_bits,
                                  init=init)
        self._units = [EmulatedCrossbarUnit(params=p, weights=None if weights is None else weights[k])
                       for k in range(t.units)]
        self._params, self._tile, self._value_bits = p, t, value_bits
        super().__init__({
            "instr": In(stream.Signature(isa.WORD_BITS)),
            "halted": Out(1),
            "done": Out(1),
            "error": Out(1),
            "stall_cycles": Out(STALL_COUNTER_BITS),
            "host": In(HostPortSignature(t.buffer_depth, value_bits)),
        })

    @property
    def params(self) -> PeripheryParams:
        return self._params

    @property
    def tile(self) -> isa.TileParams:
        return self._tile

    @property
    def buffer(self) -> TileBuffer:
        return self._buffer

    @property
    def units(self) -> list[EmulatedCrossbarUnit]:
        return self._units

    def elaborate(self, platform):
        m = Module()
        p, t = self._params, self._tile
        n, depth = t.units, t.queue_depth
        m.submodules.buffer = buf = self._buffer
        # ---- the word: from the stream, or replayed from the loop body ---------------------
        m.submodules.body = body_mem = memory.Memory(shape=isa.WORD_BITS, depth=1 << isa.LOOP_BODY_BITS, init=[])
        body_w = body_mem.write_port()
        body_r = body_mem.read_port(transparent_for=(body_w,))
        replay = Signal()                            # a LOOP's later iteration: words from body_mem
        in_loop = Signal()                           # inside a LOOP's body
        word = Signal(isa.WORD_BITS)
        shift = Signal(t.addr_bits + 1)              # the iteration's address shift (i * stride)
        m.d.comb += word.eq(Mux(replay, body_r.data, self.instr.payload))
        code = word[isa.WORD_BITS - isa.OPCODE_BITS:]
        is_op = {op: code == k for k, op in enumerate(isa.OPCODES)}
        f = {op: fields(word, t, op) for op in isa.OPCODES}
        unit = f["LOAD"]["unit"]                     # every unit op has the unit field first
        issue = Signal()                             # the word transfers this cycle
        halted = Signal()
        can = Signal()                               # the word can issue this cycle
        host = self.host
        m.d.comb += [self.halted.eq(halted),
                     issue.eq((replay | self.instr.valid) & can & ~halted & ~host.en)]

        # ---- output-sequence width: outputs outstanding at most depth + in flight + 1 -------
        seq = range(4 * (depth + 4))
        # STOREs are numbered in issue order modulo 2**AGE_BITS; a queued STORE's distance to the
        # next number counts the STOREs issued since (at most one a cycle), exact while it waits
        # fewer than 2**(AGE_BITS-1) cycles for its output (a unit's operations take far fewer)
        age_bits = AGE_BITS
        store_layout = data.StructLayout({
            "oseq": seq, "age": age_bits, "acc": 1,
            "base": signed(len(buf.wr.base)), "offset": t.offset_bits, "length": t.length_bits})
        age_next = Signal(age_bits)                  # number of the next STORE issued

        # ---- per unit: registers, queues, output register ---------------------------------
        rows = [Signal(data.ArrayLayout(signed(p.input_bits), p.rows), name=f"row_in{k}") for k in range(n)]
        cols = [Signal(data.ArrayLayout(signed(p.error_bits), p.cols), name=f"col_in{k}") for k in range(n)]
        outs = [Signal(output_layout(p), name=f"out{k}") for k in range(n)]
        issued = [Signal(seq, name=f"issued{k}") for k in range(n)]
        got = [Signal(seq, name=f"got{k}") for k in range(n)]
        wrow = [Signal(row_layout(p), name=f"write_row{k}") for k in range(n)]
        pend = [[Signal(range(depth + 1), name=f"pend{k}_{r}") for r in range(3)] for k in range(n)]
        aq = [fifo.SyncFIFO(width=Shape.cast(Op).width, depth=depth) for _ in range(n)]
        sq = [fifo.SyncFIFO(width=store_layout.size, depth=depth) for _ in range(n)]
        heads = [store_layout(q.r_data) for q in sq]

        # LOAD write-back (the cycle after issue): unit, register, offset, length
        lw = Signal(data.StructLayout({"valid": 1, "unit": range(n), "reg": 2,
                                       "offset": t.offset_bits, "length": t.length_bits}))
        # STORE second cycle: the write
        sw = Signal(data.StructLayout({"valid": 1, "unit": range(n), "acc": 1, "base": signed(len(buf.wr.base)),
                                       "offset": t.offset_bits, "length": t.length_bits}))

        done = []
        stalled = 0
        for k, u in enumerate(self._units):
            m.submodules[f"unit{k}"] = u
            m.submodules[f"aq{k}"], m.submodules[f"sq{k}"] = aq[k], sq[k]
            op = Signal(Op, name=f"head{k}")
            m.d.comb += op.eq(aq[k].r_data)
            reads = [Cat(*(op == c for c, rr in ARRAY_OPS.values() if r in rr)).any() for r in range(3)]
            loading = lw.valid & (lw.unit == k)
            blocked = loading & Cat(*((lw.reg == r) & reads[r] for r in range(3))).any()
            cmd = u.cmd
            m.d.comb += [cmd.valid.eq(aq[k].r_rdy & ~blocked), cmd.payload.op.eq(op),
                         aq[k].r_en.eq(cmd.valid & cmd.ready)]
            x = Mux(op == Op.MVM_T, Cat(*cols[k], Const(0, p.input_bits * (lines(p) - p.cols))),
                    Cat(*rows[k], Const(0, p.input_bits * (lines(p) - p.rows))))
            m.d.comb += [cmd.payload.x.eq(x), cmd.payload.d.eq(cols[k]), cmd.payload.row.eq(wrow[k])]
            # the output register: held while a queued STORE still reads the current output
            hold = sq[k].r_rdy & (heads[k].oseq == got[k])
            m.d.comb += u.o.ready.eq(~hold)
            with m.If(u.o.valid & u.o.ready):
                m.d.sync += [outs[k].eq(u.o.payload), got[k].eq(got[k] + 1)]
            done.append(~aq[k].r_rdy & ~u.busy & (got[k] == issued[k]) & ~sq[k].r_rdy
                        & ~(sw.valid & (sw.unit == k)) & ~loading)
            stalled = stalled | u.stall
            # the registers a queued array instruction still has to take
            took = cmd.valid & cmd.ready
            for r in range(3):
                push = issue & (unit == k) & Cat(*(is_op[o] for o, (_, rr) in ARRAY_OPS.items() if r in rr)).any()
                m.d.sync += pend[k][r].eq(pend[k][r] + push - (took & reads[r]))
        m.d.sync += self.stall_cycles.eq(self.stall_cycles + stalled)
        done_v = Cat(*done)

        # ---- issue ------------------------------------------------------------------------
        known = Cat(*is_op.values()).any()
        bad = (~known | (Cat(*(is_op[o] for o in isa.UNIT_OPS)).any() & (unit >= n))
               | (in_loop & (is_op["LOOP"] | is_op["HALT"]))
               | (is_op["LOOP"] & ((f["LOOP"]["count"] == 0) | (f["LOOP"]["body"] == 0))))
        reg = f["LOAD"]["reg"]
        with m.If(bad):
            m.d.comb += can.eq(1)
        with m.Elif(is_op["LOAD"]):
            m.d.comb += can.eq(Array(Cat(pend[k][0] == 0, pend[k][1] == 0) for k in range(n))[unit].bit_select(reg, 1))
        with m.Elif(is_op["WRITE"]):
            m.d.comb += can.eq(Array((pend[k][2] == 0) & aq[k].w_rdy for k in range(n))[unit])
        with m.Elif(is_op["STORE"]):
            m.d.comb += can.eq(Array(q.w_rdy for q in sq)[unit])
        with m.Elif(Cat(*(is_op[o] for o in ARRAY_OPS)).any()):
            m.d.comb += can.eq(Array(q.w_rdy for q in aq)[unit])
        with m.Elif(is_op["SYNC"]):
            m.d.comb += can.eq((done_v & f["SYNC"]["mask"]) == f["SYNC"]["mask"])
        with m.Else():
            m.d.comb += can.eq(1)
        m.d.comb += self.instr.ready.eq(~halted & ~replay & can & ~host.en)
        with m.If(issue & (is_op["HALT"] | bad)):
            m.d.sync += [halted.eq(1), self.error.eq(self.error | bad)]
        m.d.comb += self.done.eq(halted & done_v.all())
        # the host's access: only while nothing is in flight, and no word issues meanwhile
        m.d.comb += host.ready.eq(done_v.all())
        host_read = host.en & host.ready & ~host.we
        host_write = host.en & host.ready & host.we

        go = issue & ~bad
        command = Signal(Op)                         # the unit command of an array instruction
        for name, (c, _) in ARRAY_OPS.items():
            with m.If(is_op[name]):
                m.d.comb += command.eq(c)
        for k in range(n):
            mine = go & (unit == k)
            m.d.comb += [aq[k].w_en.eq(mine & Cat(*(is_op[o] for o in ARRAY_OPS)).any()),
                         aq[k].w_data.eq(command)]
            with m.If(mine & is_op["WRITE"]):
                m.d.sync += wrow[k].row.eq(f["WRITE"]["row"])
            with m.If(mine & (is_op["MVM"] | is_op["MTVM"])):
                m.d.sync += issued[k].eq(issued[k] + 1)
            s = f["STORE"]
            entry = Signal(store_layout, name=f"store_in{k}")
            m.d.comb += [entry.oseq.eq(issued[k]), entry.age.eq(age_next), entry.acc.eq(s["acc"]),
                         entry.base.eq(s["addr"] + shift - s["offset"]), entry.offset.eq(s["offset"]),
                         entry.length.eq(s["length"]),
                         sq[k].w_en.eq(mine & is_op["STORE"]), sq[k].w_data.eq(entry)]
        with m.If(go & is_op["STORE"]):
            m.d.sync += age_next.eq(age_next + 1)

        # ---- LOOP: record the body's words in the first iteration, replay them after ---------
        lp = f["LOOP"]
        left = Signal(isa.LOOP_COUNT_BITS)           # iterations after the current one
        length = Signal(isa.LOOP_BODY_BITS)          # body words
        index = Signal(isa.LOOP_BODY_BITS)           # the word's place in the body
        stride = Signal(t.addr_bits)
        last = index == length - 1
        next_index = Mux(issue & in_loop, Mux(last, 0, index + 1), index)
        m.d.comb += [body_r.addr.eq(next_index), body_r.en.eq(1),
                     body_w.addr.eq(index), body_w.data.eq(word), body_w.en.eq(issue & in_loop & ~replay)]
        with m.If(go & is_op["LOOP"]):
            m.d.sync += [in_loop.eq(1), left.eq(lp["count"] - 1), length.eq(lp["body"]), index.eq(0),
                         stride.eq(lp["stride"]), shift.eq(0)]
        with m.Elif(issue & in_loop):
            m.d.sync += index.eq(next_index)
            with m.If(last & (left == 0)):
                m.d.sync += [in_loop.eq(0), replay.eq(0), shift.eq(0)]
            with m.Elif(last):
                m.d.sync += [replay.eq(1), left.eq(left - 1), shift.eq(shift + stride)]

        # ---- LOAD (WRITE: into the row register): read now, write the register next cycle ----
        ld, wf = f["LOAD"], f["WRITE"]
        loads = is_op["LOAD"] | is_op["WRITE"]
        m.d.comb += [buf.rd.en.eq((go & loads) | host_read),
                     buf.rd.base.eq(Mux(host_read, host.addr,
                                        Mux(is_op["WRITE"], wf["addr"], ld["addr"] - ld["offset"]) + shift)),
                     host.rdata.eq(buf.rd.data[0])]
        m.d.sync += [lw.valid.eq(go & loads), lw.unit.eq(unit), lw.reg.eq(Mux(is_op["WRITE"], 2, reg)),
                     lw.offset.eq(Mux(is_op["WRITE"], 0, ld["offset"])),
                     lw.length.eq(Mux(is_op["WRITE"], wf["length"], ld["length"]))]

        def lane_on(i, offset, length):
            """Lane ``i`` is in ``offset .. offset + length - 1`` (no constant comparison)."""
            above = offset <= i if i < (1 << len(offset)) - 1 else Const(1)
            return above & (i < offset + length)

        for k in range(n):
            for regs, r in ((rows[k], 0), (cols[k], 1)):
                for i in range(len(regs)):
                    with m.If(lw.valid & (lw.unit == k) & (lw.reg == r) & lane_on(i, lw.offset, lw.length)):
                        m.d.sync += regs[i].eq(buf.rd.data[i])
            with m.If(lw.valid & (lw.unit == k) & (lw.reg == 2)):       # the rest of the row: 0
                m.d.sync += [wrow[k].w[i].eq(Mux(i < lw.length, buf.rd.data[i], 0)) for i in range(p.cols)]

        # ---- STORE: the oldest ready head reads the buffer, writes it next cycle ------------
        ready = [sq[k].r_rdy & (heads[k].oseq == got[k]) for k in range(n)]
        pick = [Signal(name=f"store_pick{k}") for k in range(n)]
        older = [(age_next - heads[k].age)[:age_bits] for k in range(n)]   # larger: older
        for k in range(n):
            beaten = [ready[j] & (older[j] > older[k]) for j in range(n) if j != k]
            m.d.comb += pick[k].eq(ready[k] & ~Cat(*beaten).any() if beaten else ready[k])
            m.d.comb += sq[k].r_en.eq(pick[k])
        head = Signal(store_layout)
        for k in range(n):
            with m.If(pick[k]):
                m.d.comb += head.eq(heads[k])
        pick_unit = Signal(range(n))
        for k in range(n):
            with m.If(pick[k]):
                m.d.comb += pick_unit.eq(k)
        m.d.comb += [buf.rmw.en.eq(Cat(*pick).any()), buf.rmw.base.eq(head.base)]
        m.d.sync += [sw.valid.eq(Cat(*pick).any()), sw.unit.eq(pick_unit), sw.acc.eq(head.acc),
                     sw.base.eq(head.base), sw.offset.eq(head.offset), sw.length.eq(head.length)]
        out = Array(outs)[sw.unit]
        width = self._value_bits
        m.d.comb += buf.wr.base.eq(Mux(host_write, host.addr, sw.base))
        for i in range(t.max_length):
            part = out[i] if i < lines(p) else Const(0)
            value = (part + Mux(sw.acc, buf.rmw.data[i], 0))[:width]
            m.d.comb += buf.wr.data[i].eq(Mux(host_write, host.wdata, value) if i == 0 else value)
            if i < lines(p):
                m.d.comb += buf.wr.mask[i].eq((sw.valid & lane_on(i, sw.offset, sw.length))
                                              | (host_write if i == 0 else 0))
        return m
