"""``crosstrain presets``: list the built-in hardware presets."""

from crosstrain.golden import config
from crosstrain.output import add_json_flag, emit, table

NAME = "presets"
HELP = "list the built-in hardware presets"
ORDER = 20


def add_arguments(parser):
    add_json_flag(parser)


def run(args):
    rows, out = [], []
    for name in config.presets():
        c = config.load(name)
        rows.append([name, f"{c.crossbar.rows}x{c.crossbar.cols}", c.device.bits_per_cell,
                     c.precision.weight_bits, c.converters.dac_bits, c.converters.adc_bits,
                     c.converters.adcs_per_array, c.crossbar.encoding, c.tile.clock_ghz,
                     "reference accounting" if c.tile.accounting == "reference" else "rtl"])
        out.append(config.as_dict(c))
    text = table(["preset", "array", "bits/cell", "weight bits", "DAC bits", "ADC bits",
                  "ADCs/array", "encoding", "clock GHz", "schedule"], rows)
    emit(args, {"presets": out}, text + "\n\nShow one with: crosstrain config show NAME")
