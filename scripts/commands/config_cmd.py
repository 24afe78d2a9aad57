"""``crosstrain config show PRESET|FILE.toml [--set SECTION.FIELD=VALUE ...]``: the resolved
configuration."""

from crosstrain import options
from crosstrain.golden import config
from crosstrain.output import add_json_flag, emit, fmt

NAME = "config"
HELP = "show the resolved values of a preset or a user TOML file"
ORDER = 21


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print every resolved value")
    show.add_argument("preset", metavar="PRESET|FILE.toml")
    options.add_set(show, ("hardware",), example="converters.adcs_per_array=4")
    add_json_flag(show)


def run(args):
    cfg = options.configuration(args)
    d = config.as_dict(cfg)
    lines = [f"# {cfg.name}  (derived: {cfg.weight_slices} weight slices, {cfg.arrays_per_block} "
             f"arrays per block, {cfg.input_steps} input steps, lossless ADC needs "
             f"{cfg.lossless_adc_bits} bits)"]
    for section, values in d.items():
        if section == "parts":
            lines.append("[[parts]]  (per core / tile: count, area mm2, power mW, leakage mW, pJ per event)")
            lines += [f"  {q['name']:<22} {q['per']:<5} {fmt(q['count'])} {fmt(q['area_mm2'])} "
                      f"{fmt(q['power_mw'])} {fmt(q['leakage_mw'])} {fmt(q['energy_pj'])} {q['event']}"
                      for q in values]
        elif section != "name":
            lines.append(f"[{section}]")
            lines += [f"  {k:<22} {fmt(v)}" for k, v in values.items()]
    emit(args, d, "\n".join(lines))
