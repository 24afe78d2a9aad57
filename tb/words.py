"""Whole vectors to and from port words: numpy arrays <-> one Python int per port, element 0 in
the low bits (one conversion per vector per cycle, never per-bit handle accesses)."""

from __future__ import annotations

import numpy as np


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
