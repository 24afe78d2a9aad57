"""Verilog export of an RTL component, the same text for ``crosstrain verilog``, the lint and
synthesis tests and the cocotb benches."""

from __future__ import annotations

from amaranth.back import verilog


def verilog_text(component, name: str) -> str:
    """Deterministic Verilog for ``component`` with top module ``name`` (no source paths, stable
    across runs)."""
    return verilog.convert(component, name=name, emit_src=False)
