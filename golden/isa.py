"""The tile's instruction set: 64-bit words the operation scheduler executes (issue 13, point 2).

A tile has ``units`` crossbar units and one vector buffer of ``buffer_depth`` values. A unit
holds one logical block (``crossbar.rows`` x ``crossbar.cols``): its forward, backward and update
copies, a row-input register (``rows`` values, driven by MVM and OPA), a column-input register
(``cols`` values, driven by MTVM and OPA) and an output register (the last MVM's ``cols`` or
MTVM's ``rows`` results). Units work concurrently; an instruction naming a unit is issued to it
and the scheduler runs on, so only SYNC makes the program wait.

Every word is 64 bits: the opcode in bits 63..60, then the fields below from bit 59 down, each
as wide as :class:`TileParams` says (``u`` = unit bits, ``a`` = address bits, ``o`` = offset /
row bits, ``n`` = length bits), the rest zero.

======  ======  ==============================================  =====================================
opcode  name    fields (most significant first)                 effect
======  ======  ==============================================  =====================================
0       NOP     --                                              nothing
1       LOAD    unit u, reg 1, offset o, addr a, length n       buffer[addr:+length] -> register
                                                                ``reg`` (0 row input, 1 column input)
                                                                at ``offset``
2       STORE   unit u, acc 1, offset o, addr a, length n       output[offset:+length] -> buffer
                                                                (``acc`` 1: added to the buffer)
3       MVM     unit u                                          output = row input through the
                                                                forward copy (crossbar MVM)
4       MTVM    unit u                                          output = column input through the
                                                                backward copy (transposed MVM)
5       OPA     unit u                                          update slices += row input (x)
                                                                column input (PANTHER OPA)
6       CRS     unit u                                          carry resolution; the rounded
                                                                weights rewrite both copies
7       WRITE   unit u, row o, addr a, length n                 program one weight row of every
                                                                copy from buffer[addr:+length]
8       SYNC    mask ``units`` bits (bit k: unit k)             wait until every unit in the mask
                                                                has finished what it was issued
9       LOOP    count 16, body 8, stride a                      run the next ``body`` words
                                                                ``count`` times; iteration i adds
                                                                ``i * stride`` to their addresses
10      MARK    layer 8, phase 3                                the following words belong to
                                                                this layer and phase (accounting)
11      HALT    --                                              end of program
======  ======  ==============================================  =====================================

LOOPs do not nest (the interpreter rejects a LOOP or HALT in a body). :func:`encode` and
:func:`decode` are exact inverses on valid instructions; :func:`decode` rejects a malformed word
with one line naming the word and the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from crosstrain.golden.config import ConfigError

WORD_BITS = 64
OPCODE_BITS = 4
LOOP_COUNT_BITS = 16
LOOP_BODY_BITS = 8
LAYER_BITS = 8
PHASE_NAMES = ("forward", "backward", "gradient", "update", "crs", "writes", "program")
PHASE_BITS = 3
MAX_UNITS = WORD_BITS - OPCODE_BITS          # the SYNC mask holds one bit per unit
MAX_BUFFER_DEPTH = 1 << 24
MAX_LENGTH = 1 << 12
MAX_QUEUE_DEPTH = 64

OPCODES = ("NOP", "LOAD", "STORE", "MVM", "MTVM", "OPA", "CRS", "WRITE", "SYNC", "LOOP", "MARK", "HALT")
UNIT_OPS = ("LOAD", "STORE", "MVM", "MTVM", "OPA", "CRS", "WRITE")
ADDRESSED = ("LOAD", "STORE", "WRITE")      # the ops a LOOP's stride moves


class IsaError(ConfigError):
    """An impossible tile parameter, instruction or word; one line naming the value."""


def _bits(n: int) -> int:
    """Bits that hold every value 0 .. n-1 (at least 1)."""
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True)
class TileParams:
    """What sizes the instruction fields: the one parameter object of ISA, compiler and scheduler.

    Parameters
    ----------
    units : int
        Crossbar units in the tile, 1 .. 60 (the SYNC mask has a bit per unit).
    buffer_depth : int
        Values the tile's vector buffer holds, 2 .. 2**24.
    max_length : int
        Longest vector a unit register holds (the crossbar's larger side), 1 .. 4096.
    queue_depth : int
        Entries of each of the scheduler's queues (every unit's array-operation queue and the
        tile's STORE queue), 1 .. 64; issue waits while the queue it needs is full.
    """

    units: int
    buffer_depth: int
    max_length: int
    queue_depth: int = 4

    def __post_init__(self):
        for name, lo, hi in (("units", 1, MAX_UNITS), ("buffer_depth", 2, MAX_BUFFER_DEPTH),
                             ("max_length", 1, MAX_LENGTH), ("queue_depth", 1, MAX_QUEUE_DEPTH)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise IsaError(f"tile.{name} = {v!r} is not allowed: an integer from {lo:,} to {hi:,}",
                               (f"tile.{name}",))

    @property
    def unit_bits(self) -> int:
        return _bits(self.units)

    @property
    def addr_bits(self) -> int:
        return _bits(self.buffer_depth)

    @property
    def offset_bits(self) -> int:
        return _bits(self.max_length)

    @property
    def length_bits(self) -> int:
        return self.max_length.bit_length()

    def layout(self, op: str) -> tuple[tuple[str, int], ...]:
        """(field, width) of ``op``'s word, most significant first."""
        u, a, o, n = self.unit_bits, self.addr_bits, self.offset_bits, self.length_bits
        return {
            "LOAD": (("unit", u), ("reg", 1), ("offset", o), ("addr", a), ("length", n)),
            "STORE": (("unit", u), ("acc", 1), ("offset", o), ("addr", a), ("length", n)),
            "MVM": (("unit", u),), "MTVM": (("unit", u),), "OPA": (("unit", u),),
            "CRS": (("unit", u),),
            "WRITE": (("unit", u), ("row", o), ("addr", a), ("length", n)),
            "SYNC": (("mask", self.units),),
            "LOOP": (("count", LOOP_COUNT_BITS), ("body", LOOP_BODY_BITS), ("stride", a)),
            "MARK": (("layer", LAYER_BITS), ("phase", PHASE_BITS)),
        }.get(op, ())

    def check(self, instr: "Instr", where: str) -> None:
        """Raise :class:`IsaError` unless every field of ``instr`` is meaningful on this tile."""
        f = dict(instr.fields)

        def bad(name, why):
            raise IsaError(f"{where} ({instr.op}): field {name} = {f[name]} {why}")

        if "unit" in f and f["unit"] >= self.units:
            bad("unit", f"is not below tile.units = {self.units}")
        if "length" in f:
            if not 1 <= f["length"] <= self.max_length:
                bad("length", f"is not from 1 to max_length = {self.max_length}")
            if f["addr"] + f["length"] > self.buffer_depth:
                bad("addr", f"+ length {f['length']} runs past buffer_depth = {self.buffer_depth}")
        for name in ("offset", "row"):
            if name in f and f[name] + (f.get("length", 1) if name == "offset" else 1) > self.max_length:
                bad(name, f"runs past max_length = {self.max_length}")
        if instr.op == "SYNC" and not f["mask"]:
            bad("mask", "names no unit")
        if instr.op == "LOOP" and not (f["count"] and f["body"]):
            bad("count" if not f["count"] else "body", "must be at least 1")
        if instr.op == "MARK" and f["phase"] >= len(PHASE_NAMES):
            bad("phase", f"is not a phase (0 .. {len(PHASE_NAMES) - 1}: {', '.join(PHASE_NAMES)})")


@dataclass(frozen=True)
class Instr:
    """One instruction: its opcode name and its fields as ``(name, value)`` pairs in word order."""

    op: str
    fields: tuple[tuple[str, int], ...] = ()

    @classmethod
    def make(cls, op: str, **values: int) -> "Instr":
        return cls(op, tuple(values.items()))

    def __getitem__(self, name: str) -> int:
        return dict(self.fields)[name]

    def shifted(self, by: int) -> "Instr":
        """This instruction with ``by`` added to its buffer address (a LOOP iteration)."""
        if self.op not in ADDRESSED or not by:
            return self
        return Instr(self.op, tuple((k, v + by if k == "addr" else v) for k, v in self.fields))

    def text(self) -> str:
        """The listing form, e.g. ``LOAD unit=3 reg=0 offset=0 addr=128 length=64``."""
        return " ".join([self.op] + [f"{k}={v}" for k, v in self.fields])


def encode(instr: Instr, tile: TileParams) -> int:
    """The 64-bit word of ``instr``; :class:`IsaError` if it is not valid on ``tile``."""
    if instr.op not in OPCODES:
        raise IsaError(f"unknown instruction {instr.op!r}: use one of {', '.join(OPCODES)}")
    layout = tile.layout(instr.op)
    names = [n for n, _ in layout]
    if [n for n, _ in instr.fields] != names:
        raise IsaError(f"{instr.text()}: {instr.op} takes the fields {', '.join(names) or 'none'}, "
                       "in that order")
    word, pos = OPCODES.index(instr.op) << (WORD_BITS - OPCODE_BITS), WORD_BITS - OPCODE_BITS
    for (name, width), (_, value) in zip(layout, instr.fields):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << width:
            raise IsaError(f"{instr.text()}: field {name} = {value!r} does not fit {width} bits")
        pos -= width
        word |= value << pos
    tile.check(instr, instr.text())
    return word


def decode(word: int, tile: TileParams) -> Instr:
    """The instruction of a 64-bit word; :class:`IsaError` naming the word and field if malformed
    (unknown opcode, nonzero unused bits, a field out of range for ``tile``)."""
    where = f"word 0x{word:016x}" if isinstance(word, int) and 0 <= word < 1 << WORD_BITS else None
    if where is None:
        raise IsaError(f"word {word!r} is not a 64-bit unsigned integer")
    code = word >> (WORD_BITS - OPCODE_BITS)
    if code >= len(OPCODES):
        raise IsaError(f"{where}: field opcode = {code} is not an opcode (0 .. {len(OPCODES) - 1})")
    op = OPCODES[code]
    pos, values = WORD_BITS - OPCODE_BITS, []
    for name, width in tile.layout(op):
        pos -= width
        values.append((name, (word >> pos) & ((1 << width) - 1)))
    if word & ((1 << pos) - 1):
        raise IsaError(f"{where} ({op}): unused bits {pos - 1}..0 are not zero")
    instr = Instr(op, tuple(values))
    tile.check(instr, where)
    return instr


def executed(program) -> dict[str, int]:
    """Instructions per opcode a program executes (LOOP bodies counted ``count`` times, up to
    the first HALT), worked out without running it."""
    out: dict[str, int] = {}
    program, pc = list(program), 0
    while pc < len(program):
        ins = program[pc]
        out[ins.op] = out.get(ins.op, 0) + 1
        if ins.op == "HALT":
            break
        if ins.op == "LOOP":
            for b in program[pc + 1:pc + 1 + ins["body"]]:
                out[b.op] = out.get(b.op, 0) + ins["count"]
            pc += ins["body"]
        pc += 1
    return out


def assemble(program, tile: TileParams) -> bytes:
    """Little-endian 64-bit words of a sequence of instructions (the program file)."""
    return b"".join(encode(i, tile).to_bytes(8, "little") for i in program)


def disassemble(data: bytes, tile: TileParams) -> list[Instr]:
    """The instructions of a program file (:func:`assemble`'s inverse)."""
    if len(data) % 8:
        raise IsaError(f"program of {len(data)} bytes is not a whole number of 8-byte words")
    return [decode(int.from_bytes(data[i:i + 8], "little"), tile) for i in range(0, len(data), 8)]
