"""Port words: whole vectors to and from one Python int per port, element 0 in the low bits (one
conversion per vector per transfer, never per-bit handle accesses).

:func:`pack` / :func:`unpack` move numpy vectors of equal-width fields; :class:`Codec` packs and
unpacks a whole payload of an Amaranth shape (``data.StructLayout`` / ``data.ArrayLayout`` /
plain or enum shapes), the same layout object the RTL declares its port with, so no bench
restates a field's offset or width.
"""

from __future__ import annotations

import enum

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data


def pack(values, width: int) -> int:
    """Integers (two's complement when negative) as one word of ``width``-bit fields."""
    v = np.asarray(values, dtype=np.int64).ravel()
    if not v.size:
        return 0
    u = v.astype("<u8")
    bits = np.unpackbits(u.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")[:, :width]
    return int.from_bytes(np.packbits(bits.ravel(), bitorder="little").tobytes(), "little")


def unpack(word: int, n: int, width: int, *, signed: bool = False) -> np.ndarray:
    """``n`` fields of ``width`` (<= 62) bits of ``word`` (element 0 in the low bits) as int64."""
    if width > 62:
        raise ValueError(f"fields of {width} bits do not fit int64")
    nbytes = (n * width + 7) // 8
    bits = np.unpackbits(np.frombuffer(int(word).to_bytes(nbytes, "little"), np.uint8),
                         bitorder="little")[:n * width].reshape(n, width).astype(np.int64)
    v = bits @ (np.int64(1) << np.arange(width, dtype=np.int64))
    return v - (bits[:, -1] << width) if signed else v


def _flat_array(layout):
    """``(count, element Shape, dims)`` of an ArrayLayout nest whose innermost elements are a plain
    shape, else None."""
    dims = []
    while isinstance(layout, data.ArrayLayout):
        dims.append(layout.length)
        layout = layout.elem_shape
    if isinstance(layout, (data.Layout, type)):
        return None
    return int(np.prod(dims)), Shape.cast(layout), tuple(dims)


class Codec:
    """Packs and unpacks payloads of the Amaranth ``shape`` as ints.

    - ``data.StructLayout``: a dict of fields (missing fields pack as 0), unpacked to a dict;
    - ``data.ArrayLayout`` of plain elements (nested arrays too): an array-like, shorter than the
      layout allowed (zero-padded; e.g. ``x`` of ``rows`` lines in a ``max(rows, cols)`` port),
      unpacked to an int64 ``ndarray`` of the layout's dimensions (signed elements sign-extended);
    - a plain shape: an int (signed ones sign-extended on unpack); an enum: a member or an int,
      unpacked to the member.
    """

    def __init__(self, shape):
        self.shape = shape
        self.width = Shape.cast(shape).width
        self._fields = None
        self._array = None
        if isinstance(shape, data.StructLayout):
            self._fields = [(name, f.offset, Codec(f.shape)) for name, f in shape]
        elif isinstance(shape, data.ArrayLayout):
            self._array = _flat_array(shape)
            if self._array is None:
                raise TypeError(f"{shape!r}: arrays of structures are not supported")
        self._enum = shape if isinstance(shape, type) and issubclass(shape, enum.Enum) else None
        plain = Shape.cast(shape)
        self._signed = plain.signed and self._fields is None and self._array is None

    def pack(self, value) -> int:
        if self._fields is not None:
            word = 0
            for name, offset, codec in self._fields:
                if name in value and value[name] is not None:
                    word |= codec.pack(value[name]) << offset
            unknown = set(value) - {name for name, _, _ in self._fields}
            if unknown:
                raise KeyError(f"no field {sorted(unknown)[0]!r} in {self.shape!r}")
            return word
        if self._array is not None:
            count, elem, _ = self._array
            v = np.asarray(value, dtype=np.int64).ravel()
            if v.size > count:
                raise ValueError(f"{v.size} values for {count} elements of {self.shape!r}")
            return pack(v, elem.width)
        v = value.value if isinstance(value, enum.Enum) else int(value)
        return v & ((1 << self.width) - 1)

    def unpack(self, word: int):
        if self._fields is not None:
            return {name: codec.unpack((word >> offset) & ((1 << codec.width) - 1))
                    for name, offset, codec in self._fields}
        if self._array is not None:
            count, elem, dims = self._array
            return unpack(word, count, elem.width, signed=elem.signed).reshape(dims)
        if self._enum is not None:
            return self._enum(word)
        if self._signed and word >> (self.width - 1):
            return word - (1 << self.width)
        return word
