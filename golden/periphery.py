"""The one parameter object of the crossbar periphery RTL, its benches and its Verilog export.

:class:`PeripheryParams` wraps a :class:`~crosstrain.golden.config.HardwareConfig` (so the golden model,
the cycle model and the RTL read the very same numbers) and adds the widths the digital
periphery needs. :func:`periphery_params` builds it from a preset and typed ``section.field``
overrides (``crosstrain verilog BLOCK --set crossbar.rows=16`` parses the command line into
those); every impossible value raises :class:`~crosstrain.golden.config.ConfigError` with one
line naming the parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from crosstrain.golden import config
from crosstrain.golden.config import ConfigError, HardwareConfig
from crosstrain.golden.cycles import mvm_schedule, opa_phase_cycles, write_row_cycles
from crosstrain.golden.userinput import shown

DEFAULT_PRESET = "panther"


#: The range of each configuration field the periphery RTL is built for (the configuration
#: itself allows more). Beyond it no design is meant, and its export would not finish, so
#: :class:`PeripheryParams` refuses it.
RTL_LIMITS = {
    # every vector port is rows or cols lines wide: 32x the 128-line arrays of every preset, and
    # fabricated ReRAM crossbars stay at or below 1024 lines (IR drop, sneak paths) [assumption]
    "crossbar.rows": (1, 4096),
    "crossbar.cols": (1, 4096),
    # register stages after the last code (the shift-and-add needs 2): each stage holds a whole
    # conversion record, and 64 is far beyond any adder depth of the periphery (12 levels for
    # 4096 lines)
    "tile.pipeline_cycles": (0, 64),
}
#: Widest signed output element: the configuration keeps exact MVM sums within int64, so
#: :attr:`PeripheryParams.min_out_width` stays far below this.
MAX_OUT_WIDTH = 128


@dataclass(frozen=True)
class PeripheryParams:
    """Sizes, widths and cycle counts of one crossbar's digital periphery.

    Parameters
    ----------
    cfg : HardwareConfig
        The accelerator configuration (lossless ADC mode is not required: the RTL clips exactly
        as :func:`crosstrain.golden.crossbar.adc` does).
    out_width : int
        Width of a signed output element; 0 (default) means :attr:`min_out_width`
        (``periphery.out_width`` on the command line).
    """

    cfg: HardwareConfig
    out_width: int = 0

    def __post_init__(self):
        if self.cfg.tile.accounting != "rtl":
            raise ConfigError(f"tile.accounting = {shown(self.cfg.tile.accounting)} is not allowed in "
                              "RTL: it is a reference simulator's accounting, not a schedule the RTL "
                              "runs; use an RTL-backed preset (accounting = \"rtl\", e.g. panther)")
        for path, (low, high) in RTL_LIMITS.items():
            section, name = path.split(".")
            value = getattr(getattr(self.cfg, section), name)
            if not low <= value <= high:
                raise ConfigError(f"{path} = {value!r} is not allowed in RTL: {low} to {high}")
        if (isinstance(self.out_width, bool) or not isinstance(self.out_width, int)
                or not 0 <= self.out_width <= MAX_OUT_WIDTH):
            raise ConfigError(f"out_width = {self.out_width!r} is not allowed: 0 (the width the "
                              f"outputs need) up to {MAX_OUT_WIDTH}")
        if self.cfg.converters.adc_lsb != 1.0:
            raise ConfigError(f"converters.adc_lsb = {self.cfg.converters.adc_lsb!r} is not allowed "
                              "in RTL: the periphery adds integer codes, use 1.0")
        need = self.min_out_width
        if self.out_width == 0:
            object.__setattr__(self, "out_width", need)
        elif self.out_width < need:
            raise ConfigError(f"out_width = {self.out_width} is too narrow: the output path needs "
                              f"{need} bits for adc_bits={self.adc_bits}, rows={self.cfg.crossbar.rows}, "
                              f"weight_bits={self.weight_bits}, input_bits={self.input_bits}")

    # ---- sizes -------------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return self.cfg.crossbar.rows

    @property
    def cols(self) -> int:
        return self.cfg.crossbar.cols

    @property
    def encoding(self) -> str:
        return self.cfg.crossbar.encoding

    @property
    def bits_per_cell(self) -> int:
        return self.cfg.device.bits_per_cell

    @property
    def weight_bits(self) -> int:
        return self.cfg.precision.weight_bits

    @property
    def input_bits(self) -> int:
        return self.cfg.precision.input_bits

    @property
    def dac_bits(self) -> int:
        return self.cfg.converters.dac_bits

    @property
    def adc_bits(self) -> int:
        return self.cfg.converters.adc_bits

    @property
    def adcs_per_array(self) -> int:
        return self.cfg.converters.adcs_per_array

    @property
    def weight_slices(self) -> int:
        return self.cfg.weight_slices

    @property
    def arrays(self) -> int:
        """Physical arrays behind one block (slices, x2 for differential)."""
        return self.cfg.arrays_per_block

    @property
    def error_bits(self) -> int:
        return self.cfg.precision.error_bits

    @property
    def update_slices(self) -> int:
        return self.cfg.precision.update_slices

    @property
    def slice_bits(self) -> tuple[int, ...]:
        """Cell bits (with headroom) of each update slice, LSB slice first."""
        return self.cfg.slice_bits

    @property
    def update_level_bits(self) -> int:
        """Width of an update-slice level on the CRS ports (the widest slice)."""
        return max(self.slice_bits)

    @property
    def input_steps(self) -> int:
        return self.cfg.input_steps

    def lines_per_adc(self, *, transposed: bool = False) -> int:
        """Columns (rows when transposed) one ADC converts per step."""
        return math.ceil((self.rows if transposed else self.cols) / self.adcs_per_array)

    # ---- cycles (from the golden cycle model, never restated) -------------------------------
    @property
    def read_cycles(self) -> int:
        return mvm_schedule(self.cfg).read_cycles

    @property
    def pipeline_cycles(self) -> int:
        return self.cfg.tile.pipeline_cycles

    @property
    def opa_phase_cycles(self) -> int:
        return opa_phase_cycles(self.cfg)

    @property
    def write_row_cycles(self) -> int:
        return write_row_cycles(self.cfg)

    # ---- widths ------------------------------------------------------------------------------
    @property
    def min_out_width(self) -> int:
        """Signed bits that hold any output, clipped codes included: the shift-and-add's
        ``|sum| <= 2**(input_bits-1) * adc_max * sum_l 2**(l*b)`` per array set, plus the
        offset bias ``2**(weight_bits-1) * lines * 2**(input_bits-1)``."""
        b, n = self.bits_per_cell, self.weight_slices
        per_set = sum(1 << (b * k) for k in range(n))
        sets = 2 if self.encoding == "differential" else 1
        raw = (1 << (self.input_bits - 1)) * self.cfg.adc_max_code * per_set * sets
        bias = (1 << (self.weight_bits - 1)) * max(self.rows, self.cols) * (1 << (self.input_bits - 1))
        return (raw + bias).bit_length() + 1

    def as_dict(self) -> dict:
        """JSON-ready form (the configuration's fields and ``out_width``), for bench handoff."""
        return {"config": config.as_dict(self.cfg), "out_width": self.out_width}

    @classmethod
    def from_dict(cls, d: dict) -> "PeripheryParams":
        return cls(HardwareConfig().with_overrides(d["config"]), d["out_width"])


def periphery_params(overrides: dict | None = None, *, preset: str = DEFAULT_PRESET,
                     out_width: int = 0) -> PeripheryParams:
    """Parameters of ``preset`` (a preset name or TOML file) with typed ``{"section.field": value}``
    overrides, e.g. ``periphery_params({"crossbar.rows": 16, "converters.adc_bits": 5})``."""
    return PeripheryParams(config.load(preset).with_overrides(dict(overrides or {})), out_width)


def check_params(params) -> PeripheryParams:
    """``params`` itself, or TypeError when it is not a :class:`PeripheryParams` (what every
    periphery component's ``params=`` must be)."""
    if not isinstance(params, PeripheryParams):
        raise TypeError(f"params must be a crosstrain.golden.periphery.PeripheryParams, not {params!r}")
    return params

