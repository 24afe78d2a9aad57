"""Verilog export: ports past Amaranth 0.5's cell width are one line before any work."""

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from crosstrain.golden.config import ConfigError
from crosstrain.rtl.export import MAX_INPUT_BITS, MAX_SIGNAL_BITS, verilog_text

# a component refused before its export is never elaborated
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


class Wires(wiring.Component):
    """Inputs ``a`` and ``b``, output ``c`` registered from ``a``."""

    def __init__(self, a, b, c):
        super().__init__({"a": In(a), "b": In(b), "c": Out(c)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.c.eq(self.a ^ self.b)
        return m


@pytest.mark.parametrize("widths, needle", [
    ((8, 8, MAX_SIGNAL_BITS + 1), "port c is 65,537 bits wide (at most 65,536)"),
    ((40_000, 40_000, 8), "its inputs total 80,002 bits with clk and rst (at most 65,534)"),
    ((32_767, 32_767, 8), "its inputs total 65,536 bits"),
])
def test_too_wide_ports_are_one_line(widths, needle):
    with pytest.raises(ConfigError) as e:
        verilog_text(Wires(*widths), "wires")
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_ports_at_the_limit_export():
    # every input together: a, b, clk and rst
    text = verilog_text(Wires(MAX_INPUT_BITS // 2 - 1, MAX_INPUT_BITS // 2 - 1, MAX_SIGNAL_BITS), "wires")
    assert f"output [{MAX_SIGNAL_BITS - 1}:0] c;" in text
