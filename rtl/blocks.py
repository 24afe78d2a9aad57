"""The RTL blocks ``crosstrain verilog`` exports, and how each is built from typed parameters.

Each entry of :data:`BLOCKS` names a component class (imported only when the block is built, so
the console command starts fast), the constructor keyword that takes its parameter object, and
how that object is made from a preset and ``{"dotted.name": value}`` values (already typed: the
command line parses ``--set`` text into them):

- :data:`PERIPHERY`: :class:`crosstrain.golden.periphery.PeripheryParams` from a preset, the
  configuration's ``section.field`` names and ``periphery.out_width``;
- :class:`StreamerKind`: :class:`crosstrain.golden.graph.StreamerParams` of the graph streamer,
  its periphery as :data:`PERIPHERY` takes it (default preset ``graphr``), its memories at their
  default sizes;
- :class:`TileKind`: the tile's :class:`~crosstrain.golden.periphery.PeripheryParams` as
  :data:`PERIPHERY` takes them, its :class:`~crosstrain.golden.isa.TileParams` as ``isa.FIELD``
  and ``periphery.value_bits``, parsed to the constructor's keywords;
- :class:`Fields`: a dataclass of the block's own under a name of its own
  (``comparator.*``: ``crosstrain.golden.write_elim.ComparatorParams``, ``convt.*``:
  ``crosstrain.golden.deconv.ConvTranspose``), one name per field.

A new periphery block is one line in :data:`BLOCKS`, e.g.
``"shift_add": Block("crosstrain.rtl.shift_add:ShiftAdd", "accumulates ADC codes ...", PERIPHERY)``.
Every failure is a :class:`~crosstrain.golden.config.ConfigError` of one line that
names the parameter.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass

from crosstrain.golden import periphery
from crosstrain.golden.config import ConfigError
from crosstrain.golden.deconv import ConvTranspose
from crosstrain.golden.isa import TileParams
from crosstrain.golden.write_elim import ComparatorParams

OUT_WIDTH = "periphery.out_width"
SKIP_ZERO = "periphery.skip_zero"
VALUE_BITS = "periphery.value_bits"


class PeripheryKind:
    """Parameters of the crossbar periphery: one :class:`~crosstrain.golden.periphery.PeripheryParams`."""

    def parse(self, values: dict, preset: str | None):
        overrides = dict(values)
        out_width = overrides.pop(OUT_WIDTH, 0)
        for key in overrides:
            if key.startswith("periphery."):
                raise ConfigError(f"unknown parameter {key!r}: the periphery's own is {OUT_WIDTH}"
                                  f" ({SKIP_ZERO} for the blocks with an input streamer)")
        return periphery.periphery_params(overrides, preset=preset or periphery.DEFAULT_PRESET,
                                          out_width=out_width)

    def describe(self) -> str:
        return (f"PeripheryParams (--preset, default {periphery.DEFAULT_PRESET}; --set "
                f"SECTION.FIELD of the configuration, {OUT_WIDTH})")


@dataclass(frozen=True)
class Fields:
    """A block's own parameter dataclass ``cls``, one name ``namespace.FIELD`` per field;
    ``defaults`` are the values of a bare export where they differ from (or stand in for) the
    dataclass's own."""

    cls: type
    namespace: str
    defaults: tuple[tuple[str, object], ...] = ()

    @property
    def names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.cls)]

    def parse(self, values: dict, preset: str | None):
        if preset is not None:
            raise ConfigError(f"--preset does not apply: this block takes {self.cls.__name__} "
                              f"({', '.join(self.names)})")
        kwargs = dict(self.defaults)
        for key, value in values.items():
            namespace, _, name = key.partition(".")
            if namespace != self.namespace or name not in self.names:
                raise ConfigError(f"unknown parameter {key!r}: use one of "
                                  + ", ".join(f"{self.namespace}.{n}" for n in self.names))
            kwargs[name] = value
        try:
            return self.cls(**kwargs)
        except (ValueError, TypeError) as e:
            raise ConfigError(str(e)) from None

    def describe(self) -> str:
        shown = [f"{self.namespace}.{n}" + (f"={dict(self.defaults)[n]}" if n in dict(self.defaults) else "")
                 for n in self.names]
        return f"{self.cls.__name__} (--set {', '.join(shown)})"


PERIPHERY = PeripheryKind()


class StreamerKind(PeripheryKind):
    """The graph streamer's :class:`~crosstrain.golden.graph.StreamerParams`: its crossbar's
    periphery as :data:`PERIPHERY` takes it (default preset ``graphr``) and the default memory
    sizes."""

    # crosstrain.golden.graph (scipy.sparse) is imported only when used: the command starts fast

    def parse(self, values: dict, preset: str | None):
        from crosstrain.golden.graph import StreamerParams
        return StreamerParams(super().parse(values, preset or "graphr"))

    def describe(self) -> str:
        from crosstrain.golden.graph import StreamerParams
        d = StreamerParams.__dataclass_fields__
        sizes = ", ".join(f"{n} {d[n].default}" for n in ("vertices", "blocks", "edges"))
        return (f"StreamerParams (--preset, default graphr; --set SECTION.FIELD of the "
                f"configuration, {OUT_WIDTH}; memories for {sizes})")


class TileKind(PeripheryKind):
    """The tile's parameters (:class:`crosstrain.rtl.tile.Tile`): its units' periphery as
    :data:`PERIPHERY` takes it (default 8 x 8 crossbars), the
    :class:`~crosstrain.golden.isa.TileParams` as ``isa.FIELD`` (``max_length`` defaults to the
    crossbar's larger side) and ``periphery.value_bits`` (0: the narrowest the tile allows). Parses to the constructor's
    keywords."""

    DEFAULTS = {"crossbar.rows": 8, "crossbar.cols": 8, "isa.units": 2, "isa.buffer_depth": 256,
                "isa.queue_depth": 4, VALUE_BITS: 0}

    def parse(self, values: dict, preset: str | None):
        values = {**self.DEFAULTS, **values}
        value_bits = values.pop(VALUE_BITS)
        names = [f.name for f in dataclasses.fields(TileParams)]
        isa_values = {}
        for key in [k for k in values if k.startswith("isa.")]:
            if key[4:] not in names:
                raise ConfigError(f"unknown parameter {key!r}: use one of "
                                  + ", ".join(f"isa.{n}" for n in names))
            isa_values[key[4:]] = values.pop(key)
        p = super().parse(values, preset)
        isa_values.setdefault("max_length", max(p.rows, p.cols))
        return {"params": p, "tile": TileParams(**isa_values), "value_bits": value_bits}

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.DEFAULTS.items())
        return (f"PeripheryParams (--preset, default {periphery.DEFAULT_PRESET}; --set SECTION.FIELD"
                f" of the configuration) and TileParams (--set isa.FIELD); defaults {shown}, "
                "isa.max_length = the larger crossbar side")


class SelfCheckKind(TileKind):
    """The prototyping tops' parameters (:class:`crosstrain.rtl.selfcheck_top.SelfCheckTop`,
    :class:`crosstrain.rtl.axis_top.AxisTop`): as :class:`TileKind`, with defaults small enough
    for an LFE5U-25F: 2 units of 4 x 4 crossbars,
    4-bit inputs in two 2-bit DAC steps, 8-bit weights, 2 ADCs per array, a 64-value buffer."""

    DEFAULTS = {"crossbar.rows": 4, "crossbar.cols": 4, "converters.adcs_per_array": 2,
                "converters.dac_bits": 2, "converters.adc_bits": 5, "precision.weight_bits": 8,
                "precision.weight_frac_bits": 0, "precision.input_bits": 4, "precision.error_bits": 4,
                "precision.update_slices": 6, "precision.update_slice_bits": 3,
                "crossbar.read_latency_ns": 3, "device.write_latency_ns": 2, "tile.opa_phase_ns": 5,
                "isa.units": 2, "isa.buffer_depth": 64, "isa.queue_depth": 4, VALUE_BITS: 0}


@dataclass(frozen=True)
class Block:
    """One exportable component: ``"module:Class"``, what it does, and its parameters."""

    component: str
    description: str
    params: PeripheryKind | Fields = PERIPHERY
    keyword: str = "params"
    skip_zero: bool = False     # takes ``periphery.skip_zero`` (zero skipping in its input streamer)

    def describe(self) -> str:
        """Its parameters, for ``crosstrain verilog --list``."""
        text = self.params.describe()
        return text[:-1] + f", {SKIP_ZERO})" if self.skip_zero else text

    def parameters(self, values: dict | None = None, preset: str | None = None):
        """The parameter object for typed ``{"dotted.name": value}`` values and a preset."""
        return self.params.parse(dict(values or {}), preset)

    def build(self, values: dict | None = None, preset: str | None = None):
        """The component; a constructor's ValueError/TypeError becomes a one-line ConfigError."""
        values = dict(values or {})
        kwargs = {}
        if self.skip_zero and SKIP_ZERO in values:
            kwargs["skip_zero"] = _flag(SKIP_ZERO, values.pop(SKIP_ZERO))
        p = self.parameters(values, preset)
        module, cls = self.component.split(":")
        kwargs |= p if isinstance(p, dict) else {self.keyword: p}
        try:
            return getattr(importlib.import_module(module), cls)(**kwargs)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{cls}: {e}") from None


def _flag(name: str, value) -> bool:
    """A switch given as true / false (or 1 / 0)."""
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise ConfigError(f"{name} = {value!r} is not allowed: true or false")


#: Exportable blocks by name; the name is also the Verilog top module's name.
BLOCKS: dict[str, Block] = {
    "deconv_addr": Block(
        "crosstrain.rtl.deconv_addr:DeconvAddressGenerator",
        "transposed-conv address generator: input pixels of each sub-kernel window, phase by phase",
        Fields(ConvTranspose, "convt",
               (("in_channels", 64), ("out_channels", 3), ("kernel", 4), ("stride", 2),
                ("padding", 1), ("height", 32), ("width", 32))),
        keyword="spec"),
    "write_elim": Block(
        "crosstrain.rtl.write_elim:WriteEliminator",
        "write-elimination comparator: significant elements, group write flags, counters",
        Fields(ComparatorParams, "comparator")),
    "input_streamer": Block(
        "crosstrain.rtl.input_streamer:InputStreamer",
        "input vectors to DAC step tokens (bit-serial, sign step last; zero skipping: "
        "periphery.skip_zero=true)",
        PERIPHERY, skip_zero=True),
    "adc_sequencer": Block(
        "crosstrain.rtl.adc_sequencer:AdcSequencer",
        "drives and samples each step, converts the held lines through the shared ADCs",
        PERIPHERY),
    "shift_add": Block(
        "crosstrain.rtl.shift_add:ShiftAdd",
        "accumulates ADC codes over steps and slices, sign step, offset / differential correction",
        PERIPHERY),
    "mvm_unit": Block(
        "crosstrain.rtl.mvm_unit:MvmUnit",
        "bit-sliced MVM / transposed MVM: streamer + ADC sequencer + shift-and-add, one crossbar port",
        PERIPHERY, skip_zero=True),
    "opa_driver": Block(
        "crosstrain.rtl.opa_driver:OpaDriver",
        "PANTHER outer-product update: row bits and 2-bit column pulse widths, four polarity phases",
        PERIPHERY),
    "crs_compose": Block(
        "crosstrain.rtl.crs_compose:CrsCompose",
        "carry resolution datapath: update-slice levels -> rounded weight, clean digits, copy levels",
        PERIPHERY),
    "crs_unit": Block(
        "crosstrain.rtl.crs_unit:CrsUnit",
        "carry resolution of one block: row reads, compose, row writes of update slices and copies",
        PERIPHERY),
    "graph_streamer": Block(
        "crosstrain.rtl.graph_streamer:GraphStreamer",
        "GraphR sub-block streamer: non-empty blocks in streaming order, edge and vertex fetch, "
        "row writes, MVM unit",
        StreamerKind()),
    "crossbar_unit": Block(
        "crosstrain.rtl.crossbar_unit:CrossbarUnit",
        "tile top: MVM / transposed MVM / OPA / CRS commands on one stream, one crossbar port",
        PERIPHERY),
    "tile": Block(
        "crosstrain.rtl.tile:Tile",
        "a tile: crossbar units on emulated arrays, a banked vector buffer and the operation "
        "scheduler running golden/isa.py programs from a stream",
        TileKind()),
    "selfcheck": Block(
        "crosstrain.rtl.selfcheck_top:SelfCheckTop",
        "self-checking top: a tile replays a training-step program from ROM and compares its "
        "buffer with golden values from a second ROM (passed / failed / done pins)",
        SelfCheckKind()),
    "axis_top": Block(
        "crosstrain.rtl.axis_top:AxisTop",
        "prototyping top: a tile behind AXI4-Stream ports (program words, buffer values in and "
        "out) and an AXI4-Lite register map (control, status, cycle and stall counters)",
        SelfCheckKind()),
    "crossbar_emulator": Block(
        "crosstrain.rtl.crossbar_emulator:CrossbarEmulator",
        "the arrays and ADCs of one block in block RAM behind the crossbar port (weights all zero)",
        PERIPHERY),
}


def block(name: str) -> Block:
    if name not in BLOCKS:
        raise ConfigError(f"unknown block {name!r}: use one of {', '.join(sorted(BLOCKS))} "
                        "(crosstrain verilog --list)")
    return BLOCKS[name]
