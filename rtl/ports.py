"""What the periphery's ports share: the flow signature (a stream without ``ready``) and the one
layout of ADC codes.

The named port signatures are beside the components that own them:
:class:`crosstrain.rtl.adc_sequencer.MvmPortSignature` (the MVM crossbar port),
:class:`crosstrain.rtl.opa_driver.UpdatePortSignature` (OPA pulses),
:class:`crosstrain.rtl.crs_unit.CrsPortSignature` (CRS reads and writes) and
:class:`crosstrain.rtl.crossbar_unit.CrossbarPortSignature` (the tile top's port, built from
those three).
"""

from __future__ import annotations

from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out


class FlowSignature(wiring.Signature):
    """A word in every cycle ``valid`` is high, with no back-pressure: ``valid`` and ``payload``
    (``Out``, from the producer).

    This is ``stream.Signature(shape, always_ready=True)`` written down: in an interface that
    signature makes ``ready`` the constant 1, and a constant cannot be a port of a top-level
    component (Amaranth: "Only signals and IO ports may be added as ports"), so a block with
    such a port would not export to Verilog on its own. Here there is no ``ready`` at all.
    """

    def __init__(self, payload_shape):
        self.payload_shape = payload_shape
        super().__init__({"valid": Out(1), "payload": Out(payload_shape)})

    def __eq__(self, other):
        return type(other) is FlowSignature and other.payload_shape == self.payload_shape

    def __repr__(self):
        return f"FlowSignature({self.payload_shape!r})"


def codes_layout(p, arrays: int) -> data.ArrayLayout:
    """ADC codes of one conversion cycle of ``arrays`` arrays, indexed ``[array][adc]``
    (``adcs_per_array`` ADCs of ``adc_bits`` each): array ``k``'s ADC ``a`` at bits
    ``[(k * adcs_per_array + a) * adc_bits, ...)``. The one layout of ``codes`` on every port
    (slice arrays of an MVM, update slices of a CRS)."""
    return data.ArrayLayout(data.ArrayLayout(p.adc_bits, p.adcs_per_array), arrays)
