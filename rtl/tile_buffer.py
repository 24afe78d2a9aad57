"""The tile's vector buffer: ``depth`` signed values in banked block RAM, a whole vector read or
written per cycle at any address."""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.config import ConfigError

#: Widest buffer value (golden's buffer holds int64).
MAX_VALUE_BITS = 64


def bank_count(lanes: int) -> int:
    """Banks of a buffer that moves ``lanes`` values per access: the power of two at or above."""
    return 1 << max(0, (lanes - 1).bit_length())


class TileBuffer(wiring.Component):
    """``depth`` values of ``value_bits`` (signed) in ``bank_count(lanes)`` interleaved
    ``amaranth.lib.memory`` banks (value ``a`` in bank ``a mod banks``, word ``a // banks``), so
    any ``lanes`` consecutive values are one word of each bank.

    Every access names a ``base`` address; its lane ``i`` is value ``base + i``. ``base`` is
    signed: lanes before address 0 or past the last value read nothing useful and must not be
    written (``mask``).

    - ``rd``: ``data`` holds lanes ``base ..`` the cycle after ``en`` (a block-RAM read; held
      while ``en`` is low); it does not see a write of the same cycle.
    - ``rmw``: as ``rd`` but it does see a write of the same cycle (the read-modify-write of a
      STORE that follows another).
    - ``wr``: writes the lanes set in ``mask`` at the end of the cycle.

    Parameters
    ----------
    depth : int
        Values held (the tile's ``buffer_depth``).
    lanes : int
        Values per access (the tile's ``max_length``).
    value_bits : int
        Width of a signed value, 1 .. 64.
    init : sequence of int, optional
        The values after configuration (``depth`` of them; default all zero).

    Members
    -------
    rd, rmw : In(read port): ``en``, ``base`` (signed) in; ``data`` (``lanes`` values) out.
    wr : In(write port): ``base``, ``mask`` (``lanes`` bits), ``data`` (``lanes`` values).
    """

    def __init__(self, *, depth: int, lanes: int, value_bits: int, init=None):
        for name, v, lo, hi in (("depth", depth, 1, 1 << 24), ("lanes", lanes, 1, 4096),
                                ("value_bits", value_bits, 1, MAX_VALUE_BITS)):
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ConfigError(f"{name} = {v!r} is not allowed: an integer from {lo} to {hi}")
        init = [0] * depth if init is None else [int(v) for v in init]
        if len(init) != depth:
            raise ConfigError(f"init holds {len(init)} values, not depth = {depth}")
        top = 1 << (value_bits - 1)
        bad = [v for v in init if not -top <= v < top]
        if bad:
            raise ConfigError(f"init value {bad[0]} does not fit value_bits = {value_bits} (signed)")
        self._depth, self._lanes, self._bits = depth, lanes, value_bits
        self._banks = bank_count(lanes)
        rows = -(-depth // self._banks)
        self.memories = [memory.Memory(shape=signed(value_bits), depth=rows,
                                       init=[init[a] if a < depth else 0
                                             for a in range(j, rows * self._banks, self._banks)])
                         for j in range(self._banks)]
        vec = data.ArrayLayout(signed(value_bits), lanes)
        base = signed(max(1, depth - 1).bit_length() + max(1, lanes).bit_length() + 1)
        read = wiring.Signature({"en": Out(1), "base": Out(base), "data": In(vec)})
        super().__init__({
            "rd": In(read),
            "rmw": In(read),
            "wr": In(wiring.Signature({"base": Out(base), "mask": Out(lanes), "data": Out(vec)})),
        })

    @property
    def banks(self) -> int:
        return self._banks

    def elaborate(self, platform):
        m = Module()
        banks = self._banks
        k = (banks - 1).bit_length()
        for j, mem in enumerate(self.memories):
            m.submodules[f"bank{j}"] = mem

        def rows_of(base):
            """Word of bank ``j`` that holds the lane landing in it, and the bank of lane 0."""
            shift = base[:k] if k else 0
            row = base >> k
            return [row + (j < shift) if j < banks - 1 else row for j in range(banks)], shift

        writes = [mem.write_port() for mem in self.memories]
        for port, transparent in ((self.rd, False), (self.rmw, True)):
            reads = [mem.read_port(transparent_for=(w,) if transparent else ())
                     for mem, w in zip(self.memories, writes)]
            rows, shift = rows_of(port.base)
            held = Signal(range(banks))
            with m.If(port.en):
                m.d.sync += held.eq(shift)
            for r, row in zip(reads, rows):
                m.d.comb += [r.addr.eq(row), r.en.eq(port.en)]
            out = Array(r.data for r in reads)
            for i in range(self._lanes):
                m.d.comb += port.data[i].eq(out[(held + i)[:k]] if k else reads[0].data)

        rows, shift = rows_of(self.wr.base)
        lanes_in = Array(self.wr.data[i] for i in range(self._lanes))
        mask_in = self.wr.mask
        for j, (w, row) in enumerate(zip(writes, rows)):
            lane = (j - shift)[:k] if k else 0
            in_range = lane < self._lanes if self._lanes < banks else 1
            m.d.comb += [w.addr.eq(row), w.data.eq(lanes_in[lane]),
                         w.en.eq(in_range & mask_in.bit_select(lane, 1))]
        return m
