"""Compile one training layer into a tile program (:mod:`crosstrain.golden.isa`).

The mapping is the mapper's (:mod:`crosstrain.rollup.mapper`), not a second one: the layer's
GEMMs are :func:`~crosstrain.rollup.mapper.gemms` (fc: one MVM per sample; conv: im2col;
transposed conv: ``tconv="decomposed"``, one group per output phase of ZARA's s^2 sub-kernels),
each GEMM's ``groups`` copies are tiled into :meth:`~crosstrain.rollup.mapper.Gemm.blocks`
crossbar blocks, each layer copy (``replication``, e.g. from
:func:`~crosstrain.rollup.mapper.replication_factors`) gets its own blocks, and the phases are the
mapper's: forward, backward (when the layer needs its input error), gradient (OPA) and CRS every
``crs_samples`` samples (the :class:`~crosstrain.rollup.mapper.Technique` setting; 0 = never).
One block is one unit; a layer needing more units than the tile has is refused.

Buffer layout: every GEMM group ``k`` has ``batch * vectors`` records, one per MVM vector, of
``rows + cols + cols + rows`` values: the input ``x``, the output ``y``, the output error ``e``
and the input error ``dx`` (im2col space). The groups' records are interleaved: slot ``i`` holds
record ``i`` of every group side by side (group ``k`` at ``base``, the sum of the records before
it), so record ``i`` of every group is ``i * stride`` past its record 0, with one ``stride`` (the
slot size) for the whole layer; a group with fewer vectors leaves its place in the last slots
unused. The weight matrices (``rows x cols``, row major) follow the slots. The host
(:mod:`crosstrain.rollup.operands`) fills ``x``, ``e`` and the weights and zeroes ``y`` and
``dx``; every STORE adds into the buffer, so the row blocks' partial sums meet there in any order.

Program: MARK program; WRITE every weight row of every block (row 0 of every block, then row
1, ..., so that the units program their rows concurrently); per phase a MARK and LOOPs over the
vectors whose one body drives every block of every GEMM group and layer copy (forward LOAD x,
MVM, STORE y; backward LOAD e, MTVM, STORE dx; gradient LOAD x, LOAD e, OPA; the stride is the
slot size), so the groups run concurrently, ZARA's phase groups side by side on their own units.
Groups (and copies) with different vector counts share a LOOP for as many vectors as they all
have; the next LOOP drives those with more, and so on. CRS on every block after each
``crs_samples`` samples of OPAs; one SYNC of every unit before HALT. No other barrier is needed: a unit runs its own
instructions in order (WRITE before MVM before OPA before CRS), and within one layer no unit
reads what another writes (partial sums only add into the buffer). Replicas split the forward
and backward vectors; every replica applies every OPA so that the copies stay equal (the mapper
charges each replica only its share, ``ceil(batch * vectors / replication)`` OPAs).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from crosstrain.golden import isa
from crosstrain.golden.config import HardwareConfig
from crosstrain.rollup.mapper import Technique, gemms
from crosstrain.rollup.networks import Layer


MAX_TIMED = 250_000        # executed instructions the cycle model steps through (~15,000/s)


class CompileError(ValueError):
    """A layer or tile the compiler cannot serve; one line naming the value and the fix."""


@dataclass(frozen=True)
class Region:
    """One GEMM group's records and weights in the buffer (module docstring)."""

    gemm: int           # index into the layer's gemms
    group: int          # copy within the Gemm (transposed-conv phase of that geometry)
    rows: int
    cols: int
    vectors: int        # records: batch * MVM vectors per sample
    base: int           # address of record 0
    weights: int        # address of the weight matrix
    stride: int         # from one record to the next (the slot of every group's record)

    @property
    def record(self) -> int:
        return 2 * (self.rows + self.cols)

    def field(self, name: str) -> int:
        """Offset of ``x``, ``y``, ``e`` or ``dx`` in a record."""
        return {"x": 0, "y": self.rows, "e": self.rows + self.cols, "dx": self.rows + 2 * self.cols}[name]

    @property
    def end(self) -> int:
        return self.weights + self.rows * self.cols

    def addresses(self) -> np.ndarray:
        """(vectors, record) buffer addresses of the records' values."""
        return self.base + self.stride * np.arange(self.vectors)[:, None] + np.arange(self.record)


@dataclass(frozen=True)
class Block:
    """One crossbar block on one unit: rows r0..r1 and columns c0..c1 of a region, replica ``copy``."""

    unit: int
    region: int
    copy: int
    r0: int
    r1: int
    c0: int
    c1: int


@dataclass
class Compiled:
    layer: Layer
    batch: int
    tile: isa.TileParams
    regions: list[Region]
    blocks: list[Block]
    program: list[isa.Instr]
    replication: int
    crs_samples: int

    def counts(self) -> Counter:
        """Words per kind in the program (a LOOP's body counted once)."""
        return Counter(i.op for i in self.program)

    def listing(self) -> str:
        """One line per word: index, hex word, instruction."""
        return "\n".join(f"{n:6d}  {isa.encode(i, self.tile):016x}  {i.text()}"
                         for n, i in enumerate(self.program)) + "\n"

    def binary(self) -> bytes:
        return isa.assemble(self.program, self.tile)


def layer_regions(layer: Layer, batch: int) -> list[tuple[int, int, int, int, int]]:
    """(gemm index, group, rows, cols, vectors per batch) of every GEMM group of ``layer``."""
    if not layer.has_weights:
        raise CompileError(f"layer {layer.name} ({layer.kind}) has no weights: there is nothing "
                           "to run on the crossbars; pick a fc, conv or tconv layer")
    if layer.kind == "tconv" and layer.in_h == layer.in_w == 1:
        raise CompileError(f"layer {layer.name}: a transposed convolution of a 1x1 input (mapped as "
                           "a dense layer) is not compiled yet; pick another layer")
    return [(i, k, x.rows, x.cols, batch * x.vectors)
            for i, x in enumerate(gemms(layer, tconv="decomposed")) for k in range(x.groups)]


def layout(layer: Layer, batch: int) -> list[Region]:
    """Every GEMM group's place in the buffer (module docstring): interleaved records, then the
    weight matrices."""
    groups = layer_regions(layer, batch)
    stride = sum(2 * (r + c) for _, _, r, c, _ in groups)
    addr, weights, out = 0, stride * max(v for *_, v in groups), []
    for g, k, r, c, v in groups:
        out.append(Region(g, k, r, c, v, addr, weights, stride))
        addr, weights = addr + 2 * (r + c), weights + r * c
    return out


def tile_for(layer: Layer, cfg: HardwareConfig, *, units: int, batch: int) -> isa.TileParams:
    """The smallest tile whose buffer holds the layer's regions, with ``units`` units."""
    depth = layout(layer, batch)[-1].end
    for side in ("rows", "cols"):
        if getattr(cfg.crossbar, side) > isa.MAX_LENGTH:
            raise CompileError(f"crossbar.{side} = {getattr(cfg.crossbar, side):,}: a unit register "
                               f"holds at most {isa.MAX_LENGTH:,} values; use crossbar.{side} <= "
                               f"{isa.MAX_LENGTH:,}")
    if depth > isa.MAX_BUFFER_DEPTH:
        raise CompileError(f"layer {layer.name} with batch {batch} needs a buffer of {depth:,} values, "
                           f"more than the instruction format addresses ({isa.MAX_BUFFER_DEPTH:,}): "
                           "lower --batch")
    return isa.TileParams(units=units, buffer_depth=max(2, depth),
                          max_length=max(cfg.crossbar.rows, cfg.crossbar.cols))


def compile_layer(layer: Layer, cfg: HardwareConfig, tile: isa.TileParams, *, batch: int,
                  technique: Technique = Technique(), replication: int = 1,
                  layer_id: int = 0) -> Compiled:
    """The program that trains ``layer`` for one mini-batch of ``batch`` samples (module docstring)."""
    if cfg.tile.accounting != "rtl":
        raise CompileError(f"tile.accounting = {cfg.tile.accounting!r}: a tile program follows the RTL "
                           "schedule, not a reference simulator's accounting; use an RTL-backed "
                           "preset (e.g. panther)")
    if technique.update != "opa":
        raise CompileError(f"update = {technique.update!r}: the tile runs PANTHER's OPA updates; "
                           "use a preset with update = 'opa'")
    if not isinstance(replication, int) or replication < 1:
        raise CompileError(f"replication = {replication!r}: a positive integer")
    regions = layout(layer, batch)
    addr = regions[-1].end
    if addr > tile.buffer_depth:
        raise CompileError(f"layer {layer.name} needs a buffer of {addr:,} values; the tile has "
                           f"{tile.buffer_depth:,}: raise the buffer depth or lower --batch")
    R, C = cfg.crossbar.rows, cfg.crossbar.cols
    blocks = []
    for copy in range(replication):
        for n, reg in enumerate(regions):
            for r0 in range(0, reg.rows, R):
                for c0 in range(0, reg.cols, C):
                    blocks.append(Block(len(blocks), n, copy, r0, min(r0 + R, reg.rows),
                                        c0, min(c0 + C, reg.cols)))
    if len(blocks) > tile.units:
        fix = (f"use --units {len(blocks)} or larger crossbars" if len(blocks) <= isa.MAX_UNITS else
               f"a tile has at most {isa.MAX_UNITS}: use fewer copies or larger crossbars")
        raise CompileError(f"layer {layer.name} needs {len(blocks)} crossbar units ({len(regions)} "
                           f"GEMM groups x {replication} copies in {R} x {C} blocks); the tile has "
                           f"{tile.units}: {fix}")
    prog = _Emitter(tile, layer_id)
    prog.phase("program")
    for r in range(max(b.r1 - b.r0 for b in blocks)):       # row r of every block in turn
        for b in blocks:
            reg = regions[b.region]
            if b.r0 + r < b.r1:
                prog.add("WRITE", unit=b.unit, row=r, addr=reg.weights + (b.r0 + r) * reg.cols + b.c0,
                         length=b.c1 - b.c0)
    prog.phase("forward")
    _vector_loops(prog, regions, blocks, replication, "forward")
    if layer.needs_input_error:
        prog.phase("backward")
        _vector_loops(prog, regions, blocks, replication, "backward")
    prog.phase("gradient")
    step = technique.crs_samples or batch
    for s0 in range(0, batch, step):
        s1 = min(s0 + step, batch)
        lanes = []                       # every replica applies every OPA (module docstring)
        for n, reg in enumerate(regions):
            per = reg.vectors // batch
            lanes.append((s0 * per, (s1 - s0) * per,
                          [i for b in blocks if b.region == n for i in _body(b, reg, "gradient")]))
        prog.loops(lanes, regions[0].stride)
        if technique.crs_samples and s1 - s0 == step:
            prog.phase("crs")
            for b in blocks:
                prog.add("CRS", unit=b.unit)
            if s1 < batch:
                prog.phase("gradient")
    prog.add("SYNC", mask=(1 << len(blocks)) - 1)
    prog.add("HALT")
    return Compiled(layer, batch, tile, regions, blocks, prog.words, replication, technique.crs_samples)


def _vector_loops(prog, regions, blocks, replication, phase):
    """Forward or backward: replica ``copy`` of every group runs its share of the vectors."""
    lanes = []
    for copy in range(replication):
        for n, reg in enumerate(regions):
            lo, hi = reg.vectors * copy // replication, reg.vectors * (copy + 1) // replication
            mine = [b for b in blocks if b.region == n and b.copy == copy]
            lanes.append((lo, hi - lo, [i for b in mine for i in _body(b, reg, phase)]))
    prog.loops(lanes, regions[0].stride)


def _body(b: Block, reg: Region, phase: str) -> list[isa.Instr]:
    """The words that run one vector (record 0's addresses) through block ``b`` in ``phase``."""
    I, rows, cols = isa.Instr.make, b.r1 - b.r0, b.c1 - b.c0
    load_x = I("LOAD", unit=b.unit, reg=0, offset=0, addr=reg.base + b.r0, length=rows)
    load_e = I("LOAD", unit=b.unit, reg=1, offset=0, addr=reg.base + reg.field("e") + b.c0, length=cols)
    if phase == "forward":
        return [load_x, I("MVM", unit=b.unit),
                I("STORE", unit=b.unit, acc=1, offset=0, addr=reg.base + reg.field("y") + b.c0, length=cols)]
    if phase == "backward":
        return [load_e, I("MTVM", unit=b.unit),
                I("STORE", unit=b.unit, acc=1, offset=0, addr=reg.base + reg.field("dx") + b.r0, length=rows)]
    return [load_x, load_e, I("OPA", unit=b.unit)]


class _Emitter:
    def __init__(self, tile: isa.TileParams, layer_id: int):
        self.tile, self.layer_id, self.words = tile, layer_id, []

    def add(self, op: str, **fields) -> None:
        self.words.append(isa.Instr.make(op, **fields))

    def phase(self, name: str) -> None:
        self.add("MARK", layer=self.layer_id, phase=isa.PHASE_NAMES.index(name))

    def loops(self, lanes: list[tuple[int, int, list[isa.Instr]]], stride: int) -> None:
        """Run every lane ``(first record, records, body)`` concurrently: LOOPs whose one body
        holds the bodies of every lane with records left, each shifted to the lane's record
        (LOOPs of at most 2**16 - 1 iterations)."""
        most, done = (1 << isa.LOOP_COUNT_BITS) - 1, 0
        for end in sorted({n for _, n, body in lanes if n and body}):
            live = [(lo, body) for lo, n, body in lanes if n >= end and body]
            words = sum(len(body) for _, body in live)        # 3 per unit: at most 180 < 256
            for v0 in range(done, end, most):
                self.add("LOOP", count=min(most, end - v0), body=words, stride=stride)
                self.words.extend(i.shifted((lo + v0) * stride) for lo, body in live for i in body)
            done = end
