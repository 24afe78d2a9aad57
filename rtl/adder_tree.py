"""A balanced adder tree, optionally pipelined."""

from __future__ import annotations

from amaranth.hdl import Signal


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
