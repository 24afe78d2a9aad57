"""Graph processing on crossbars as GraphR does it: a graph as small dense sub-blocks streamed
through the bit-sliced crossbar (reference sheet section 7).

Layout
    The adjacency matrix (``A[u, v]`` = value of the edge u -> v, a scipy.sparse matrix) is cut
    into blocks of ``crossbar.rows`` source vertices x ``crossbar.cols`` destination vertices;
    sources drive the rows, destinations are the columns. Empty blocks are never stored, read or
    processed. The engines hold :meth:`GraphEngines.slots` logical blocks at once (GraphR: 64
    graph engines x 32 crossbars, four 4-bit crossbars per 16-bit value, so 512 blocks).

Streaming order (:func:`schedule`)
    Destinations are grouped into stripes of ``slots`` column windows (GraphR's subgraph of
    C x C.N.G vertices). Stripes go in order; inside a stripe, row windows go in order and, inside
    a row window, column windows (the crossbar each block occupies) — column-major over GraphR's
    subgraphs, so a stripe's destinations are reduced on the fly. A *round* loads blocks into
    the crossbars and runs them together: with ``packing = "subgraph"`` a round is one non-empty
    subgraph (one row window of one stripe; GraphR's description), with ``"blocks"`` the
    non-empty blocks of a stripe fill every crossbar whatever their row window. Edges are sorted
    once into this order (GraphR's global order ID), so each stripe is one contiguous batch.

Semirings
    Multiply-add (:func:`pagerank`, :func:`spmv`): each block is one MVM of its source values
    through its edge values; a stripe's blocks are one batched call of
    :func:`crosstrain.golden.crossbar.block_mvm`, and the digital side adds the partial sums of a
    destination. Add-then-min (:func:`bfs`, :func:`sssp`, Bellman-Ford over the vertices whose
    distance changed): one source row per time slot; the slot drives that row with 1 and an
    always-on extra row (weight 1 in every column, so the array has ``rows + 1`` rows) with the
    source's distance, so each column returns ``w(u, v) + dist(u)``; cells without an edge hold
    the largest weight code (all slices at the top level), which the digital min unit recognises
    (``sum - dist(u)`` is the no-edge code) and skips.

Fixed point
    Vertex values use ``precision.input_bits`` and edge values ``precision.weight_bits``, each
    with one shared exponent (:func:`shared_exponent_codes`: the most fraction bits that keep the
    largest magnitude in range, chosen anew for the vertex values of every iteration). Distances
    and SSSP weights are integers; a distance that reaches ``2**(input_bits-1) - 1`` saturates
    (the vertex counts as unreached) and is counted in :attr:`GraphRun.saturated`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import scipy.sparse as sp

from crosstrain.golden import crossbar, encoding
from crosstrain.golden.config import ConfigError, HardwareConfig
from crosstrain.golden.events import Events
from crosstrain.golden.periphery import PeripheryParams

PACKINGS = ("subgraph", "blocks")


@dataclass(frozen=True)
class GraphEngines:
    """GraphR's organisation (reference sheet section 7): ``ges`` graph engines of
    ``crossbars_per_ge`` physical crossbars; one ADC per ``crossbars_per_adc`` crossbars (GraphR's
    example: one 1 GS/s ADC for 8 crossbars x 8 bitlines in a 64 ns GE cycle); ``packing`` as in
    the module docstring."""

    ges: int = 64
    crossbars_per_ge: int = 32
    crossbars_per_adc: int = 8
    packing: str = "subgraph"

    def __post_init__(self):
        for name in ("ges", "crossbars_per_ge", "crossbars_per_adc"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"graph.{name} = {v!r} is not allowed: must be a positive integer")
        if self.packing not in PACKINGS:
            raise ConfigError(f"graph.packing = {self.packing!r} is not allowed: use "
                              + " or ".join(PACKINGS))

    def slots(self, cfg: HardwareConfig) -> int:
        """Logical blocks the engines hold at once (physical crossbars / arrays per block)."""
        n = self.ges * self.crossbars_per_ge // cfg.arrays_per_block
        if n < 1:
            raise ConfigError(f"graph.crossbars_per_ge = {self.crossbars_per_ge} x graph.ges = {self.ges} "
                              f"crossbars cannot hold one block of {cfg.arrays_per_block} arrays")
        return n


@dataclass(frozen=True)
class Partition:
    """A graph cut into its non-empty blocks, edges sorted into the streaming order.

    Per edge (streaming order): ``src``, ``dst``, ``value``, ``edge_block`` (its block) and
    ``cell`` (row x cols + column inside the block). Per non-empty block: ``block_row`` and
    ``block_col`` (window indices), ``block_edges`` (offsets into the edges, length blocks + 1).
    ``stripe_blocks`` gives the blocks of each stripe (offsets, length stripes + 1).
    """

    n: int
    rows: int
    cols: int
    slots: int
    packing: str
    src: np.ndarray
    dst: np.ndarray
    value: np.ndarray
    edge_block: np.ndarray
    cell: np.ndarray
    block_row: np.ndarray
    block_col: np.ndarray
    block_edges: np.ndarray
    stripe_blocks: np.ndarray

    @property
    def blocks(self) -> int:
        return len(self.block_row)

    @property
    def edges(self) -> int:
        return len(self.src)

    @property
    def row_windows(self) -> int:
        return -(-self.n // self.rows)

    @property
    def col_windows(self) -> int:
        return -(-self.n // self.cols)

    @property
    def grid_blocks(self) -> int:
        """All blocks of the matrix, empty ones included."""
        return self.row_windows * self.col_windows

    @property
    def stripes(self) -> int:
        return len(self.stripe_blocks) - 1


def partition(adj, cfg: HardwareConfig, engines: GraphEngines = GraphEngines()) -> Partition:
    """Cut a square scipy.sparse adjacency matrix into ``crossbar.rows x crossbar.cols`` blocks."""
    a = sp.csr_array(adj)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"an adjacency matrix must be square, got shape {a.shape}")
    a.sum_duplicates()                                # cheap when already canonical
    a = a.tocoo()
    n, R, C, W = a.shape[0], cfg.crossbar.rows, cfg.crossbar.cols, engines.slots(cfg)
    src, dst = a.row.astype(np.int64), a.col.astype(np.int64)
    bi, bj = src // R, dst // C
    n_bi, n_bj = -(-n // R), -(-n // C)
    n_stripes = -(-n_bj // W)
    if float(n_stripes) * n_bi * n_bj * R * C >= 2.0 ** 62:
        raise ValueError(f"a graph of {n} vertices is too large to order with {R}x{C} blocks")
    cell = (src % R) * C + dst % C
    block_key = ((bj // W) * n_bi + bi) * n_bj + bj
    order = np.argsort(block_key * (R * C) + cell, kind="stable")
    src, dst, cell, block_key = src[order], dst[order], cell[order], block_key[order]
    starts = _starts(block_key)
    edge_block = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(src))))
    block_row, block_col = bi[order][starts], bj[order][starts]
    stripe_blocks = np.searchsorted(block_col // W, np.arange(n_stripes + 1))
    return Partition(n=n, rows=R, cols=C, slots=W, packing=engines.packing, src=src, dst=dst,
                     value=np.asarray(a.data)[order], edge_block=edge_block, cell=cell,
                     block_row=block_row, block_col=block_col,
                     block_edges=np.append(starts, len(src)), stripe_blocks=stripe_blocks)


def _starts(keys: np.ndarray) -> np.ndarray:
    """Positions where a new value begins in a sorted array."""
    flags = np.ones(len(keys), bool)
    np.not_equal(keys[1:], keys[:-1], out=flags[1:])
    return np.flatnonzero(flags)


def rounds(part: Partition, blocks: np.ndarray | None = None) -> np.ndarray:
    """Round of each of ``blocks`` (indices in streaming order; default all), numbered from 0."""
    b = np.arange(part.blocks) if blocks is None else np.asarray(blocks, dtype=np.int64)
    if len(b) == 0:
        return np.zeros(0, np.int64)
    stripe = part.block_col[b] // part.slots
    if part.packing == "subgraph":
        key = stripe * part.row_windows + part.block_row[b]
        return np.cumsum(np.concatenate([[0], key[1:] != key[:-1]]))
    first = np.searchsorted(stripe, stripe)              # first position of each block's stripe
    pos = np.arange(len(b)) - first
    per_stripe = np.bincount(stripe, minlength=part.stripes)
    offset = np.concatenate([[0], np.cumsum(-(-per_stripe // part.slots))])
    return offset[stripe] + pos // part.slots


@dataclass(frozen=True)
class ScheduledBlock:
    """One non-empty block as the streamer issues it: rows ``row0 .. row1 - 1`` (sources) and
    columns ``col0 .. col1 - 1`` (destinations) of the matrix, the round it runs in and the
    logical crossbar (``slot``) it occupies in that round."""

    block: int
    round: int
    slot: int
    row0: int
    row1: int
    col0: int
    col1: int


def schedule(part: Partition, blocks: np.ndarray | None = None) -> Iterator[ScheduledBlock]:
    """The non-empty blocks (default all; else the given indices, in streaming order) in GraphR's
    column-major streaming order with their row / column windows, round and crossbar."""
    b = np.arange(part.blocks) if blocks is None else np.asarray(blocks, dtype=np.int64)
    rnd = rounds(part, b)
    if part.packing == "subgraph":
        slot = part.block_col[b] % part.slots
    else:
        slot = np.arange(len(b)) - np.searchsorted(rnd, rnd)
    R, C, n = part.rows, part.cols, part.n
    for k in range(len(b)):
        i, j = int(part.block_row[b[k]]), int(part.block_col[b[k]])
        yield ScheduledBlock(int(b[k]), int(rnd[k]), int(slot[k]), i * R, min(i * R + R, n),
                             j * C, min(j * C + C, n))


@dataclass(frozen=True)
class StreamerParams:
    """Sizes of the RTL sub-block streamer (:class:`crosstrain.rtl.graph_streamer.GraphStreamer`),
    shared by it, its benches, its Verilog export and :func:`check_fits`.

    periphery  the MVM unit's :class:`~crosstrain.golden.periphery.PeripheryParams`: one
               graph-engine crossbar of ``crossbar.rows x crossbar.cols`` (the block size)
    vertices   largest vertex count (the vertex memory holds ``ceil(vertices / rows)`` row windows)
    blocks     words of the block memory (largest count of non-empty blocks)
    edges      words of the edge memory (largest count of edges)
    """

    periphery: PeripheryParams
    vertices: int = 64
    blocks: int = 64
    edges: int = 256

    def __post_init__(self):
        if not isinstance(self.periphery, PeripheryParams):
            raise TypeError("StreamerParams.periphery must be a crosstrain.golden.periphery."
                            f"PeripheryParams, not {self.periphery!r}")
        for name in ("vertices", "blocks", "edges"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1 << 20:
                raise ValueError(f"StreamerParams.{name} must be an integer in [1, {1 << 20}], not {v!r}")

    @property
    def row_windows(self) -> int:
        return -(-self.vertices // self.periphery.rows)

    @property
    def col_windows(self) -> int:
        return -(-self.vertices // self.periphery.cols)

    def check_fits(self, part: Partition) -> None:
        """ValueError of one line when ``part`` does not fit the streamer's memories or block size."""
        p = self.periphery
        if (part.rows, part.cols) != (p.rows, p.cols):
            raise ValueError(f"the graph is cut into {part.rows}x{part.cols} blocks, the streamer's "
                             f"crossbar is {p.rows}x{p.cols}: partition with the same configuration")
        for name, need in (("vertices", part.n), ("blocks", part.blocks), ("edges", part.edges)):
            if need > getattr(self, name):
                raise ValueError(f"the graph needs {name} = {need}, the streamer holds "
                                 f"{getattr(self, name)}: raise StreamerParams.{name}")

    def as_dict(self) -> dict:
        """JSON-ready form, for bench handoff."""
        return {"periphery": self.periphery.as_dict(), "vertices": self.vertices,
                "blocks": self.blocks, "edges": self.edges}

    @classmethod
    def from_dict(cls, d: dict) -> "StreamerParams":
        return cls(PeripheryParams.from_dict(d["periphery"]), d["vertices"], d["blocks"], d["edges"])


def block_matrix(part: Partition, codes: np.ndarray, block: int) -> np.ndarray:
    """Non-empty block ``block`` as a dense (rows, cols) array of ``codes`` (per edge, streaming
    order) as the multiply-add semiring stores it: cells without an edge hold 0."""
    b0, b1 = int(block), int(block) + 1
    return _dense(part, b0, b1, int(part.block_edges[b0]), int(part.block_edges[b1]), codes, 0)[0]


@dataclass
class Pass:
    """One pass of the engines over the graph (one iteration of the vertex program).

    ``blocks``: processed blocks (indices, streaming order); ``slots``: MVMs (time slots) each
    processed block ran; ``active_edges``: edges whose source took part; ``block_edges``: edges
    stored in the processed blocks (what is read to program them); ``events``: crossbar events.
    """

    blocks: np.ndarray
    slots: np.ndarray
    active_edges: int
    block_edges: int
    events: Events


@dataclass
class GraphRun:
    """Result of a vertex program: ``values`` per vertex (ranks, y, or distances with -1 for
    unreached), the passes, the fraction bits used (``frac_bits``) and saturated distances."""

    values: np.ndarray
    passes: list[Pass] = field(default_factory=list)
    frac_bits: dict = field(default_factory=dict)
    saturated: int = 0


def shared_exponent_codes(values, bits: int) -> tuple[np.ndarray, int]:
    """Signed ``bits``-bit codes of ``values`` with one exponent: the most fraction bits that keep
    the largest magnitude in range. Returns ``(codes, frac_bits)``; value = code * 2**-frac_bits."""
    v = np.asarray(values, dtype=np.float64)
    top = float(np.max(np.abs(v), initial=0.0))
    frac = bits - 1 if top == 0 else math.floor(math.log2(((1 << (bits - 1)) - 1) / top))
    return encoding.to_fixed(v, bits, frac), frac


def _stripes(part: Partition):
    """(block range, edge range) of every non-empty stripe."""
    for s in range(part.stripes):
        b0, b1 = int(part.stripe_blocks[s]), int(part.stripe_blocks[s + 1])
        if b1 > b0:
            yield b0, b1, int(part.block_edges[b0]), int(part.block_edges[b1])


def _dense(part: Partition, b0: int, b1: int, e0: int, e1: int, codes: np.ndarray, fill: int):
    """The blocks ``b0 .. b1 - 1`` as dense (blocks, rows, cols) code arrays."""
    R, C = part.rows, part.cols
    d = np.full((b1 - b0) * R * C, fill, dtype=np.int32)       # codes have at most 32 bits
    d[(part.edge_block[e0:e1] - b0) * (R * C) + part.cell[e0:e1]] = codes[e0:e1]
    return d.reshape(-1, R, C)


def _lossless(cfg: HardwareConfig, fast: bool) -> bool:
    """True when every block's MVM is provably its exact products summed (no conversion can
    clip, integer ADC) and those sums stay exact in float64."""
    p = cfg.precision
    bound = 2.0 ** (p.input_bits + p.weight_bits - 2) * (cfg.crossbar.rows + 1)
    return fast and cfg.adc_never_clips and bound < 2.0 ** 53


def mac_pass(part: Partition, w_codes: np.ndarray, x_codes: np.ndarray, cfg: HardwareConfig, *,
             fast: bool = True) -> tuple[np.ndarray, Pass]:
    """``sum_u w[u, v] * x[u]`` for every destination v over the multiply-add semiring: every
    non-empty block is one MVM (:func:`crosstrain.golden.crossbar.block_mvm`), the blocks of a
    stripe one batched call, and the digital side adds the block outputs of a destination.
    ``w_codes`` per edge in streaming order, ``x_codes`` per vertex; returns the sums (float64,
    integer-valued when ``adc_lsb`` = 1) and the pass.

    When no conversion can clip (``fast`` and :func:`_lossless`), each block's output is its
    exact products summed, as block_mvm's own fast path proves, so a destination's sum over its
    blocks is the sum of its edges' products (empty cells add zero): same values, same events,
    without building dense blocks.
    """
    R, C, W = part.rows, part.cols, part.slots
    if _lossless(cfg, fast):
        products = w_codes.astype(np.float64) * np.asarray(x_codes, dtype=np.float64)[part.src]
        acc = np.bincount(part.dst, weights=products, minlength=part.n)
        events = crossbar.count_mvm_events(cfg, (R, C), part.blocks)
        return acc[:part.n], Pass(np.arange(part.blocks), np.ones(part.blocks, np.int64),
                                  part.edges, part.edges, events)
    x = np.zeros(part.row_windows * R, dtype=np.int64)
    x[:part.n] = x_codes
    acc = np.zeros(part.col_windows * C + W * C)
    events = Events()
    for b0, b1, e0, e1 in _stripes(part):
        w = _dense(part, b0, b1, e0, e1, w_codes, 0)
        xs = x[part.block_row[b0:b1, None] * R + np.arange(R)]
        y = crossbar.block_mvm(w, xs, cfg, events=events, fast=fast)
        base = int(part.block_col[b0] // W) * W * C
        idx = (part.block_col[b0:b1, None] * C + np.arange(C) - base).ravel()
        acc[base:base + W * C] += np.bincount(idx, weights=y.ravel().astype(np.float64), minlength=W * C)
    return acc[:part.n], Pass(np.arange(part.blocks), np.ones(part.blocks, np.int64), part.edges,
                              part.edges, events)


def pagerank(part: Partition, cfg: HardwareConfig, *, iterations: int = 20, damping: float = 0.85,
             fast: bool = True) -> GraphRun:
    """PageRank ``x <- (1 - d) / n + d * A_norm^T x`` from ``x = 1/n`` (A_norm: rows divided by the
    out-degree; vertices without out-edges pass nothing on). The crossbars hold ``d / outdeg(u)``;
    the digital unit adds the teleport term."""
    if iterations < 1 or not 0 < damping < 1:
        raise ValueError(f"pagerank needs iterations >= 1 and 0 < damping < 1, got {iterations}, {damping}")
    outdeg = np.bincount(part.src, minlength=part.n)
    w_codes, fw = shared_exponent_codes(damping / outdeg[part.src], cfg.precision.weight_bits)
    x = np.full(part.n, 1.0 / part.n)
    run = GraphRun(x, frac_bits={"weights": fw, "values": []})
    for _ in range(iterations):
        xc, fx = shared_exponent_codes(x, cfg.precision.input_bits)
        acc, p = mac_pass(part, w_codes, xc, cfg, fast=fast)
        x = (1.0 - damping) / part.n + acc * 2.0 ** -(fw + fx)
        run.passes.append(p)
        run.frac_bits["values"].append(fx)
    run.values = x
    return run


def spmv(part: Partition, x, cfg: HardwareConfig, *, fast: bool = True) -> GraphRun:
    """``y = A^T x`` (``y[v] = sum_u A[u, v] x[u]``) with the edge values as weights."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (part.n,):
        raise ValueError(f"spmv input has shape {x.shape}, expected ({part.n},)")
    w_codes, fw = shared_exponent_codes(part.value, cfg.precision.weight_bits)
    xc, fx = shared_exponent_codes(x, cfg.precision.input_bits)
    acc, p = mac_pass(part, w_codes, xc, cfg, fast=fast)
    return GraphRun(acc * 2.0 ** -(fw + fx), [p], {"weights": fw, "values": [fx]})


def addmin_config(cfg: HardwareConfig) -> HardwareConfig:
    """The configuration of an add-then-min crossbar: one more row (the always-on wordline)."""
    try:
        return cfg.with_overrides({"crossbar.rows": cfg.crossbar.rows + 1})
    except ConfigError as e:
        raise ConfigError(f"add-then-min needs crossbar.rows + 1 = {cfg.crossbar.rows + 1} rows "
                          f"(the always-on wordline): {e}") from None


def bfs(part: Partition, source: int, cfg: HardwareConfig, *, fast: bool = True) -> GraphRun:
    """Hop counts from ``source`` (-1: unreached) as SSSP with unit weights."""
    return _addmin(part, np.ones(part.edges, np.int64), source, cfg, fast)


def sssp(part: Partition, source: int, cfg: HardwareConfig, *, fast: bool = True) -> GraphRun:
    """Shortest distances from ``source`` (-1: unreached); edge values must be integers from 0
    to ``2**(weight_bits-1) - 2`` (the top code means "no edge")."""
    v = np.asarray(part.value)
    top = (1 << (cfg.precision.weight_bits - 1)) - 2
    if v.size and (not np.all(v == np.round(v)) or v.min() < 0 or v.max() > top):
        bad = float(v[(v != np.round(v)) | (v < 0) | (v > top)][0])
        raise ValueError(f"sssp edge weight {bad:g} is not an integer from 0 to {top} "
                         f"({cfg.precision.weight_bits}-bit weights, the top code means no edge)")
    return _addmin(part, v.astype(np.int64), source, cfg, fast)


def _addmin(part: Partition, w_codes: np.ndarray, source: int, cfg: HardwareConfig, fast: bool):
    if not 0 <= source < part.n:
        raise ValueError(f"source vertex {source} is not in the graph (0 .. {part.n - 1})")
    view = addmin_config(cfg)
    lossless = _lossless(view, fast)
    R, C = part.rows, part.cols
    no_edge = (1 << (cfg.precision.weight_bits - 1)) - 1
    inf = (1 << (cfg.precision.input_bits - 1)) - 1
    dist = np.full(part.row_windows * R, inf, dtype=np.int64)
    dist[source] = 0
    active = np.zeros(len(dist), bool)
    active[source] = True
    edge_row = part.cell // C
    run = GraphRun(dist)
    while active.any():
        new = np.full(part.col_windows * C, inf, dtype=np.int64)
        new[:part.n] = dist[:part.n]
        on = np.flatnonzero(active[part.src])
        key = part.edge_block[on] * R + edge_row[on]               # nondecreasing: one per slot
        first = on[_starts(key)]
        slot_block, slot_row = part.edge_block[first], edge_row[first]
        events = crossbar.count_mvm_events(view, (R + 1, C), len(slot_block))
        if lossless:      # each column returns w + dist(u) exactly; cells without an edge are skipped
            cand = w_codes[on] + dist[part.src[on]]
            run.saturated += int(np.count_nonzero(cand >= inf))
            np.minimum.at(new, part.dst[on], np.minimum(cand, inf))
        else:
            events = Events()
            for b0, b1, e0, e1 in _stripes(part):
                s0, s1 = np.searchsorted(slot_block, [b0, b1])
                if s1 > s0:
                    run.saturated += _addmin_slots(part, b0, b1, e0, e1, slot_block[s0:s1],
                                                   slot_row[s0:s1], w_codes, dist, new, view, events,
                                                   no_edge, inf)
        starts = _starts(slot_block)
        blocks, slots = slot_block[starts], np.diff(np.append(starts, len(slot_block)))
        block_edges = int((part.block_edges[blocks + 1] - part.block_edges[blocks]).sum())
        run.passes.append(Pass(blocks, slots, len(on), block_edges, events))
        active = np.zeros(len(dist), bool)
        active[:part.n] = new[:part.n] < dist[:part.n]
        dist[:part.n] = new[:part.n]
    out = dist[:part.n].copy()
    out[out >= inf] = -1
    run.values = out
    return run


def _addmin_slots(part, b0, b1, e0, e1, slot_block, slot_row, w_codes, dist, new, view, events,
                  no_edge, inf) -> int:
    """Run one stripe's time slots through the crossbars (every step and slice); fold the
    candidates into ``new``; return the count of saturated candidates."""
    R, C = part.rows, part.cols
    w = _dense(part, b0, b1, e0, e1, w_codes, no_edge)[slot_block - b0]
    w = np.concatenate([w, np.ones((len(w), 1, C), np.int32)], axis=1)
    d_u = dist[part.block_row[slot_block] * R + slot_row]
    x = np.zeros((len(w), R + 1), dtype=np.int64)
    x[np.arange(len(w)), slot_row] = 1
    x[:, R] = d_u
    cand = crossbar.block_mvm(w, x, view, events=events, fast=False)
    target = part.block_col[slot_block, None] * C + np.arange(C)
    edge = (cand - d_u[:, None] < no_edge) & (target < part.n)
    # the min unit holds unsigned distances: a clipped conversion's wrong sum is clamped into range
    np.minimum.at(new, target[edge], np.clip(cand[edge], 0, inf).astype(np.int64))
    return int(np.count_nonzero(edge & (cand >= inf)))
