"""A self-checking top for FPGA prototyping: a :class:`~crosstrain.rtl.tile.Tile` replays a stored
program from ROM, then its buffer is compared with golden values stored beside it; ``passed`` /
``failed`` / ``done`` go to pins (docs/fpga.md)."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import Out

from crosstrain.golden import interpreter, isa
from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import PeripheryParams, check_params
from crosstrain.rtl.tile import Tile, check_tile

#: Input vectors per unit in :func:`demo_program` (x, d, x2, d2) and outputs stored (3).
DEMO_INPUTS, DEMO_OUTPUTS = 4, 3


def demo_program(p: PeripheryParams, tile: isa.TileParams, *, seed: int = 1):
    """A training step on every unit: ``(program, weights, buffer)``.

    Unit ``k``'s inputs are ``x, d, x2, d2`` (``max_length`` values each) from address
    ``4 * max_length * k``; its program is LOAD x and d, MVM, STORE, MTVM, STORE, LOAD x2 and d2,
    OPA, CRS, LOAD x, MVM, STORE, the three outputs from ``4 * max_length * units``; HALT after
    the last unit's. Inputs are random over the whole signed range of ``input_bits``, weights
    over that of ``weight_bits``, both from ``seed``. Needs ``buffer_depth >= 7 * max_length * units``.
    """
    n, L = tile.units, tile.max_length
    need = (DEMO_INPUTS + DEMO_OUTPUTS) * L * n
    if tile.buffer_depth < need:
        raise ConfigError(f"isa.buffer_depth = {tile.buffer_depth} is too small for the self-check "
                          f"program on {n} units of max_length {L}: use at least {need}")
    rng = np.random.default_rng(seed)
    top = 1 << (p.input_bits - 1)
    buf = np.zeros(tile.buffer_depth, np.int64)
    buf[:DEMO_INPUTS * L * n] = rng.integers(-top, top, DEMO_INPUTS * L * n)
    wtop = 1 << (p.weight_bits - 1)
    weights = [rng.integers(-wtop, wtop, (p.rows, p.cols)) for _ in range(n)]
    I = isa.Instr.make
    prog = []
    for k in range(n):
        x, out = DEMO_INPUTS * L * k, DEMO_INPUTS * L * n + DEMO_OUTPUTS * L * k
        prog += [I("LOAD", unit=k, reg=0, offset=0, addr=x, length=p.rows),
                 I("LOAD", unit=k, reg=1, offset=0, addr=x + L, length=p.cols),
                 I("MVM", unit=k), I("STORE", unit=k, acc=0, offset=0, addr=out, length=p.cols),
                 I("MTVM", unit=k), I("STORE", unit=k, acc=0, offset=0, addr=out + L, length=p.rows),
                 I("LOAD", unit=k, reg=0, offset=0, addr=x + 2 * L, length=p.rows),
                 I("LOAD", unit=k, reg=1, offset=0, addr=x + 3 * L, length=p.cols),
                 I("OPA", unit=k), I("CRS", unit=k),
                 I("LOAD", unit=k, reg=0, offset=0, addr=x, length=p.rows),
                 I("MVM", unit=k), I("STORE", unit=k, acc=0, offset=0, addr=out + 2 * L, length=p.cols)]
    return prog + [I("HALT")], weights, buf


class SelfCheckTop(wiring.Component):
    """A :class:`~crosstrain.rtl.tile.Tile` that runs ``program`` from a ROM, then compares its
    whole buffer with :func:`crosstrain.golden.interpreter.run`'s, word by word from a second ROM
    (both ROMs built at construction).

    Timing: the program's words are offered back to back from the first cycle after reset (an
    asynchronous ROM read), as the tile's amaranth.sim test offers them, so the tile's ``done``
    must rise exactly at the interpreter's cycle count ``golden_cycles`` (checked: a different
    cycle fails, and so does a tile not done by then: ``done`` then rises the cycle after). The
    comparison then reads one row of the buffer's banks per cycle, ``rows =
    ceil(buffer_depth / banks)`` rows, each compared the cycle after its read; ``done`` rises
    at cycle ``golden_cycles + rows + 2`` (cycle 0 the first after reset) and holds, with
    exactly one of ``passed`` / ``failed``. ``failed`` means a value differs, the cycle count
    differs, or the tile raised ``error``.

    The comparison reads the buffer through one extra read port on each of the tile's buffer
    banks (``tile.buffer.memories``), added here: the tile itself is unchanged.

    Parameters
    ----------
    params, tile, value_bits
        The tile's (:class:`~crosstrain.rtl.tile.Tile`).
    program : sequence of crosstrain.golden.isa.Instr, optional
        With ``weights`` and ``buffer`` (the units' blocks and the buffer before the program);
        default :func:`demo_program` of ``seed``.
    seed : int
        The default program's values.

    Members
    -------
    passed, failed, done : Out(1)
        The check's result (``passed`` and ``failed`` are low until ``done``).
    """

    def __init__(self, *, params: PeripheryParams, tile: isa.TileParams, value_bits: int = 0,
                 program=None, weights=None, buffer=None, seed: int = 1):
        p, t = check_params(params), check_tile(tile)
        if program is None:
            program, weights, buffer = demo_program(p, t, seed=seed)
        program = list(program)
        self.words = [isa.encode(i, t) for i in program]
        self.golden = interpreter.run(program, t, p.cfg, buffer, weights=weights)
        self.tile = Tile(params=p, tile=t, value_bits=value_bits, weights=weights, init=buffer)
        bits = self.tile.buffer.memories[0].shape.width
        wide = [v for v in self.golden.buffer if not -(1 << (bits - 1)) <= v < 1 << (bits - 1)]
        if wide:
            raise ConfigError(f"golden buffer value {wide[0]} does not fit the tile's {bits}-bit values: "
                              "raise periphery.value_bits or use smaller inputs")
        banks = self.tile.buffer.banks
        self.rows = -(-t.buffer_depth // banks)
        padded = np.zeros(self.rows * banks, np.int64)
        padded[:t.buffer_depth] = self.golden.buffer
        mask = (1 << bits) - 1
        self.expected = memory.Memory(
            shape=banks * bits, depth=self.rows,
            init=[sum((int(v) & mask) << (bits * j) for j, v in enumerate(padded[r * banks:(r + 1) * banks]))
                  for r in range(self.rows)])
        self.program = memory.Memory(shape=isa.WORD_BITS, depth=len(self.words), init=self.words)
        self.reads = [m.read_port() for m in self.tile.buffer.memories]
        self.golden_cycles = self.golden.cycles
        super().__init__({"passed": Out(1), "failed": Out(1), "done": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.tile = tile = self.tile
        m.submodules.program = self.program
        m.submodules.expected = self.expected
        t, banks, bits = tile.tile, tile.buffer.banks, self.tile.buffer.memories[0].shape.width
        n = len(self.words)

        # ---- the program: word k offered from the ROM while k < n -------------------------
        rom = self.program.read_port(domain="comb")
        k = Signal(range(n + 1))
        m.d.comb += [rom.addr.eq(k), tile.instr.payload.eq(rom.data), tile.instr.valid.eq(k < n)]
        with m.If(tile.instr.valid & tile.instr.ready):
            m.d.sync += k.eq(k + 1)

        # ---- the check --------------------------------------------------------------------
        exp = self.expected.read_port()
        cycle = Signal(range(self.golden_cycles + 1))
        bad = Signal()
        row = Signal(range(self.rows + 1))           # the row read this cycle
        last = Signal(range(self.rows))              # the row whose data is out this cycle
        compare = Signal()                           # that data is out
        for port in (exp, *self.reads):
            m.d.comb += [port.addr.eq(row), port.en.eq(1)]
        checking, finished = Signal(), Signal()
        with m.If(~checking & ~finished):            # the program runs
            with m.If(tile.done):
                m.d.sync += [bad.eq(tile.error | (cycle != self.golden_cycles)), checking.eq(1)]
            with m.Elif(cycle == self.golden_cycles):   # not done when golden is: failed
                m.d.sync += [bad.eq(1), finished.eq(1)]
            with m.Else():
                m.d.sync += cycle.eq(cycle + 1)
        with m.If(checking):
            m.d.sync += [last.eq(row), compare.eq(row < self.rows)]
            with m.If(row < self.rows):
                m.d.sync += row.eq(row + 1)
            with m.Else():                           # the last row's data is compared now
                m.d.sync += [checking.eq(0), finished.eq(1)]
        m.d.comb += [self.done.eq(finished), self.passed.eq(finished & ~bad),
                     self.failed.eq(finished & bad)]
        differs = []
        for j, port in enumerate(self.reads):
            want = exp.data[bits * j:bits * (j + 1)]
            same = port.data.as_unsigned() == want
            if (self.rows - 1) * banks + j >= t.buffer_depth:     # past the buffer in the last row
                same = same | (last == self.rows - 1)
            differs.append(~same)
        with m.If(compare & Cat(*differs).any()):
            m.d.sync += bad.eq(1)
        return m
