"""Bench of crosstrain.rtl.graph_streamer.GraphStreamer: a graph partitioned by
:func:`crosstrain.golden.graph.partition` streamed through the MVM unit at graph-engine size.

One body, :func:`run_graph` (a :mod:`crosstrain.tb.testbench` bench), serves amaranth.sim
(:func:`simulate`) and cocotb on Icarus or Verilator (the tests at the bottom): it loads the
memories on ``load`` (:func:`load_words`), answers the crossbar port with the analog model of
:mod:`crosstrain.tb.analog`, which the streamer's row writes on ``program`` reprogram
(:class:`ProgramAgent`), pulses ``start`` and takes every block's output from ``o``.
:func:`check_graph` compares what it saw with the golden model: the windows of
:func:`crosstrain.golden.graph.schedule`, each block's output with
:func:`crosstrain.golden.crossbar.block_mvm`, the destinations' sums with
:func:`crosstrain.golden.graph.mac_pass` and the cycles with
:func:`crosstrain.golden.cycles.graph_stream_cycles`, all exactly.

The graph is the bench parameter ``graph`` (``n``, ``src``, ``dst``, ``value`` lists), edge
values and source values coded as SpMV codes them (:func:`spmv_codes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cocotb
import numpy as np
import scipy.sparse as sp

from crosstrain.golden import crossbar
from crosstrain.golden.cycles import graph_stream_cycles
from crosstrain.golden.graph import (
    GraphEngines,
    Partition,
    StreamerParams,
    block_matrix,
    mac_pass,
    partition,
    schedule,
    shared_exponent_codes,
)
from crosstrain.rtl.graph_streamer import (
    Table,
    block_layout,
    edge_layout,
    load_layout,
    program_layout,
    vertex_layout,
    window_layout,
)
from crosstrain.tb.analog import AnalogCrossbar
from crosstrain.tb.mvm_bench import attach
from crosstrain.tb.runner import bench_params
from crosstrain.tb.scoreboard import Scoreboard
from crosstrain.tb.stream import StreamSink, StreamSource, random_pauses
from crosstrain.tb.testbench import Agent, run_amaranth, run_cocotb
from crosstrain.tb.words import Codec


# ---- workload ----------------------------------------------------------------------------------
def graph_partition(params: StreamerParams, graph: dict, engines: GraphEngines) -> Partition:
    """The bench graph (``n``, ``src``, ``dst``, ``value``) cut for the streamer's crossbar."""
    n = graph["n"]
    adj = sp.coo_array((np.asarray(graph["value"], np.float64),
                        (np.asarray(graph["src"], np.int64), np.asarray(graph["dst"], np.int64))),
                       shape=(n, n))
    part = partition(adj, params.periphery.cfg, engines)
    params.check_fits(part)
    return part


def spmv_codes(params: StreamerParams, part: Partition, seed: int):
    """Edge codes (per edge, streaming order) and source codes (per vertex) as
    :func:`crosstrain.golden.graph.spmv` makes them, for a seeded uniform ``x`` in [-1, 1)."""
    p = params.periphery
    w, _ = shared_exponent_codes(part.value, p.weight_bits)
    x, _ = shared_exponent_codes(np.random.default_rng(seed).uniform(-1, 1, part.n), p.input_bits)
    return w, x


def load_words(params: StreamerParams, part: Partition, w_codes, x_codes) -> list[dict]:
    """The ``load`` words that fill the three memories."""
    R = params.periphery.rows
    blocks, edges, vertices = (Codec(f(params)) for f in (block_layout, edge_layout, vertex_layout))
    words = [{"table": Table.BLOCKS, "addr": k,
              "data": blocks.pack({"row": int(part.block_row[k]), "col": int(part.block_col[k]),
                                   "end": int(part.block_edges[k + 1])})} for k in range(part.blocks)]
    words += [{"table": Table.EDGES, "addr": k,
               "data": edges.pack({"cell": int(part.cell[k]), "value": int(w_codes[k])})}
              for k in range(part.edges)]
    x = np.zeros(part.row_windows * R, dtype=np.int64)
    x[:part.n] = x_codes
    words += [{"table": Table.VERTICES, "addr": k, "data": vertices.pack(x[k * R:(k + 1) * R])}
              for k in range(part.row_windows)]
    return words


# ---- golden expectations -----------------------------------------------------------------------
def golden_outputs(params: StreamerParams, part: Partition, w_codes, x_codes) -> list[dict]:
    """Per non-empty block in streaming order, the ``o`` payload: windows from
    :func:`crosstrain.golden.graph.schedule`, ``y`` from :func:`crosstrain.golden.crossbar.block_mvm`
    of the block's dense edge codes and its row window's source codes."""
    p = params.periphery
    lines = max(p.rows, p.cols)
    x = np.zeros(part.row_windows * p.rows, dtype=np.int64)
    x[:part.n] = x_codes
    out = []
    for s in schedule(part):
        w = block_matrix(part, w_codes, s.block)
        y = crossbar.block_mvm(w[None], x[None, s.row0:s.row0 + p.rows], p.cfg, fast=False)[0]
        padded = np.zeros(lines, dtype=np.int64)
        padded[:p.cols] = y
        out.append({"row": s.row0, "col": s.col0, "last": int(s.block == part.blocks - 1), "y": padded})
    return out


@dataclass
class GraphResult:
    """What a bench saw: the cycle of the ``start`` pulse, every ``o`` transfer, and the
    crossbar's row-write cycles and MVM samples."""

    start: int = 0
    outputs: list = field(default_factory=list)
    program_cycles: int = 0
    samples: int = 0


def check_graph(params: StreamerParams, part: Partition, w_codes, x_codes, result: GraphResult, *,
                note: str, timing: bool = True) -> None:
    """Windows and block outputs equal the golden ones (and, with ``timing``, each output's
    cycle equals :func:`crosstrain.golden.cycles.graph_stream_cycles` of the blocks up to it);
    the destinations' sums equal :func:`crosstrain.golden.graph.mac_pass` bit for bit."""
    p = params.periphery
    cfg = p.cfg
    board = Scoreboard("block output", note=note)
    want = golden_outputs(params, part, w_codes, x_codes)
    per_block = np.diff(part.block_edges)
    for k, value in enumerate(want):              # block k's output: its prefix of the schedule
        board.expect(value, cycle=result.start + graph_stream_cycles(cfg, per_block[:k + 1])
                     if timing else None)
    board.check(result.outputs)
    acc = np.zeros(part.col_windows * p.cols + p.cols, dtype=np.int64)
    for t in result.outputs:
        acc[t.value["col"]:t.value["col"] + p.cols] += t.value["y"][:p.cols]
    sums, _ = mac_pass(part, w_codes, x_codes, cfg, fast=False)
    bad = np.flatnonzero(acc[:part.n] != sums)
    assert not len(bad), (f"destination {bad[0]}: streamed sum {acc[bad[0]]}, golden mac_pass "
                          f"{sums[bad[0]]:.0f} ({len(bad)} differ; {note})")
    assert result.program_cycles == part.blocks * p.rows * p.write_row_cycles, \
        f"{result.program_cycles} row-write cycles for {part.blocks} blocks ({note})"
    assert result.samples == part.blocks * p.input_steps, \
        f"{result.samples} crossbar samples for {part.blocks} blocks ({note})"


# ---- the bench body: the same in amaranth.sim and cocotb ---------------------------------------
class ProgramAgent(Agent):
    """Applies the streamer's row writes (``program``) to the analog model; counts the cycles."""

    def __init__(self, tb, params: StreamerParams, model: AnalogCrossbar):
        p = params.periphery
        self.valid, self.payload = tb.port("program__valid"), tb.port("program__payload")
        self.codec, self.model = Codec(program_layout(params)), model
        self.weights = np.zeros((p.rows, p.cols), dtype=np.int64)
        self.cycles = 0

    def sample(self) -> None:
        if not self.valid.get():
            return
        self.cycles += 1
        w = self.codec.unpack(self.payload.get())
        if not np.array_equal(self.weights[w["row"]], w["cells"]):
            self.weights[w["row"]] = w["cells"]
            self.model.program(self.weights)


def stuck_after(params: StreamerParams, part: Partition) -> int:
    """Cycles a run may take at most (with output stalls) before a driver declares it stuck."""
    return 4 * graph_stream_cycles(params.periphery.cfg, np.diff(part.block_edges)) + 1000


async def pulse_start(tb) -> int:
    """Drive ``start`` high for one cycle; returns that cycle."""
    tb.set("start", 1)
    at = tb.cycle
    await tb.ticks(1)
    tb.set("start", 0)
    return at


async def run_graph(tb, params: StreamerParams, part: Partition, w_codes, x_codes, *,
                    pause=None, reset_at: int | None = None) -> GraphResult:
    """Reset, load the memories, stream every block (``pause``: a pause generator of
    :mod:`crosstrain.tb.stream` on ``o.ready``) and wait until ``busy`` falls. With
    ``reset_at``, a first run is cut by a two-cycle reset that many cycles after its ``start``
    (what it streamed is dropped; the memories keep the graph) and the graph is streamed again."""
    p = params.periphery
    for name, value in (("start", 0), ("count", part.blocks), ("load__valid", 0)):
        tb.set(name, value)
    xbar = await attach(tb, p, np.zeros((p.rows, p.cols), dtype=np.int64))
    prog = tb.add(ProgramAgent(tb, params, xbar.model))
    busy = tb.probe("busy")
    words = load_words(params, part, w_codes, x_codes)
    src = tb.add(StreamSource(tb, "load", codec=Codec(load_layout(params)), ready=False))
    src.send_all(words)
    await src.drain(timeout=len(words) + 10)
    await tb.ticks(1)
    tb.remove(src)
    sink = tb.add(StreamSink(tb, "o", codec=Codec(window_layout(params)), pause=pause))
    if reset_at is not None:
        await pulse_start(tb)
        await tb.ticks(reset_at)
        await tb.reset(2)
        assert not busy.value, f"busy is high after the reset (cycle {tb.cycle})"
    dropped, prog.cycles, samples = len(sink.transfers), 0, xbar.model.samples
    start = await pulse_start(tb)
    await sink.wait(dropped + part.blocks, timeout=stuck_after(params, part))
    await tb.until(lambda: not busy.value, timeout=10, what="busy to fall after the last output")
    tb.remove(sink, prog, busy)
    return GraphResult(start=start, outputs=list(sink.transfers[dropped:]), program_cycles=prog.cycles,
                       samples=xbar.model.samples - samples)


def simulate(params: StreamerParams, part: Partition, w_codes, x_codes, *,
             stall_seed: int | None = None, stall: float = 0.5,
             reset_at: int | None = None) -> GraphResult:
    """:func:`run_graph` in amaranth.sim; ``o.ready`` low with probability ``stall`` each cycle
    when ``stall_seed`` is given, else always high."""
    from crosstrain.rtl.graph_streamer import GraphStreamer

    pause = None if stall_seed is None else random_pauses(np.random.default_rng(stall_seed), stall)

    async def body(tb):
        return await run_graph(tb, params, part, w_codes, x_codes, pause=pause, reset_at=reset_at)

    return run_amaranth(GraphStreamer(params=params), body)


# ---- cocotb tests (the bodies above, on Icarus or Verilator) ---------------------------------
def setup():
    """Bench parameters ``streamer``, ``graph``, ``slots``, ``seed``: (params, partition, edge
    codes, source codes, seed)."""
    d = bench_params()
    params = StreamerParams.from_dict(d["streamer"])
    p = params.periphery
    engines = GraphEngines(ges=1, crossbars_per_ge=d["slots"] * p.cfg.arrays_per_block)
    part = graph_partition(params, d["graph"], engines)
    w, x = spmv_codes(params, part, d["seed"])
    return params, part, w, x, d["seed"]


@cocotb.test()
async def graph_in_streaming_order(dut):
    """Every non-empty block, output always ready: windows, outputs, sums and cycles golden."""
    params, part, w, x, seed = setup()

    async def body(tb):
        return await run_graph(tb, params, part, w, x)

    result = await run_cocotb(dut, body)
    check_graph(params, part, w, x, result, note=f"seed {seed}")


@cocotb.test()
async def output_back_pressure(dut):
    """Random stalls on ``o``: nothing lost, nothing repeated, the same outputs and sums."""
    params, part, w, x, seed = setup()
    pause = random_pauses(np.random.default_rng(seed), 0.6)

    async def body(tb):
        return await run_graph(tb, params, part, w, x, pause=pause)

    result = await run_cocotb(dut, body)
    check_graph(params, part, w, x, result, note=f"seed {seed}: back-pressure", timing=False)


@cocotb.test()
async def reset_mid_stream(dut):
    """A reset while the third block is programmed: no handshake in it, idle after it, and the
    graph streamed again from its memories is golden, cycles included."""
    params, part, w, x, seed = setup()
    third = graph_stream_cycles(params.periphery.cfg, np.diff(part.block_edges)[:2]) + 10

    async def body(tb):
        return await run_graph(tb, params, part, w, x, reset_at=third)

    result = await run_cocotb(dut, body)
    check_graph(params, part, w, x, result, note=f"seed {seed}: after a reset")
