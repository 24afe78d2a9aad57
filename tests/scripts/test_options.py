"""crosstrain.options: the one grammar of command-line values (typing, aliases, bounds, echoes)."""

import argparse
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosstrain import options
from crosstrain.errors import UserError
from crosstrain.golden import config
from crosstrain.golden.periphery import periphery_params


@pytest.mark.parametrize("text, want", [
    ("64", 64), ("-3", -3), ("1_000", 1000), ("0.5", 0.5), ("1e3", 1000.0), ("true", True),
    ('"offset"', "offset"), ("'offset'", "offset"), ("offset", "offset"), ("differential", "differential"),
    ("[6, 6, 5]", (6, 6, 5)), ("[[1], [2]]", ((1,), (2,))), ("[]", ()), ("  7 ", 7),
    ("docs/x.toml", "docs/x.toml"), ("\u00b2", "\u00b2"), (str(2 ** 53), 2 ** 53),
])
def test_values_are_toml_literals_or_bare_words(text, want):
    got = options.value(text, "crossbar.rows")
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("text, needle", [
    ("", "crossbar.rows: no value after '='"),
    ("{a=1}", "crossbar.rows = '{a=1}': a table is not a value"),
    ("[{a=1}]", "a table is not a value"),
    ("nan", "crossbar.rows = 'nan': not a finite number"),
    ("-inf", "not a finite number"),
    ("[1, inf]", "not a finite number"),
    (str(2 ** 53 + 1), "too large, integers go up to 9,007,199,254,740,992"),
    ("9" * 5000, "crossbar.rows = '" + "9" * 57 + "...': too large"),
    ("[" * 999, "is not a value: give a TOML literal"),          # RecursionError in tomllib
    ("x" * 1001, "1,001 characters, at most 1,000"),
    ("1979-05-27", "a date or time is not a value"),
    ("1\nw = 2", "is not a value"),
    ("6,6,5", "is not a value: give a TOML literal such as 64, 0.5, true, \"offset\" or [6, 6, 5]"),
    ('"unterminated', "is not a value"),
])
def test_bad_values_are_one_line_errors(text, needle):
    with pytest.raises(UserError) as e:
        options.value(text, "crossbar.rows")
    msg = str(e.value)
    assert needle in msg and "\n" not in msg and len(msg) < 200


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_plain_value_or_a_user_error(text):
    try:
        v = options.value(text, "x.y")
    except UserError as e:
        assert "\n" not in str(e) and len(str(e)) < 300
        return

    def plain(x):
        if isinstance(x, tuple):
            return all(plain(i) for i in x)
        if isinstance(x, float):
            return math.isfinite(x)
        if isinstance(x, int):
            return abs(x) <= options.MAX_INT
        return isinstance(x, str)
    assert plain(v)
    hash(v)                                   # usable as a cache key


@pytest.mark.parametrize("text, lo, hi, want", [("5", 1, 9, 5), ("+5", 1, 9, 5), ("-3", -5, 5, -3), (" 7", 0, 9, 7)])
def test_integers(text, lo, hi, want):
    assert options.integer(text, "--n", lo, hi) == want


@pytest.mark.parametrize("text, needle", [
    ("0", "--n '0' is out of range: an integer from 1 to 9"),
    ("10", "out of range"),
    ("\u00b2", "--n '\u00b2': an integer from 1 to 9"),          # str.isdigit() says True
    ("\u0663", "--n '\u0663': an integer"),                      # Arabic-Indic three: int() takes it
    ("1_0", "an integer"), ("", "an integer"), ("1.0", "an integer"), ("0x5", "an integer"),
    ("9" * 5000, "--n '" + "9" * 57 + "...' is out of range"),
])
def test_bad_integers(text, needle):
    with pytest.raises(UserError) as e:
        options.integer(text, "--n", 1, 9)
    assert needle in str(e.value) and "inf" not in str(e.value)


def test_one_line_is_the_safety_net():
    long = "x" * 10_000
    msg = options.one_line(f"crossbar.encoding = '{long}' is not allowed:\n use \"offset\"")
    assert msg == f"crossbar.encoding = '{'x' * 57}...' is not allowed: use \"offset\""
    assert options.one_line("n = " + "9" * 5000 + " is too large") == f"n = {'9' * 57}... is too large"
    prose = "the estimate's cost.* and the block's own fields, 'a', " + "word " * 30
    assert options.one_line(prose) == prose.strip()
    assert len(options.one_line("a " * 5000)) == 1000


def parse(argv, groups=("hardware",), old=()):
    p = argparse.ArgumentParser()
    options.add_set(p, groups, old=old)
    return p.parse_args(argv)


def test_values_in_order_with_aliases():
    args = parse(["--set", "crossbar.rows=64", "--param", "cols=32", "--param", "update_slice_bits=6,6,5",
                  "--setting", "crossbar.rows=16", "--param", "out_width=40", "--param", "tile.clock_ghz=2"],
                 ("hardware", "periphery"), old=("--param", "--setting"))
    assert options.values(args, ("hardware", "periphery")) == {
        "crossbar.rows": 16, "crossbar.cols": 32, "precision.update_slice_bits": (6, 6, 5),
        "periphery.out_width": 40, "tile.clock_ghz": 2}
    args = parse(["--param", "lanes=4", "--set", "comparator.width=8"], ("comparator",), old=("--param",))
    assert options.values(args, ("comparator",), bare="comparator") == {"comparator.lanes": 4,
                                                                        "comparator.width": 8}


@pytest.mark.parametrize("argv, groups, needle", [
    (["--set", "rows=64"], ("hardware",), "--set 'rows=64': expected NAME=VALUE with a dotted NAME"),
    (["--set", "crossbar.rows"], ("hardware",), "--set 'crossbar.rows': expected NAME=VALUE"),
    (["--set", "=4"], ("hardware",), "expected NAME=VALUE"),
    (["--set", "crossbar..rows=4"], ("hardware",), "expected NAME=VALUE"),
    (["--set", "cost.duty=0.5"], ("hardware",), "--set 'cost.duty': not a name this command takes; use "
                                                "SECTION.FIELD of the configuration (device, crossbar"),
    (["--set", "crossbar.rows=64"], ("estimate",), "use the estimate's cost.*"),
    (["--param", "nope=1"], ("hardware",), "--param 'nope=1': expected KEY=VALUE with KEY one of adc_bits"),
    (["--param", "update_slice_bits=6,x"], ("hardware",), "--param precision.update_slice_bits item 'x'"),
])
def test_bad_names_are_one_line_errors(argv, groups, needle):
    args = parse(argv, groups, old=("--param",))
    with pytest.raises(UserError) as e:
        options.values(args, groups)
    assert needle in str(e.value)


def test_every_short_name_is_its_section_field():
    """--param's short names (the old spelling) set the same field as the dotted name."""
    other = dict(rows=64, cols=32, encoding="differential", read_latency_ns=50.0, bits_per_cell=4,
                 write_latency_ns=20.0, dac_bits=2, adc_bits=9, adcs_per_array=4, adc_mode="lossless",
                 weight_bits=20, weight_frac_bits=4, input_bits=8, error_bits=8, update_slices=20,
                 update_slice_bits=5, opa_shift=2, clock_ghz=2.0, opa_phase_ns=10.0, pipeline_cycles=3)
    # a lossless ADC must resolve 128 rows x 3; 16 update slices of 4-bit cells would compose a
    # 66-bit update weight (an int64 holds 62)
    needs = {"adc_mode": {"converters.adc_bits": 9}, "bits_per_cell": {"precision.update_slices": 8}}
    # the periphery's own fields are not configuration fields (tests/scripts/test_verilog_cmd.py)
    assert other.keys() | {"out_width", "skip_zero"} == options.SHORT_NAMES.keys()
    panther = config.load("panther")
    for short, value in other.items():
        path = options.SHORT_NAMES[short]
        args = parse(["--param", f"{short}={value}"], ("hardware",), old=("--param",))
        by_short = options.values(args, ("hardware",))
        assert by_short == {path: value}
        p = periphery_params(by_short | needs.get(short, {}))
        section, field = path.split(".")
        got = getattr(getattr(p.cfg, section), field)
        assert got == ((value,) if short == "update_slice_bits" else value), short
        assert got != getattr(getattr(panther, section), field), short


def test_estimate_settings_route_each_name():
    s = options.estimate_settings({"converters.adcs_per_array": 4, "cost.duty": 0.5,
                                   "link.tsv.latency_ns": 2, "mapper.acc_bits": 24}, batch=8)
    assert s.overrides == (("converters.adcs_per_array", 4),) and s.batch == 8
    assert (s.cost.duty, s.reg3d.link("tsv").latency_ns, s.acc_bits) == (0.5, 2.0, 24)
    assert s.hardware("preset").converters.adcs_per_array == 4
