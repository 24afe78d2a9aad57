"""A prototyping top: a :class:`~crosstrain.rtl.tile.Tile` behind AXI4-Stream ports for program
words and buffer data and an AXI4-Lite register map for control and status (docs/fpga.md)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, ResetInserter, Signal, signed
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden import isa
from crosstrain.golden.periphery import PeripheryParams
from crosstrain.rtl.tile import Tile

#: The registers in address order, at byte offsets 0, 4, 8, ... (``4 * index``).
REGISTERS = ("ID", "DEPTH", "CONTROL", "STATUS", "WR_ADDR", "RD_ADDR", "RD_LEN", "CYCLES", "STALLS")
#: ``ID``'s value: "CT" in bits 31:16, the register map's version (1) in bits 15:0.
ID_VALUE = 0x4354_0001
#: ``CONTROL`` bits (write 1 to act).
START, CLEAR, READ = 1, 2, 4
#: ``STATUS`` bits.
BUSY, DONE, HALTED, ERROR, READING = 1, 2, 4, 8, 16
#: Byte-address width of the register map (16 word slots; the ones past ``STALLS`` are unmapped).
ADDR_BITS = 6
#: AXI responses.
OKAY, SLVERR = 0, 2
#: Entries of the read-back FIFO in front of ``m_axis_data`` (one value a cycle with a read in flight).
READ_FIFO_DEPTH = 4


class AxiStreamSignature(wiring.Signature):
    """AXI4-Stream, members seen from the master: ``tdata`` (``width`` bits), ``tvalid``,
    ``tready`` (from the slave) and, with ``last``, ``tlast``."""

    def __init__(self, width: int, *, last: bool = False):
        members = {"tdata": Out(width), "tvalid": Out(1), "tready": In(1)}
        if last:
            members["tlast"] = Out(1)
        super().__init__(members)


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite with 32-bit data and ``addr_bits``-bit byte addresses, members seen from the
    master (no ``*prot``, no ``wstrb``: every write writes the whole register)."""

    def __init__(self, addr_bits: int):
        super().__init__({
            "awaddr": Out(addr_bits), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(32), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_bits), "arvalid": Out(1), "arready": In(1),
            "rdata": In(32), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })


class AxisTop(wiring.Component):
    """A :class:`~crosstrain.rtl.tile.Tile` (its units' arrays emulated in block RAM) behind
    standard interfaces: program words on ``s_axis_cmd``, buffer values in on ``s_axis_data``
    and out on ``m_axis_data``, control and status in an AXI4-Lite register map on ``s_axil``.

    Register map (32-bit registers at byte offsets; ``araddr`` / ``awaddr`` bits 1:0 ignored; a
    read of an unmapped offset returns 0 with SLVERR; a write to a read-only or unmapped offset,
    or of an out-of-range value, is ignored with SLVERR):

    ======  =========  ======  ==========  ======================================================
    offset  name       access  reset       bits
    ======  =========  ======  ==========  ======================================================
    0x00    ID         RO      0x43540001  31:16 "CT" (0x4354), 15:0 the map's version (1)
    0x04    DEPTH      RO      depth       31:0 ``tile.buffer_depth`` (values in the buffer)
    0x08    CONTROL    WO      0           0 START: the tile takes ``s_axis_cmd`` words from the
                                           next cycle on (the cycle counter starts); 1 CLEAR:
                                           reset the tile (scheduler, queues, units, ``STALLS``),
                                           ``CYCLES``, the running flag and any read-back (the
                                           buffer and the arrays keep their contents; CLEAR wins
                                           over START in one write); 2 READ: send ``RD_LEN``
                                           values from ``RD_ADDR`` on ``m_axis_data`` (ignored
                                           while READING). Reads 0.
    0x0C    STATUS     RO      0           0 BUSY (started, not done), 1 DONE, 2 HALTED, 3 ERROR
                                           (the tile's), 4 READING (a read-back's values not all
                                           sent)
    0x10    WR_ADDR    RW      0           buffer address of the next ``s_axis_data`` value
                                           (``0 .. depth - 1``; each value advances it, from
                                           ``depth - 1`` to 0)
    0x14    RD_ADDR    RW      0           first buffer address of a read-back (``< depth``)
    0x18    RD_LEN     RW      0           values of a read-back (``0 .. depth``; addresses past
                                           ``depth - 1`` continue at 0)
    0x1C    CYCLES     RO      0           cycles from START (the first cycle a word may be
                                           taken) to the first cycle ``done`` is high
    0x20    STALLS     RO      0           the tile's ``stall_cycles``
    ======  =========  ======  ==========  ======================================================

    Timing. AXI4-Lite: a write is taken in the cycle both ``awvalid`` and ``wvalid`` are high and
    no response is pending (``awready`` and ``wready`` high together), ``bvalid`` the cycle after;
    a read is taken while no read response is pending, ``rvalid`` with the value the cycle after
    (one read every two cycles); CONTROL acts in the cycle after its write response is raised.
    ``s_axis_cmd``: ``tready`` is the tile's ``instr.ready`` while started (low before START and
    after HALT), one word a cycle. With the program's words offered back to back from START on
    (queued before it), ``CYCLES`` equals :func:`crosstrain.golden.interpreter.run`'s cycle count
    (the tile's timing, :class:`~crosstrain.rtl.tile.Tile`). ``s_axis_data``: each value (the
    low ``value_bits`` of ``tdata``, taken as signed) is written at ``WR_ADDR`` through the
    tile's host port, one a cycle while the units have nothing in flight (the port's
    ``ready``); no ``tlast``. ``m_axis_data``: after READ, one value a cycle (each read the
    cycle after the host port grants it, through a :data:`READ_FIFO_DEPTH`-entry FIFO), sign
    extended to ``tdata``'s width, ``tlast`` on the ``RD_LEN``-th; ``tvalid`` never waits for
    ``tready`` and the beat holds until taken. A read-back goes before a waiting input value.
    While a data value or a read waits on the host port, no program word issues (the tile's
    host port rule): fill and read the buffer before START and after DONE.

    Run a program: CLEAR; WR_ADDR, the buffer's values on ``s_axis_data``; the words on
    ``s_axis_cmd``; START; poll STATUS until DONE; RD_ADDR, RD_LEN, READ, the values from
    ``m_axis_data``.

    Parameters
    ----------
    params, tile, value_bits
        The tile's (:class:`~crosstrain.rtl.tile.Tile`; ``value_bits`` 0: the narrowest).

    Members
    -------
    s_axis_cmd : In(AxiStreamSignature(64))
        Program words (:func:`crosstrain.golden.isa.encode`).
    s_axis_data : In(AxiStreamSignature(data_bits))
        Buffer values in; ``data_bits`` is ``value_bits`` rounded up to whole bytes.
    m_axis_data : Out(AxiStreamSignature(data_bits, last=True))
        Buffer values out.
    s_axil : In(AxiLiteSignature(ADDR_BITS))
        The register map.
    """

    def __init__(self, *, params: PeripheryParams, tile: isa.TileParams, value_bits: int = 0):
        self.tile = Tile(params=params, tile=tile, value_bits=value_bits)
        self.value_bits = len(self.tile.host.wdata)
        self.data_bits = -(-self.value_bits // 8) * 8
        super().__init__({
            "s_axis_cmd": In(AxiStreamSignature(isa.WORD_BITS)),
            "s_axis_data": In(AxiStreamSignature(self.data_bits)),
            "m_axis_data": Out(AxiStreamSignature(self.data_bits, last=True)),
            "s_axil": In(AxiLiteSignature(ADDR_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        tile, depth = self.tile, self.tile.tile.buffer_depth
        clear, start, read = Signal(), Signal(), Signal()      # CONTROL's pulses
        m.submodules.tile = ResetInserter(clear)(tile)
        rb = fifo.SyncFIFO(width=self.data_bits + 1, depth=READ_FIFO_DEPTH)
        m.submodules.read_fifo = ResetInserter(clear)(rb)

        running = Signal()
        cycles = Signal(32)
        wr_addr, rd_addr = Signal(range(depth)), Signal(range(depth))
        rd_len = Signal(range(depth + 1))

        # ---- program words ---------------------------------------------------------------------
        cmd = self.s_axis_cmd
        m.d.comb += [tile.instr.valid.eq(cmd.tvalid & running), tile.instr.payload.eq(cmd.tdata),
                     cmd.tready.eq(tile.instr.ready & running)]
        with m.If(running & ~tile.done):
            m.d.sync += cycles.eq(cycles + 1)

        # ---- the host port: a read-back first, else an input value -----------------------------
        left = Signal(range(depth + 1))              # read-back values still to read
        rd_ptr = Signal(range(depth))
        inflight, inflight_last = Signal(), Signal()  # a read granted last cycle (its data now)
        room = rb.level + inflight < READ_FIFO_DEPTH
        want = (left != 0) & room
        host, din = tile.host, self.s_axis_data
        m.d.comb += [host.en.eq(want | din.tvalid), host.we.eq(~want),
                     host.addr.eq(Mux(want, rd_ptr, wr_addr)), host.wdata.eq(din.tdata[:self.value_bits]),
                     din.tready.eq(host.ready & ~want)]
        granted = want & host.ready
        m.d.sync += [inflight.eq(granted), inflight_last.eq(granted & (left == 1))]
        value = Signal(signed(self.data_bits))
        out = self.m_axis_data
        m.d.comb += [value.eq(host.rdata), rb.w_en.eq(inflight), rb.w_data.eq(Cat(value, inflight_last)),
                     out.tvalid.eq(rb.r_rdy), out.tdata.eq(rb.r_data[:self.data_bits]),
                     out.tlast.eq(rb.r_data[self.data_bits]), rb.r_en.eq(out.tready)]
        reading = (left != 0) | inflight | rb.r_rdy

        def advance(ptr):
            return Mux(ptr == depth - 1, 0, ptr + 1)

        with m.If(read & ~reading):
            m.d.sync += [left.eq(rd_len), rd_ptr.eq(rd_addr)]
        with m.Elif(granted):
            m.d.sync += [left.eq(left - 1), rd_ptr.eq(advance(rd_ptr))]

        # ---- AXI4-Lite: writes ----------------------------------------------------------------
        bus = self.s_axil
        bvalid, bresp = Signal(), Signal(2)
        take_w = bus.awvalid & bus.wvalid & ~bvalid
        widx, wdata = bus.awaddr[2:], bus.wdata
        ctrl = take_w & (widx == REGISTERS.index("CONTROL"))
        m.d.comb += [bus.awready.eq(take_w), bus.wready.eq(take_w), bus.bvalid.eq(bvalid),
                     bus.bresp.eq(bresp)]
        m.d.sync += [start.eq(ctrl & wdata[0]), clear.eq(ctrl & wdata[1]), read.eq(ctrl & wdata[2])]
        with m.If(din.tvalid & din.tready):
            m.d.sync += wr_addr.eq(advance(wr_addr))
        writable = {"WR_ADDR": (wr_addr, depth - 1), "RD_ADDR": (rd_addr, depth - 1),
                    "RD_LEN": (rd_len, depth)}                  # register, largest value
        with m.If(take_w):
            m.d.sync += [bvalid.eq(1), bresp.eq(SLVERR)]
            with m.If(ctrl):
                m.d.sync += bresp.eq(OKAY)
            for name, (reg, top) in writable.items():
                with m.If((widx == REGISTERS.index(name)) & (wdata <= top)):
                    m.d.sync += [reg.eq(wdata), bresp.eq(OKAY)]
        with m.Elif(bus.bready):
            m.d.sync += bvalid.eq(0)

        # ---- AXI4-Lite: reads -----------------------------------------------------------------
        rvalid, rdata, rresp = Signal(), Signal(32), Signal(2)
        status = Cat(running & ~tile.done, tile.done, tile.halted, tile.error, reading)
        values = {"ID": ID_VALUE, "DEPTH": depth, "CONTROL": 0, "STATUS": status, "WR_ADDR": wr_addr,
                  "RD_ADDR": rd_addr, "RD_LEN": rd_len, "CYCLES": cycles, "STALLS": tile.stall_cycles}
        m.d.comb += [bus.arready.eq(~rvalid), bus.rvalid.eq(rvalid), bus.rdata.eq(rdata),
                     bus.rresp.eq(rresp)]
        with m.If(bus.arvalid & ~rvalid):
            m.d.sync += rvalid.eq(1)
            with m.Switch(bus.araddr[2:]):
                for k, name in enumerate(REGISTERS):
                    with m.Case(k):
                        m.d.sync += [rdata.eq(values[name]), rresp.eq(OKAY)]
                with m.Default():
                    m.d.sync += [rdata.eq(0), rresp.eq(SLVERR)]
        with m.Elif(bus.rready):
            m.d.sync += rvalid.eq(0)

        # ---- START / CLEAR (last: CLEAR wins) -------------------------------------------------
        with m.If(start):
            m.d.sync += running.eq(1)
        with m.If(clear):
            m.d.sync += [running.eq(0), cycles.eq(0), left.eq(0), inflight.eq(0)]
        return m
