"""A balanced adder tree, optionally pipelined."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Signal


def tree_sum(values, *, m=None, stages: int = 0, name: str = "tree"):
    """Sum of ``values`` as a balanced adder tree (widths grow one bit per level).

    With ``stages`` (and the module ``m``), that many free-running ``sync`` registers split the
    tree's levels into ``stages + 1`` near-equal parts (with more stages than levels, some
    registers follow one another): the result is the sum of the values ``stages`` cycles
    earlier. Without, it is combinational.
    """
    if not isinstance(stages, int) or isinstance(stages, bool) or stages < 0:
        raise ValueError(f"stages must be a non-negative integer, not {stages!r}")
    if stages and m is None:
        raise ValueError("a pipelined tree needs the module m for its registers")
    terms = list(values)
    depth = (len(terms) - 1).bit_length()                     # adder levels
    cuts = [(k + 1) * depth // (stages + 1) for k in range(stages)]
    level = 0
    while True:
        for _ in range(cuts.count(level)):                    # registers after this level
            regs = [Signal(t.shape(), name=f"{name}_l{level}_{k}") for k, t in enumerate(terms)]
            m.d.sync += [r.eq(t) for r, t in zip(regs, terms)]
            terms = regs
        if len(terms) == 1:
            return terms[0]
        terms = [terms[k] + terms[k + 1] if k + 1 < len(terms) else terms[k]
                 for k in range(0, len(terms), 2)]
        level += 1


def count_ones(bits):
    """The number of set bits of ``bits`` (1-bit values), combinational: each 4 bits' count
    as logic (every bit of it a function of the 4 bits: one LUT4 on an FPGA), then a
    :func:`tree_sum` of those counts, two adder levels fewer than a tree of single bits."""
    bits = list(bits)
    counts = []
    for lo in range(0, len(bits), 4):
        a, b, c, d = (bits[lo:lo + 4] + [C(0, 1)] * 3)[:4]
        # a + b + c + d = 4 * (ab & cd) + 2 * (ab ^ cd ^ ((a ^ b) & (c ^ d))) + (a ^ b ^ c ^ d)
        pairs = (a & b, c & d, (a ^ b) & (c ^ d))
        counts.append(Cat(a ^ b ^ c ^ d, pairs[0] ^ pairs[1] ^ pairs[2], pairs[0] & pairs[1]))
    return tree_sum(counts)
