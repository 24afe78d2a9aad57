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
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PRESET_DIR = Path(__file__).parent / "presets"


class ConfigError(ValueError):
    """A configuration value is missing, mistyped or impossible; the message is one line."""


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
        return _build(nested, base=self, source="override")


_SECTION_CLASSES = {"device": Device, "crossbar": Crossbar, "converters": Converters,
                    "precision": Precision, "tile": Tile, "nonideal": NonIdeal}


def _fail(path, value, allowed):
    raise ConfigError(f"{path} = {value!r} is not allowed: {allowed}")


def _coerce(path: str, value, default):
    """Check a TOML value against a field's annotated type; ints are accepted where floats are."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            _fail(path, value, "expected true or false")
        return value
    if isinstance(default, tuple):
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            _fail(path, value, "expected an integer or a non-empty list of integers")
        return tuple(items)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, value, "expected an integer")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(path, value, "expected a number")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            _fail(path, value, "expected a string")
        return value
    raise AssertionError(f"unhandled field type at {path}")


def _build(data: dict, *, base: HardwareConfig | None, source: str) -> HardwareConfig:
    base = base or HardwareConfig()
    sections = {}
    name = data.get("name", base.name)
    if not isinstance(name, str):
        _fail("name", name, "expected a string")
    for key, value in data.items():
        if key in ("name", "base"):
            continue
        if key not in _SECTION_CLASSES and key != "parts":
            raise ConfigError(f"unknown section [{key}] in {source}: allowed sections are "
                              + ", ".join(_SECTION_CLASSES) + ", [[parts]]")
        if key == "parts":
            sections["parts"] = _parts(value, base.parts, source)
            continue
        if not isinstance(value, dict):
            _fail(key, value, f"[{key}] must be a table of fields")
        current = getattr(base, key)
        known = {f.name: f for f in fields(current)}
        changes = {}
        for fname, fvalue in value.items():
            if fname not in known:
                raise ConfigError(f"unknown field {key}.{fname} in {source}: allowed fields of [{key}] "
                                  "are " + ", ".join(known))
            changes[fname] = _coerce(f"{key}.{fname}", fvalue, getattr(current, fname))
        sections[key] = replace(current, **changes)
    return replace(base, name=name, **sections)


def _part(path: str, data, current: Part) -> Part:
    if not isinstance(data, dict):
        _fail(path, data, "a table of part fields")
    known = {f.name for f in fields(Part)}
    for k in data:
        if k not in known:
            raise ConfigError(f"unknown field {path}.{k}: allowed fields of a part are "
                              + ", ".join(known))
    return replace(current, **{k: _coerce(f"{path}.{k}", v, getattr(current, k)) for k, v in data.items()})


def _parts(value, current: tuple, source: str) -> tuple:
    """``[[parts]]`` tables (replace every part) or ``{"NAME.FIELD": value}`` (change one)."""
    if isinstance(value, (list, tuple)):
        return tuple(_part(f"parts[{k}]", d, Part()) for k, d in enumerate(value))
    if not isinstance(value, dict):
        _fail("parts", value, "a list of [[parts]] tables")
    by_name = {p.name: p for p in current}
    for key, v in value.items():
        name, _, fname = key.rpartition(".")
        if name not in by_name:
            raise ConfigError(f"unknown part {name!r} in {source} (parts.{key}): parts are "
                              + (", ".join(by_name) or "none"))
        by_name[name] = _part(f"parts.{name}", {fname: v}, by_name[name])
    return tuple(by_name.values())


def validate(cfg: HardwareConfig) -> None:
    """Raise :class:`ConfigError` for the first impossible value in ``cfg``."""
    d, x, c, p, t, n = cfg.device, cfg.crossbar, cfg.converters, cfg.precision, cfg.tile, cfg.nonideal
    positive_ints = {
        "device.bits_per_cell": d.bits_per_cell, "crossbar.rows": x.rows, "crossbar.cols": x.cols,
        "converters.dac_bits": c.dac_bits, "converters.adc_bits": c.adc_bits,
        "converters.adcs_per_array": c.adcs_per_array, "precision.weight_bits": p.weight_bits,
        "precision.input_bits": p.input_bits, "precision.error_bits": p.error_bits,
        "precision.update_slices": p.update_slices, "tile.arrays_per_tile": t.arrays_per_tile,
        "tile.cores_per_tile": t.cores_per_tile,
    }
    for path, v in positive_ints.items():
        if v <= 0:
            _fail(path, v, "must be a positive integer")
    positive_floats = {
        "device.g_on_us": d.g_on_us, "device.endurance_cycles": d.endurance_cycles,
        "crossbar.read_latency_ns": x.read_latency_ns, "converters.adc_lsb": c.adc_lsb,
        "tile.clock_ghz": t.clock_ghz, "tile.opa_phase_ns": t.opa_phase_ns,
        "tile.edram_access_ns": t.edram_access_ns, "tile.noc_bandwidth_gbps": t.noc_bandwidth_gbps,
    }
    for path, v in positive_floats.items():
        if not v > 0 or not math.isfinite(v):
            _fail(path, v, "must be a positive finite number")
    nonneg = {f"device.{k}": getattr(d, k) for k in ("g_off_us", "write_latency_ns", "write_energy_pj")}
    nonneg["crossbar.array_area_um2"] = x.array_area_um2
    nonneg |= {f"converters.{k}": getattr(c, k) for k in
               ("adc_energy_pj", "adc_area_um2", "adc_leakage_mw", "dac_energy_pj", "dac_area_um2")}
    nonneg |= {f"tile.{k}": getattr(t, k) for k in
               ("shift_add_energy_pj", "opa_step_energy_pj", "mvm_step_energy_pj",
                "array_read_energy_pj", "pipeline_cycles", "edram_kb", "noc_latency_ns",
                "reference_stages")}
    nonneg |= {f"nonideal.{f.name}": getattr(n, f.name) for f in fields(n) if f.name != "seed"}
    nonneg["precision.weight_frac_bits"] = p.weight_frac_bits
    nonneg["precision.opa_shift"] = p.opa_shift
    for path, v in nonneg.items():
        if not v >= 0 or not math.isfinite(v):
            _fail(path, v, "must be zero or positive")
    if d.g_off_us >= d.g_on_us:
        _fail("device.g_off_us", d.g_off_us, f"must be below device.g_on_us ({d.g_on_us})")
    if d.bits_per_cell > 8:
        _fail("device.bits_per_cell", d.bits_per_cell, "at most 8 levels bits per cell")
    if x.encoding not in ("offset", "differential"):
        _fail("crossbar.encoding", x.encoding, 'use "offset" or "differential"')
    if t.accounting not in ACCOUNTINGS:
        _fail("tile.accounting", t.accounting, 'use "rtl" or "reference"')
    if c.adc_mode not in ("lossless", "clip"):
        _fail("converters.adc_mode", c.adc_mode, 'use "lossless" or "clip"')
    if p.weight_bits % d.bits_per_cell:
        _fail("precision.weight_bits", p.weight_bits,
              f"must be a multiple of device.bits_per_cell ({d.bits_per_cell})")
    if p.weight_frac_bits >= p.weight_bits:
        _fail("precision.weight_frac_bits", p.weight_frac_bits,
              f"must be below precision.weight_bits ({p.weight_bits})")
    if p.input_bits < 2:
        _fail("precision.input_bits", p.input_bits, "two's-complement inputs need at least 2 bits")
    if p.weight_bits > 32 or p.input_bits > 32 or p.error_bits > 32:
        _fail("precision.weight_bits/input_bits/error_bits",
              (p.weight_bits, p.input_bits, p.error_bits), "at most 32 bits each")
    if c.dac_bits >= p.input_bits:
        _fail("converters.dac_bits", c.dac_bits,
              f"must be below precision.input_bits ({p.input_bits}); the sign takes its own step")
    if c.adcs_per_array > max(x.rows, x.cols):
        _fail("converters.adcs_per_array", c.adcs_per_array,
              f"at most one ADC per column ({max(x.rows, x.cols)})")
    if c.adc_bits > 24:
        _fail("converters.adc_bits", c.adc_bits, "at most 24 bits")
    if c.adc_mode == "lossless":
        if c.adc_lsb != 1.0:
            _fail("converters.adc_lsb", c.adc_lsb, "lossless mode needs adc_lsb = 1")
        if c.adc_bits < cfg.lossless_adc_bits:
            _fail("converters.adc_bits", c.adc_bits,
                  f"lossless mode needs >= {cfg.lossless_adc_bits} bits for {max(x.rows, x.cols)} rows x "
                  f"{d.bits_per_cell}-bit cells x {c.dac_bits}-bit DAC (or set adc_mode = \"clip\")")
    sb = p.update_slice_bits
    if len(sb) not in (1, p.update_slices):
        _fail("precision.update_slice_bits", list(sb),
              f"give one width or one per update slice ({p.update_slices})")
    for b in sb:
        if not d.bits_per_cell <= b <= 16:
            _fail("precision.update_slice_bits", list(sb),
                  f"each width must be between device.bits_per_cell ({d.bits_per_cell}) and 16")
    wide = p.update_slices * d.bits_per_cell
    if wide < p.weight_bits:
        _fail("precision.update_slices", p.update_slices,
              f"the update slices must hold at least weight_bits ({p.weight_bits}) bits: "
              f">= {math.ceil(p.weight_bits / d.bits_per_cell)} slices of {d.bits_per_cell} bits")
    if p.input_bits + p.error_bits - p.opa_shift > wide:
        _fail("precision.opa_shift", p.opa_shift,
              f"outer products of input_bits + error_bits ({p.input_bits + p.error_bits}) need "
              f"opa_shift >= {p.input_bits + p.error_bits - wide} with {p.update_slices} update slices")
    for path, v in (("nonideal.stuck_on_fraction", n.stuck_on_fraction),
                    ("nonideal.stuck_off_fraction", n.stuck_off_fraction)):
        if v > 1:
            _fail(path, v, "a fraction between 0 and 1")
    if n.stuck_on_fraction + n.stuck_off_fraction > 1:
        _fail("nonideal.stuck_on_fraction + stuck_off_fraction",
              n.stuck_on_fraction + n.stuck_off_fraction, "at most 1")
    if n.update_levels and n.update_levels < 2:
        _fail("nonideal.update_levels", n.update_levels, "0 (ideal) or at least 2")
    if t.arrays_per_tile % t.cores_per_tile:
        _fail("tile.cores_per_tile", t.cores_per_tile,
              f"must divide tile.arrays_per_tile ({t.arrays_per_tile}) into equal cores")
    names = [q.name for q in cfg.parts]
    for k, q in enumerate(cfg.parts):
        path = f"parts.{q.name}"
        if not q.name or names.count(q.name) > 1:
            _fail(f"parts[{k}].name", q.name, "a non-empty name used by one part only")
        if q.per not in PART_PER:
            _fail(f"{path}.per", q.per, 'use "core" or "tile"')
        if q.event and q.event not in PART_EVENTS:
            _fail(f"{path}.event", q.event, "empty or one of " + ", ".join(PART_EVENTS))
        if not q.count > 0 or not math.isfinite(q.count):
            _fail(f"{path}.count", q.count, "must be a positive finite number")
        for f in ("area_mm2", "power_mw", "leakage_mw", "energy_pj"):
            v = getattr(q, f)
            if not v >= 0 or not math.isfinite(v):
                _fail(f"{path}.{f}", v, "must be zero or positive")


def presets() -> list[str]:
    """Names of the built-in presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def _read_toml(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        where = f"end of document, line {text.rstrip().count(chr(10)) + 1}"
        raise ConfigError(f"{path}: TOML syntax error: {str(e).replace('end of document', where)}"
                          ) from None


def load(source: str | Path) -> HardwareConfig:
    """Load a preset by name or a TOML file path.

    A file may say ``base = "PRESET"`` (or a path to another file) and then override fields.
    """
    return _load(source, seen=())


def _load(source, seen) -> HardwareConfig:
    s = str(source)
    if s in presets() and not Path(s).suffix:
        path = PRESET_DIR / f"{s}.toml"
        label = s
    else:
        path = Path(s)
        label = str(path)
        if not path.suffix == ".toml" and not path.exists():
            raise ConfigError(f"unknown preset or file {s!r}: presets are {', '.join(presets())}, "
                              "or give a path to a .toml file")
    if label in seen:
        raise ConfigError(f"{label}: base chain loops back on itself ({' -> '.join(seen + (label,))})")
    data = _read_toml(path)
    base_cfg = None
    if "base" in data:
        b = data["base"]
        if not isinstance(b, str):
            _fail(f"{label}: base", b, "a preset name or a path to a .toml file")
        if b not in presets():
            b = str((path.parent / b)) if not Path(b).is_absolute() else b
        base_cfg = _load(b, seen + (label,))
    stem = path.stem
    data.setdefault("name", stem if base_cfg is None else f"{base_cfg.name}+{stem}")
    try:
        return _build(data, base=base_cfg, source=label)
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg if label in msg else f"{label}: {msg}") from None


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
