"""GraphR's sub-block streamer: the non-empty blocks of a graph, one after another, through the
MVM unit at graph-engine size."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.graph import StreamerParams
from crosstrain.rtl.adc_sequencer import MvmPortSignature
from crosstrain.rtl.mvm_unit import MvmUnit
from crosstrain.rtl.ports import FlowSignature
from crosstrain.rtl.shift_add import output_layout


class State(enum.Enum, shape=3):
    IDLE = 0
    HEAD = 1         # the block word is read
    FETCH = 2        # one edge read per cycle up to the block's end, written a cycle later
    PROGRAM = 3      # write_row_cycles per crossbar row, rows in order
    ISSUE = 4        # the row window's source values to the MVM unit
    WAIT = 5         # the unit's output, passed on with the block's windows


class Table(enum.Enum, shape=2):
    """The memory a ``load`` word writes."""

    BLOCKS = 0
    EDGES = 1
    VERTICES = 2


def block_layout(params: StreamerParams) -> data.StructLayout:
    """A block memory word: the block's row window ``row`` (sources ``row*rows ..``), column
    window ``col`` (destinations ``col*cols ..``) and ``end``, the edge offset after its last
    edge (its edges are the words after the previous block's ``end``)."""
    return data.StructLayout({"row": range(params.row_windows), "col": range(params.col_windows),
                              "end": range(params.edges + 1)})


def edge_layout(params: StreamerParams) -> data.StructLayout:
    """An edge memory word: ``cell`` (row x cols + column inside its block) and the signed
    ``weight_bits`` code ``value``."""
    p = params.periphery
    return data.StructLayout({"cell": range(p.rows * p.cols), "value": signed(p.weight_bits)})


def vertex_layout(params: StreamerParams) -> data.ArrayLayout:
    """A vertex memory word: the signed ``input_bits`` codes of one row window's ``rows`` vertices."""
    p = params.periphery
    return data.ArrayLayout(signed(p.input_bits), p.rows)


def load_layout(params: StreamerParams) -> data.StructLayout:
    """One ``load`` word: the memory (:class:`Table`), the word's address and its bits
    (the memory's layout in the low bits)."""
    widths = [data.Layout.cast(f(params)).size for f in (block_layout, edge_layout, vertex_layout)]
    return data.StructLayout({"table": Table,
                              "addr": range(max(params.blocks, params.edges, params.row_windows)),
                              "data": max(widths)})


def program_layout(params: StreamerParams) -> data.StructLayout:
    """One row write of the crossbar: ``row`` and the signed ``weight_bits`` codes of its cells."""
    p = params.periphery
    return data.StructLayout({"row": range(p.rows), "cells": data.ArrayLayout(signed(p.weight_bits), p.cols)})


def window_layout(params: StreamerParams) -> data.StructLayout:
    """One block's result: its first source ``row`` and first destination ``col`` (the windows
    are ``rows`` x ``cols``, cut at the vertex count), ``last`` (the last block of the run) and
    ``y``, the MVM unit's output vector (line ``l`` belongs to destination ``col + l``)."""
    return data.StructLayout({"row": range(params.vertices + params.periphery.rows),
                              "col": range(params.vertices + params.periphery.cols),
                              "last": 1, "y": output_layout(params.periphery)})


class GraphStreamer(wiring.Component):
    """Streams a graph's non-empty sub-blocks, in GraphR's streaming-apply order, through one
    graph-engine crossbar.

    The graph is loaded as :func:`crosstrain.golden.graph.partition` cuts it: the block memory
    holds the non-empty blocks in streaming order (:func:`block_layout`; empty blocks are not
    stored, so none is ever visited), the edge memory their edges in the same order
    (:func:`edge_layout`), the vertex memory the source values by row window
    (:func:`vertex_layout`). On ``start`` it walks blocks ``0 .. count - 1``; for each it reads
    the block word, clears the block register and writes each edge's value at its cell (cells
    without an edge hold 0: the multiply-add semiring), programs the crossbar row by row on
    ``program``, hands the row window's source values to the MVM unit
    (:class:`crosstrain.rtl.mvm_unit.MvmUnit`) and passes the unit's output on ``o`` with the
    block's windows. The blocks come out in memory order, which is
    :func:`crosstrain.golden.graph.schedule`'s; the destinations' sums over their blocks are the
    digital side's (``o`` carries each block's partial sums).

    Parameters
    ----------
    params : crosstrain.golden.graph.StreamerParams
        Memory sizes and the MVM unit's periphery (``pipeline_cycles`` at least 2).

    Members
    -------
    load : In(FlowSignature(load_layout(params)))
        Writes one memory word per cycle ``valid`` is high; ignored while ``busy``.
    start : In(1), count : In(range(params.blocks + 1))
        A ``start`` pulse while idle streams the first ``count`` blocks (none when 0).
    busy : Out(1)
        High from the cycle after ``start`` through the cycle the last output is taken.
    program : Out(FlowSignature(program_layout(params)))
        Row ``row`` of the crossbar is written with ``cells`` in every cycle ``valid`` is high:
        ``write_row_cycles`` consecutive cycles per row, rows in order. Low while ``rst`` is high.
    o : Out(stream.Signature(window_layout(params)))
        One block's windows and MVM output, blocks in order.
    xbar : Out(MvmPortSignature(params.periphery))
        The MVM unit's crossbar port.

    Timing: with ``o`` always ready, block ``k`` (``e_k`` edges) takes ``e_k + 3 + rows *
    write_row_cycles + latency`` cycles (``latency`` of
    :func:`crosstrain.golden.cycles.mvm_schedule`): one to read its block word, ``e_k + 1`` to
    read its edges (one per cycle, the last written a cycle later), the row writes, one to hand
    the vector to the MVM unit, ``latency`` until its output is taken. The last output is taken
    :func:`crosstrain.golden.cycles.graph_stream_cycles` cycles after the ``start`` cycle. A
    stalled ``o`` delays the next block by the stall.
    """

    def __init__(self, *, params: StreamerParams):
        if not isinstance(params, StreamerParams):
            raise TypeError(f"params must be a crosstrain.golden.graph.StreamerParams, not {params!r}")
        self._params = params
        self._mvm = MvmUnit(params=params.periphery)
        super().__init__({
            "load": In(FlowSignature(load_layout(params))),
            "start": In(1),
            "count": In(range(params.blocks + 1)),
            "busy": Out(1),
            "program": Out(FlowSignature(program_layout(params))),
            "o": Out(stream.Signature(window_layout(params))),
            "xbar": Out(MvmPortSignature(params.periphery)),
        })

    @property
    def params(self) -> StreamerParams:
        return self._params

    def elaborate(self, platform):
        m = Module()
        sp, p = self._params, self._params.periphery
        rows, cols, write = p.rows, p.cols, p.write_row_cycles
        m.submodules.mvm = mvm = self._mvm
        mems = {}
        for table, layout, depth in ((Table.BLOCKS, block_layout(sp), sp.blocks),
                                     (Table.EDGES, edge_layout(sp), sp.edges),
                                     (Table.VERTICES, vertex_layout(sp), sp.row_windows)):
            mem = memory.Memory(shape=layout, depth=depth, init=[])
            m.submodules[f"{table.name.lower()}_mem"] = mem
            mems[table] = mem.read_port(), mem.write_port(), data.Layout.cast(layout).size

        # ---- registers ----
        block = Signal(range(sp.blocks + 1))          # current block
        count = Signal.like(self.count)
        edge = Signal(range(sp.edges + 1))            # next edge to read
        pending = Signal()                            # the edge read last cycle is to be written
        weights = Signal(data.ArrayLayout(signed(p.weight_bits), rows * cols))
        row = Signal(range(rows))
        tick = Signal(range(write))
        state = Signal(State)

        (block_rd, _, _), (edge_rd, _, _), (vertex_rd, _, _) = mems.values()
        head, edge_word = block_rd.data, edge_rd.data
        m.d.comb += [block_rd.addr.eq(block), edge_rd.addr.eq(edge), vertex_rd.addr.eq(head.row)]
        with m.If(pending):
            m.d.sync += weights[edge_word.cell].eq(edge_word.value)

        payload = self.o.payload
        m.d.comb += [payload.row.eq(head.row * rows), payload.col.eq(head.col * cols),
                     payload.last.eq(block + 1 == count), payload.y.eq(mvm.o.payload),
                     self.program.payload.row.eq(row),
                     self.program.payload.cells.eq(weights.as_value().word_select(row, cols * p.weight_bits))]
        for line in range(rows):
            m.d.comb += mvm.i.payload.x[line].eq(vertex_rd.data[line])

        # an If chain, not a Switch: the Verilog backend writes a Switch as one case statement
        # per register, incomplete (a lint warning) for registers only some states assign
        with m.If(state == State.IDLE):
            with m.If(self.start & (self.count != 0)):
                m.d.sync += [block.eq(0), edge.eq(0), count.eq(self.count), state.eq(State.HEAD)]
        with m.Elif(state == State.HEAD):
            m.d.sync += [weights.eq(0), state.eq(State.FETCH)]
        with m.Elif(state == State.FETCH):
            with m.If(edge != head.end):
                m.d.sync += [edge.eq(edge + 1), pending.eq(1)]
            with m.Else():
                m.d.sync += [pending.eq(0), row.eq(0), tick.eq(0), state.eq(State.PROGRAM)]
        with m.Elif(state == State.PROGRAM):
            with m.If(tick == write - 1):
                m.d.sync += [tick.eq(0), row.eq(row + 1)]
                with m.If(row == rows - 1):
                    m.d.sync += state.eq(State.ISSUE)
            with m.Else():
                m.d.sync += tick.eq(tick + 1)
        with m.Elif(state == State.ISSUE):
            with m.If(mvm.i.ready):
                m.d.sync += state.eq(State.WAIT)
        with m.Else():                                # State.WAIT
            with m.If(mvm.o.valid & self.o.ready):
                m.d.sync += block.eq(block + 1)
                m.d.sync += state.eq(Mux(block + 1 == count, State.IDLE, State.HEAD))
        # outputs as continuous assignments outside the state's process: Icarus evaluates those
        # at time 0, a process only once its inputs change (the state holds through the reset)
        idle, wait = state == State.IDLE, state == State.WAIT
        m.d.comb += [self.busy.eq(~idle),
                     self.program.valid.eq((state == State.PROGRAM) & ~ResetSignal()),
                     mvm.i.valid.eq(state == State.ISSUE),
                     self.o.valid.eq(wait & mvm.o.valid), mvm.o.ready.eq(wait & self.o.ready)]
        for table, (_, wr, width) in mems.items():     # loads only while idle
            m.d.comb += [wr.addr.eq(self.load.payload.addr), wr.data.eq(self.load.payload.data[:width]),
                         wr.en.eq(idle & self.load.valid & (self.load.payload.table == table))]
        wiring.connect(m, mvm.xbar, wiring.flipped(self.xbar))
        return m
