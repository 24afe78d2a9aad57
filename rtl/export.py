"""Verilog export of an RTL component, the same text for ``crosstrain verilog``, the lint and
synthesis tests and the cocotb benches."""

from __future__ import annotations

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib.wiring import In

from crosstrain.golden.config import ConfigError

#: Amaranth 0.5's netlist numbers the bits of a cell in 16 bits, so a driven signal has at most
#: 2**16 bits, and all inputs of the top module together (one cell, clock and reset included)
#: at most 2**16 - 2 (found by exporting with amaranth 0.5.10: 65,534 input bits export, 65,535
#: fail inside the netlist builder).
MAX_SIGNAL_BITS = 1 << 16
MAX_INPUT_BITS = (1 << 16) - 2


def check_port_widths(component, name: str) -> None:
    """One-line :class:`ConfigError` when ``component``'s ports exceed what Amaranth can build
    (:data:`MAX_SIGNAL_BITS` per port, :data:`MAX_INPUT_BITS` for the inputs together, counting
    clock and reset): checked before the export, which would fail deep inside Amaranth after
    minutes of work."""
    ins, widest = 2, (0, "")                             # clk and rst
    for path, member, _ in component.signature.flatten(component):
        width = Shape.cast(member.shape).width
        ins += width if member.flow == In else 0
        widest = max(widest, (width, ".".join(map(str, path))))
    width, port = widest
    if width > MAX_SIGNAL_BITS:
        what = f"port {port} is {width:,} bits wide (at most {MAX_SIGNAL_BITS:,})"
    elif ins > MAX_INPUT_BITS:
        what = f"its inputs total {ins:,} bits with clk and rst (at most {MAX_INPUT_BITS:,})"
    else:
        return
    raise ConfigError(f"{name}: {what}, more than Amaranth 0.5 can build: lower rows / cols or the "
                      "element widths")


def verilog_text(component, name: str) -> str:
    """Deterministic Verilog for ``component`` with top module ``name`` (no source paths, stable
    across runs); ports wider than Amaranth can build are a one-line :class:`ConfigError`."""
    check_port_widths(component, name)
    return verilog.convert(component, name=name, emit_src=False)
