"""Typed hardware configuration: device, crossbar, converters, precision, tile, non-idealities.

A configuration is a frozen tree of dataclasses plus a list of digital :class:`Part` s (buffers,
ALUs, eDRAM, router: area, leakage and energy per counted event). It is built from a built-in preset
(``golden/presets/NAME.toml``, every value cited there) or from a user TOML file that may start
from a preset (``base = "panther"``) and override any field. Every check raises
:class:`ConfigError` with one line naming the field, the bad value and what is allowed.

The same object parameterizes the golden model, the RTL components, their cocotb benches and
the roll-up, so none of them can drift from another.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from crosstrain.golden.userinput import TomlLocator, load_toml, read_text, shown, shown_path

PRESET_DIR = Path(__file__).parent / "presets"


class ConfigError(ValueError):
    """A configuration value is missing, mistyped or impossible; the message is one line.
    ``fields`` names the dotted fields involved (the offending one first), if any."""

    def __init__(self, message: str, fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.fields = fields


@dataclass(frozen=True)
class Device:
    """One ReRAM cell."""

    bits_per_cell: int = 2
    g_on_us: float = 500.0            # conductance of the highest level, microsiemens
    g_off_us: float = 0.5             # conductance of the lowest level, microsiemens
    read_voltage_v: float = 0.25
    write_latency_ns: float = 50.0    # one programming pulse sequence of one cell
    write_energy_pj: float = 1.38     # energy to program one cell
    endurance_cycles: float = 1e9     # writes a cell survives


@dataclass(frozen=True)
class Crossbar:
    """One array and how signed weights are stored in it."""

    rows: int = 128
    cols: int = 128
    encoding: str = "offset"          # "offset" (ISAAC bias) or "differential" (G+ / G- arrays)
    read_latency_ns: float = 100.0    # one analog read step (row drive to sample-and-hold)
    array_area_um2: float = 25.0      # one rows x cols array


@dataclass(frozen=True)
class Converters:
    """DACs on the rows, ADCs on the columns."""

    dac_bits: int = 1                 # input bits applied per crossbar step
    adc_bits: int = 8
    adc_lsb: float = 1.0              # column-sum units per code; full scale = adc_lsb * (2**adc_bits - 1)
    adc_mode: str = "clip"            # "lossless": must never clip; "clip": saturate at full scale
    adcs_per_array: int = 1           # ADCs shared by the columns of one array
    adc_energy_pj: float = 1.56       # per conversion
    adc_area_um2: float = 1200.0
    adc_leakage_mw: float = 0.0
    dac_energy_pj: float = 0.039      # per row per step
    dac_area_um2: float = 0.17


@dataclass(frozen=True)
class Precision:
    """Fixed-point formats and the PANTHER update slices."""

    weight_bits: int = 16
    weight_frac_bits: int = 12
    input_bits: int = 16              # two's complement activations / errors
    error_bits: int = 16
    update_slices: int = 16           # OPA slices of bits_per_cell nominal bits each
    update_slice_bits: tuple[int, ...] = (6,)   # cell bits incl. headroom; one value or one per slice
    opa_shift: int = 0                # low product bits not represented in the update slices


@dataclass(frozen=True)
class Tile:
    """The digital periphery around the arrays and its timing / energy."""

    clock_ghz: float = 1.0            # periphery clock; one ADC conversion per ADC per cycle
    arrays_per_tile: int = 96
    cores_per_tile: int = 12          # cores (ISAAC: IMAs) per tile; arrays_per_tile is split among them
    shift_add_energy_pj: float = 0.05 # per accumulated ADC code
    opa_phase_ns: float = 20.0        # one polarity phase of an outer-product update
    opa_step_energy_pj: float = 88.8  # per update array per row-bit step (its 4 polarity phases)
    mvm_step_energy_pj: float = 309.0 # per array per input step, converters included (0 = use parts)
    array_read_energy_pj: float = 0.0 # analog array energy per step when mvm_step_energy_pj is 0
    edram_kb: int = 64
    edram_access_ns: float = 2.0      # one 256-bit eDRAM access (loads and stores on the critical path)
    noc_latency_ns: float = 31.0      # one packet through the on-chip network between layers
    noc_bandwidth_gbps: float = 32.0  # bits per ns a tile sends into the network
    pipeline_cycles: int = 2          # shift-and-add / output register stages after the last code
    accounting: str = "rtl"           # "rtl": the schedules the RTL runs; "reference": a reference
    #                                   simulator's stage accounting (crosstrain.golden.cycles)
    reference_stages: int = 2         # reference accounting: stages added to an MVM's input steps


#: Events a :class:`Part` can be charged per (counted by the roll-up, crosstrain.rollup.mapper).
PART_EVENTS = ("input_buffer_writes", "input_buffer_reads", "output_buffer_writes",
               "data_memory_accesses", "alu_ops", "multiplies", "edram_accesses", "instructions",
               "network_ns")
PART_PER = ("core", "tile")
ACCOUNTINGS = ("rtl", "reference")


@dataclass(frozen=True)
class Part:
    """A digital part of every core or every tile: its area, leakage and energy per event."""

    name: str = "part"
    per: str = "tile"                 # "core" or "tile": instances come with every active one
    count: float = 1.0                # per core / tile; a fraction for a part shared by tiles
    area_mm2: float = 0.0             # each
    power_mw: float = 0.0             # each, at full activity (a paper's power table)
    leakage_mw: float = 0.0           # each, while its core / tile holds part of the network
    energy_pj: float = 0.0            # per event
    event: str = ""                   # one of PART_EVENTS, or "" (no per-event energy)


@dataclass(frozen=True)
class NonIdeal:
    """Device non-idealities; all zero (off) by default. Sigmas are fractions of the level range."""

    seed: int = 0
    program_sigma: float = 0.0        # error of each programmed conductance
    read_sigma: float = 0.0           # noise of each read, per cell
    d2d_sigma: float = 0.0            # fixed per-device spread of the conductance range (lognormal)
    c2c_sigma: float = 0.0            # per-pulse spread of an update step
    stuck_on_fraction: float = 0.0
    stuck_off_fraction: float = 0.0
    update_levels: int = 0            # pulses from lowest to highest conductance; 0 = ideal
    ltp_nonlinearity: float = 0.0     # NeuroSim-style shape of potentiation; 0 = linear
    ltd_nonlinearity: float = 0.0


@dataclass(frozen=True)
class HardwareConfig:
    """A whole accelerator configuration; ``name`` is the preset or file it came from."""

    name: str = "custom"
    device: Device = field(default_factory=Device)
    crossbar: Crossbar = field(default_factory=Crossbar)
    converters: Converters = field(default_factory=Converters)
    precision: Precision = field(default_factory=Precision)
    tile: Tile = field(default_factory=Tile)
    nonideal: NonIdeal = field(default_factory=NonIdeal)
    parts: tuple[Part, ...] = ()

    def __post_init__(self):
        validate(self)

    # ---- derived quantities used everywhere -------------------------------------------------
    @property
    def weight_slices(self) -> int:
        """Arrays (slices) that hold one weight's bits."""
        return self.precision.weight_bits // self.device.bits_per_cell

    @property
    def arrays_per_block(self) -> int:
        """Physical arrays behind one rows x cols logical block (x2 for differential)."""
        return self.weight_slices * (2 if self.crossbar.encoding == "differential" else 1)

    @property
    def input_steps(self) -> int:
        """Crossbar steps per MVM: magnitude bits in dac_bits chunks, then one sign step."""
        return math.ceil((self.precision.input_bits - 1) / self.converters.dac_bits) + 1

    @property
    def cell_max(self) -> int:
        return (1 << self.device.bits_per_cell) - 1

    @property
    def adc_max_code(self) -> int:
        return (1 << self.converters.adc_bits) - 1

    @property
    def max_column_sum(self) -> int:
        """Largest possible column sum (cell level x DAC level over all rows)."""
        dac_max = (1 << self.converters.dac_bits) - 1
        return max(self.crossbar.rows, self.crossbar.cols) * dac_max * self.cell_max

    @property
    def lossless_adc_bits(self) -> int:
        """ADC bits needed so that no column sum can clip (ISAAC's resolution rule, exact form)."""
        return max(1, self.max_column_sum.bit_length())

    @property
    def adc_never_clips(self) -> bool:
        """True when no column sum can exceed the ADC's top code, whatever the data."""
        return self.converters.adc_lsb == 1.0 and self.max_column_sum <= self.adc_max_code

    @property
    def slice_bits(self) -> tuple[int, ...]:
        """Cell bits (with headroom) of each update slice, LSB first."""
        b = self.precision.update_slice_bits
        return b * self.precision.update_slices if len(b) == 1 else b

    @property
    def arrays_per_core(self) -> int:
        return self.tile.arrays_per_tile // self.tile.cores_per_tile

    def with_overrides(self, overrides: dict) -> "HardwareConfig":
        """A copy with ``{"section.field": value}`` or nested ``{section: {field: value}}`` changed;
        ``{"parts": [...]}`` replaces the parts, ``{"parts.NAME.FIELD": value}`` changes one."""
        nested: dict = {}
        for key, value in overrides.items():
            if isinstance(value, dict):
                nested.setdefault(key, {}).update(value)
            elif "." in key:
                section, name = key.split(".", 1)
                nested.setdefault(section, {})[name] = value
            else:
                nested[key] = value
        return _build(nested, base=self)


_SECTION_CLASSES = {"device": Device, "crossbar": Crossbar, "converters": Converters,
                    "precision": Precision, "tile": Tile, "nonideal": NonIdeal}

# The allowed range (low, high; both included) of every numeric field, chosen from what the
# hardware can physically mean and so that every derived quantity stays exact and finite
# (integers within int64, floats far from overflow). Each is a factor of 100 or more beyond the
# published designs (reference sheet /work/shared/reference/README.md sections 1-3).
_TIME_NS = (1e-3, 1e9)          # 1 ps .. 1 s for one read, write pulse or OPA phase
_ENERGY_PJ = (1e-9, 1e9)        # about Landauer's kT ln 2 (2.9e-9 pJ at 300 K) .. 1 mJ per event
_POWER_MW = (1e-9, 1e6)         # 1 pW .. 1 kW of leakage per part (a whole GPU board: 250-700 W)
_AREA_UM2 = (0.0, 1e8)          # up to 100 mm^2 per converter
RANGES = {
    "device.bits_per_cell": (1, 8),
    "device.g_on_us": (1e-6, 1e6),          # 1 TOhm .. 1 Ohm
    "device.g_off_us": (0.0, 1e6),
    "device.read_voltage_v": (1e-3, 2.0),   # reads stay below the 2-4 V write pulses (ref. s.2)
    "device.write_latency_ns": _TIME_NS,
    "device.write_energy_pj": _ENERGY_PJ,
    "device.endurance_cycles": (1.0, 1e18),  # published: 1e6 .. >1e11 (ref. s.2)
    "crossbar.rows": (1, 65536),            # published arrays: 16 .. 1024 lines
    "crossbar.cols": (1, 65536),
    "crossbar.read_latency_ns": _TIME_NS,
    "crossbar.array_area_um2": _AREA_UM2,   # published: 25 um^2 per 128 x 128 array (ISAAC)
    "converters.dac_bits": (1, 31),         # and below precision.input_bits
    "converters.adc_bits": (1, 24),
    "converters.adc_lsb": (2.0 ** -24, 2.0 ** 48),   # column-sum units per code; sums < 2^56
    "converters.adcs_per_array": (1, 65536),         # and at most one per line
    "converters.adc_energy_pj": _ENERGY_PJ,
    "converters.adc_area_um2": _AREA_UM2,
    "converters.adc_leakage_mw": _POWER_MW,
    "converters.dac_energy_pj": _ENERGY_PJ,
    "converters.dac_area_um2": _AREA_UM2,
    "precision.weight_bits": (1, 32),
    "precision.weight_frac_bits": (0, 31),
    "precision.input_bits": (2, 32),
    "precision.error_bits": (1, 32),
    "precision.update_slices": (1, 64),     # 64 one-bit slices hold any 32 x 32-bit product
    "precision.update_slice_bits": (1, 16),
    "precision.opa_shift": (0, 64),
    "tile.clock_ghz": (1e-3, 100.0),        # 1 MHz .. 100 GHz; published periphery: 1-1.28 GHz
    "tile.arrays_per_tile": (1, 1 << 20),
    "tile.cores_per_tile": (1, 1 << 20),    # and a divisor of arrays_per_tile (published: 8-12)
    "tile.shift_add_energy_pj": _ENERGY_PJ,
    "tile.opa_phase_ns": _TIME_NS,
    "tile.opa_step_energy_pj": _ENERGY_PJ,
    "tile.mvm_step_energy_pj": _ENERGY_PJ,
    "tile.array_read_energy_pj": _ENERGY_PJ,
    "tile.edram_kb": (0, 1 << 20),          # up to 1 GB per tile (published: 64 kB)
    "tile.edram_access_ns": _TIME_NS,
    "tile.noc_latency_ns": (0.0, 1e9),      # 0 = not modelled; up to 1 s (published: 31 ns)
    "tile.noc_bandwidth_gbps": (1e-3, 1e6), # 1 Mb/s .. 1 Pb/s per tile (published: 32 Gb/s)
    "tile.pipeline_cycles": (0, 4096),      # published periphery pipelines: 2 stages
    "tile.reference_stages": (0, 4096),     # published simulators: 2 stages
    "nonideal.seed": (0, (1 << 63) - 1),    # numpy seeds are non-negative
    "nonideal.program_sigma": (0.0, 10.0),  # sigmas are fractions of the level range: at 10 the
    "nonideal.read_sigma": (0.0, 10.0),     # noise is ten full ranges and exp(10 N(0,1)) (d2d)
    "nonideal.d2d_sigma": (0.0, 10.0),      # stays finite
    "nonideal.c2c_sigma": (0.0, 10.0),
    "nonideal.stuck_on_fraction": (0.0, 1.0),
    "nonideal.stuck_off_fraction": (0.0, 1.0),
    "nonideal.update_levels": (0, 1 << 20),          # 0 = ideal; published devices: 32-256 levels
    "nonideal.ltp_nonlinearity": (0.0, 20.0),        # NeuroSim's devices: 1.46-1.75 (ref. s.2)
    "nonideal.ltd_nonlinearity": (0.0, 20.0),
    # each [[parts]] entry (checked per part as parts.NAME.FIELD)
    "parts.count": (1e-6, 1e6),             # per core / tile; a fraction when tiles share one
    "parts.area_mm2": (0.0, 1e4),           # a 100 x 100 mm part is beyond any reticle (~860 mm^2)
    "parts.power_mw": _POWER_MW,
    "parts.leakage_mw": _POWER_MW,
    "parts.energy_pj": _ENERGY_PJ,
}
# Energies and leakage powers may also be 0: not modelled, or lumped into another figure.
ZERO_MEANS_NONE = frozenset(p for p, r in RANGES.items() if r in (_ENERGY_PJ, _POWER_MW))
NAME_MAX_CHARS = 1024
PART_NAME_MAX_CHARS = 64        # a part's name is a column of reports and a --set name
# Exact MVM and OPA results are int64: a product of signed operands summed over the lines of an
# array, and the update slices composed into one wide weight, must stay below 2^62.
INT64_BITS = 62


def _fail(path, value, allowed, *related):
    """Raise the one-line error for ``path``; ``related`` names other fields the check involves
    (a file's error is located at the first of them the file sets)."""
    raise ConfigError(f"{path} = {shown(value)} is not allowed: {allowed}", (path, *related))


def _range_key(path: str) -> str:
    """The :data:`RANGES` key of a field: ``parts.FIELD`` for every part's (``parts.NAME.FIELD``,
    ``parts[K].FIELD``), else the dotted path itself."""
    return "parts." + path.rpartition(".")[2] if path.startswith("parts") else path


def _between(path: str) -> str:
    key = _range_key(path)
    lo, hi = RANGES[key]
    f = (lambda v: f"{v:,}") if isinstance(lo, int) else (lambda v: f"{v:g}")
    return ("0 (none) or " if key in ZERO_MEANS_NONE else "") + f"from {f(lo)} to {f(hi)}"


def _in_range(path: str, v, *related) -> None:
    """Fail unless ``v`` (each item of a tuple) has the type and range :data:`RANGES` gives."""
    key = _range_key(path)
    lo, hi = RANGES[key]
    kind = int if isinstance(lo, int) else (int, float)
    for item in v if isinstance(v, tuple) else (v,):
        if isinstance(item, bool) or not isinstance(item, kind):
            _fail(path, v, f"expected {'an integer' if kind is int else 'a number'} {_between(path)}",
                  *related)
        if not (lo <= item <= hi or item == 0 and key in ZERO_MEANS_NONE):   # NaN fails
            _fail(path, v, _between(path), *related)


def _coerce(path: str, value, default):
    """Check a TOML value against a field's annotated type; ints are accepted where floats are."""
    if isinstance(default, tuple):
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            _fail(path, value, "expected an integer or a non-empty list of integers")
        return tuple(items)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, value, f"expected an integer {_between(path)}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(path, value, f"expected a number {_between(path)}")
        try:
            return float(value)
        except OverflowError:
            _fail(path, value, _between(path))
    if isinstance(default, str):
        if not isinstance(value, str):
            _fail(path, value, "expected a string")
        return value
    raise AssertionError(f"unhandled field type at {path}")


def _build(data: dict, *, base: HardwareConfig | None) -> HardwareConfig:
    base = base or HardwareConfig()
    sections = {}
    name = data.get("name", base.name)
    if not isinstance(name, str):
        _fail("name", name, "expected a string")
    for key, value in data.items():
        if key in ("name", "base"):
            continue
        if key == "parts":
            sections["parts"] = _parts(value, base.parts)
            continue
        if key not in _SECTION_CLASSES:
            raise ConfigError(f"unknown section {shown(key)}: allowed sections are "
                              + ", ".join(_SECTION_CLASSES) + ", [[parts]]", (key,))
        if not isinstance(value, dict):
            _fail(key, value, f"[{key}] must be a table of fields")
        current = getattr(base, key)
        known = {f.name: f for f in fields(current)}
        changes = {}
        for fname, fvalue in value.items():
            if fname not in known:
                raise ConfigError(f"unknown field {key}.{shown(fname)[1:-1]}: allowed fields of "
                                  f"[{key}] are " + ", ".join(known), (f"{key}.{fname}",))
            changes[fname] = _coerce(f"{key}.{fname}", fvalue, getattr(current, fname))
        sections[key] = replace(current, **changes)
    return replace(base, name=name, **sections)


def _part(path: str, data, current: Part) -> Part:
    if not isinstance(data, dict):
        _fail(path, data, "a table of part fields (name, per, count, area_mm2, ...)")
    known = [f.name for f in fields(Part)]
    for k in data:
        if k not in known:
            raise ConfigError(f"unknown field {path}.{shown(k)[1:-1]}: allowed fields of a part are "
                              + ", ".join(known), (f"{path}.{k}",))
    return replace(current, **{k: _coerce(f"{path}.{k}", v, getattr(current, k)) for k, v in data.items()})


def _parts(value, current: tuple) -> tuple:
    """``[[parts]]`` tables (replace every part), or changes to named parts: ``{"NAME.FIELD":
    value}`` (``with_overrides``) or ``{NAME: {FIELD: value}}`` (a file's ``[parts.NAME]``)."""
    if isinstance(value, (list, tuple)):
        return tuple(_part(f"parts[{k}]", d, Part()) for k, d in enumerate(value))
    if not isinstance(value, dict):
        _fail("parts", value, "a list of [[parts]] tables")
    by_name = {p.name: p for p in current}
    for key, v in value.items():
        name, _, fname = (key, "", "") if isinstance(v, dict) else key.rpartition(".")
        if name not in by_name:
            raise ConfigError(f"unknown part {shown(name)} (parts.{shown(key)[1:-1]}): parts are "
                              + (", ".join(by_name) or "none"), ("parts",))
        by_name[name] = _part(f"parts.{name}", v if isinstance(v, dict) else {fname: v}, by_name[name])
    return tuple(by_name.values())


def validate(cfg: HardwareConfig) -> None:
    """Raise :class:`ConfigError` for the first impossible value in ``cfg``."""
    d, x, c, p, t, n = cfg.device, cfg.crossbar, cfg.converters, cfg.precision, cfg.tile, cfg.nonideal
    if not isinstance(cfg.name, str) or not 0 < len(cfg.name) <= NAME_MAX_CHARS \
            or not cfg.name.isprintable():
        _fail("name", cfg.name, f"1 to {NAME_MAX_CHARS} printable characters")
    for section in _SECTION_CLASSES:
        for f in fields(getattr(cfg, section)):
            path = f"{section}.{f.name}"
            if path in RANGES:
                _in_range(path, getattr(getattr(cfg, section), f.name))
    if d.g_off_us >= d.g_on_us:
        _fail("device.g_off_us", d.g_off_us, f"must be below device.g_on_us ({d.g_on_us})",
              "device.g_on_us")
    if x.encoding not in ("offset", "differential"):
        _fail("crossbar.encoding", x.encoding, 'use "offset" or "differential"')
    if t.accounting not in ACCOUNTINGS:
        _fail("tile.accounting", t.accounting, 'use "rtl" or "reference"')
    if c.adc_mode not in ("lossless", "clip"):
        _fail("converters.adc_mode", c.adc_mode, 'use "lossless" or "clip"')
    if p.weight_bits % d.bits_per_cell:
        _fail("precision.weight_bits", p.weight_bits,
              f"must be a multiple of device.bits_per_cell ({d.bits_per_cell})", "device.bits_per_cell")
    if p.weight_frac_bits >= p.weight_bits:
        _fail("precision.weight_frac_bits", p.weight_frac_bits,
              f"must be below precision.weight_bits ({p.weight_bits})", "precision.weight_bits")
    if c.dac_bits >= p.input_bits:
        _fail("converters.dac_bits", c.dac_bits,
              f"must be below precision.input_bits ({p.input_bits}); the sign takes its own step",
              "precision.input_bits")
    lines = max(x.rows, x.cols)
    if c.adcs_per_array > lines:
        _fail("converters.adcs_per_array", c.adcs_per_array, f"at most one ADC per line ({lines})",
              "crossbar.rows", "crossbar.cols")
    for operand in ("input_bits", "error_bits"):
        bits = p.weight_bits + getattr(p, operand) + (lines - 1).bit_length()
        if bits > INT64_BITS:
            _fail(f"precision.{operand}", getattr(p, operand),
                  f"weight_bits + {operand} + log2({lines} lines) = {bits} bits; exact MVM sums are "
                  f"int64: at most {INT64_BITS}", "precision.weight_bits", "crossbar.rows", "crossbar.cols")
    if c.adc_mode == "lossless":
        if c.adc_lsb != 1.0:
            _fail("converters.adc_lsb", c.adc_lsb, "lossless mode needs adc_lsb = 1", "converters.adc_mode")
        if c.adc_bits < cfg.lossless_adc_bits:
            _fail("converters.adc_bits", c.adc_bits,
                  f"lossless mode needs >= {cfg.lossless_adc_bits} bits for {lines} rows x "
                  f"{d.bits_per_cell}-bit cells x {c.dac_bits}-bit DAC (or set adc_mode = \"clip\")",
                  "converters.adc_mode")
    sb = p.update_slice_bits
    if len(sb) not in (1, p.update_slices):
        _fail("precision.update_slice_bits", list(sb),
              f"give one width or one per update slice ({p.update_slices})", "precision.update_slices")
    if min(sb) < d.bits_per_cell:
        _fail("precision.update_slice_bits", list(sb),
              f"each width must be between device.bits_per_cell ({d.bits_per_cell}) and 16",
              "device.bits_per_cell")
    wide = p.update_slices * d.bits_per_cell
    if wide < p.weight_bits:
        _fail("precision.update_slices", p.update_slices,
              f"the update slices must hold at least weight_bits ({p.weight_bits}) bits: "
              f">= {math.ceil(p.weight_bits / d.bits_per_cell)} slices of {d.bits_per_cell} bits",
              "precision.weight_bits", "device.bits_per_cell")
    if wide - d.bits_per_cell + max(sb) > INT64_BITS:
        _fail("precision.update_slices", p.update_slices,
              f"{p.update_slices} slices of {d.bits_per_cell}-bit cells with {max(sb)}-bit headroom "
              f"compose a weight of {wide - d.bits_per_cell + max(sb)} bits; it is an int64: at most "
              f"{INT64_BITS}", "device.bits_per_cell", "precision.update_slice_bits")
    if p.input_bits + p.error_bits - p.opa_shift > wide:
        _fail("precision.opa_shift", p.opa_shift,
              f"outer products of input_bits + error_bits ({p.input_bits + p.error_bits}) need "
              f"opa_shift >= {p.input_bits + p.error_bits - wide} with {p.update_slices} update slices",
              "precision.update_slices", "precision.input_bits", "precision.error_bits")
    if n.stuck_on_fraction + n.stuck_off_fraction > 1:
        _fail("nonideal.stuck_on_fraction + stuck_off_fraction",
              n.stuck_on_fraction + n.stuck_off_fraction, "at most 1",
              "nonideal.stuck_on_fraction", "nonideal.stuck_off_fraction")
    if n.update_levels == 1:
        _fail("nonideal.update_levels", n.update_levels, "0 (ideal) or at least 2")
    if t.arrays_per_tile % t.cores_per_tile:
        _fail("tile.cores_per_tile", t.cores_per_tile,
              f"must divide tile.arrays_per_tile ({t.arrays_per_tile}) into equal cores",
              "tile.arrays_per_tile")
    seen = set()
    for k, q in enumerate(cfg.parts):
        at = f"parts[{k}]"                      # where a file sets it; messages name parts.NAME
        if not isinstance(q.name, str) or not 0 < len(q.name) <= PART_NAME_MAX_CHARS \
                or not q.name.isprintable() or q.name in seen:
            _fail(f"{at}.name", q.name, f"1 to {PART_NAME_MAX_CHARS} printable characters, a name "
                                        "no other part has")
        seen.add(q.name)
        path = f"parts.{q.name}"
        if q.per not in PART_PER:
            _fail(f"{path}.per", q.per, 'use "core" or "tile"', f"{at}.per")
        if q.event and q.event not in PART_EVENTS:
            _fail(f"{path}.event", q.event, "empty or one of " + ", ".join(PART_EVENTS), f"{at}.event")
        for f in ("count", "area_mm2", "power_mw", "leakage_mw", "energy_pj"):
            _in_range(f"{path}.{f}", getattr(q, f), f"{at}.{f}")


def presets() -> list[str]:
    """Names of the built-in presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


# A preset plus a few layers of user overrides; a longer chain of ``base =`` files is a mistake.
MAX_BASE_DEPTH = 16


def load(source: str | Path) -> HardwareConfig:
    """Load a preset by name or a TOML file path.

    A file may say ``base = "PRESET"`` (or a path to another file, relative to the file) and
    then override fields; chains are followed up to :data:`MAX_BASE_DEPTH` files and loops (by
    real path) are reported. Every error is one line; an error in a file starts with
    ``FILE:LINE:COLUMN:`` of the offending field.
    """
    return _load(source, chain=())


def _resolve(source) -> tuple[Path, str]:
    """(path, label) of a preset name or a file path."""
    s = str(source)
    if s in presets() and not Path(s).suffix:
        return PRESET_DIR / f"{s}.toml", s
    path = Path(s)
    try:
        exists = path.exists()
    except (OSError, ValueError):
        exists = False
    if path.suffix != ".toml" and not exists:
        raise ConfigError(f"unknown preset or file {shown(s)}: presets are {', '.join(presets())}, "
                          "or give a path to a .toml file")
    return path, shown_path(s)


def _load(source, chain: tuple[Path, ...]) -> HardwareConfig:
    """``source`` built on its base; ``chain`` holds the real paths of the files that led here."""
    path, label = _resolve(source)
    text = read_text(path, ConfigError, "configuration file")
    data = load_toml(text, label, ConfigError)
    at = TomlLocator(text)
    base_cfg = None
    if "base" in data:
        b, where = data["base"], f"{label}:{at.key('base')}"
        if not isinstance(b, str):
            raise ConfigError(f"{where}: base = {shown(b)} is not allowed: a preset name or a path "
                              "to a .toml file")
        here = chain + (_real(path, label),)
        if b not in presets():
            b = str(path.parent / b)
            if _real(Path(b), where) in here:
                raise ConfigError(f"{where}: base = {shown(data['base'])} loops back to a file of the "
                                  "chain (" + " -> ".join(p.name for p in here) + ")")
            if len(here) >= MAX_BASE_DEPTH:
                raise ConfigError(f"{where}: more than {MAX_BASE_DEPTH} files chained by base = ...; "
                                  "start from a preset or a shorter chain")
        base_cfg = _load(b, here)
    data.setdefault("name", path.stem if base_cfg is None else f"{base_cfg.name}+{path.stem}")
    try:
        return _build(data, base=base_cfg)
    except ConfigError as e:
        raise ConfigError(f"{label}:{_locate(e.fields, at)}: {e}") from None


def _real(path: Path, where: str) -> Path:
    """``path`` with links and ``..`` resolved, so a loop is found however it is spelled."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError) as e:
        raise ConfigError(f"{where}: cannot resolve {shown_path(path)}: {e}") from None


def _locate(paths: tuple[str, ...], at: TomlLocator) -> str:
    """``LINE:COLUMN`` of the first of the dotted field ``paths`` set in the file, else ``1:1``."""
    for path in paths:
        indexed = re.fullmatch(r"(\w+)\[(\d+)\]\.(\w+)", path)     # parts[K].FIELD
        if indexed:
            table, k, name = indexed.groups()
            hit = at.find(name, table, int(k)) or at.find(table)       # [[parts]] or parts = [...]
        else:
            section, _, name = path.rpartition(".")
            hit = at.find(name, section or None)
        if hit:
            return f"{hit[0]}:{hit[2]}"
    for path in paths:
        head = at.table(path.split(".")[0])
        if head:
            return head
    return "1:1"


def as_dict(cfg: HardwareConfig) -> dict:
    """The resolved configuration as nested plain values (tuples become lists)."""
    def plain(v):
        return list(v) if isinstance(v, tuple) else v
    out = {"name": cfg.name}
    for s in _SECTION_CLASSES:
        sec = getattr(cfg, s)
        out[s] = {f.name: plain(getattr(sec, f.name)) for f in fields(sec)}
    out["parts"] = [{f.name: getattr(q, f.name) for f in fields(q)} for q in cfg.parts]
    return out
