"""Event counters that the roll-up turns into energy and the write model into wear."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class Events:
    """Counts of hardware events; add two with ``+``, accumulate with ``+=``.

    array_steps      analog read steps of one physical array (row drive + sample)
    dac_conversions  row DAC activations (rows x steps x arrays; idle rows included)
    adc_conversions  column (or row, for transposed MVM) conversions
    adc_clipped      conversions that saturated at the top code
    shift_adds       ADC codes accumulated by the shift-and-add
    opa_phases       polarity phases of outer-product updates, per physical array (time)
    opa_steps        row-bit steps of outer-product updates, per physical array (energy: the
                     4 polarity phases of a step split its cells, each pulsed at most once)
    opa_saturated    update-slice cells that hit a headroom limit
    crs_ops          carry resolutions of one logical block
    cell_writes      cells programmed (weights, carry-resolved slices)
    rows_written     row programming operations (cells of a row are written in parallel)
    """

    array_steps: int = 0
    dac_conversions: int = 0
    adc_conversions: int = 0
    adc_clipped: int = 0
    shift_adds: int = 0
    opa_phases: int = 0
    opa_steps: int = 0
    opa_saturated: int = 0
    crs_ops: int = 0
    cell_writes: int = 0
    rows_written: int = 0

    def __iadd__(self, other: "Events") -> "Events":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def __add__(self, other: "Events") -> "Events":
        out = Events(**asdict(self))
        out += other
        return out

    def as_dict(self) -> dict:
        return asdict(self)
