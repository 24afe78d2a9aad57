"""Register copies that synthesis keeps apart: one high-fanout net split into several."""

from __future__ import annotations

from amaranth.hdl import Signal, Value


def copies(m, value, n: int, *, name: str, enable=1, init=0) -> list:
    """``n`` registers that each hold what one register loading ``value`` when ``enable`` would
    hold (reset to ``init``), so that each drives a part of the logic one register would.

    Identical registers would be merged back into one by Yosys (``opt_merge``): each copy loads
    only a changed value, so its load enable depends on its own bits and no two copies are the
    same cell. Timing as the one register: a load is seen in the next cycle.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative integer, not {n!r}")
    out = []
    for k in range(n):
        r = Signal(value.shape(), init=init, name=f"{name}_copy{k}", attrs={"keep": 1})
        with m.If(enable & (Value.cast(value) != Value.cast(r))):
            m.d.sync += r.eq(value)
        out.append(r)
    return out
