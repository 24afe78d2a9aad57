"""crosstrain.golden.periphery.PeripheryParams: --param names, JSON round trip, the output width, errors."""

import json

import numpy as np
import pytest

from crosstrain.golden import config, crossbar, encoding
from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import SHORT_NAMES, PeripheryParams, from_params

# a valid value, different from panther's, for every short name
OTHER = dict(rows=64, cols=32, encoding="differential", read_latency_ns=50.0, bits_per_cell=4,
             write_latency_ns=20.0, dac_bits=2, adc_bits=9, adcs_per_array=4, adc_mode="lossless",
             weight_bits=20, weight_frac_bits=4, input_bits=8, error_bits=8, update_slices=20,
             update_slice_bits=5, opa_shift=2, clock_ghz=2.0, opa_phase_ns=10.0, pipeline_cycles=3)
NEEDS = {"adc_mode": ["adc_bits=9"]}   # a lossless ADC must resolve 128 rows x 3

CONFIGS = [
    ("panther", []), ("pipelayer", []),
    ("panther", ["encoding=differential"]),
    ("panther", ["dac_bits=2", "adc_bits=6"]),
    ("panther", ["rows=16", "cols=48", "adcs_per_array=4", "adc_bits=5"]),
    ("panther", ["bits_per_cell=4", "weight_bits=8", "weight_frac_bits=4", "input_bits=8",
                 "encoding=differential"]),
    ("isaac", ["dac_bits=3", "input_bits=9"]),
]


def test_every_short_name_is_its_section_field():
    assert OTHER.keys() == SHORT_NAMES.keys()
    for short, path in SHORT_NAMES.items():
        section, field = path.split(".")
        by_short = from_params([f"{short}={OTHER[short]}", *NEEDS.get(short, [])])
        by_path = from_params([f"{path}={OTHER[short]}", *NEEDS.get(short, [])])
        assert by_short == by_path, short
        got = getattr(getattr(by_short.cfg, section), field)
        want = OTHER[short]
        assert got == ((want,) if short == "update_slice_bits" else want), short
        assert got != getattr(getattr(config.load("panther"), section), field), short


def test_dict_form_and_preset_file(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('base = "isaac"\n[converters]\nadc_bits = 7\n')
    p = from_params({"adcs_per_array": 2, "converters.dac_bits": 2}, preset=str(f))
    assert (p.adc_bits, p.adcs_per_array, p.dac_bits) == (7, 2, 2)
    assert p == from_params(["adcs_per_array=2", "converters.dac_bits=2"], preset=str(f))


@pytest.mark.parametrize("preset, pairs", CONFIGS + [("panther", ["out_width=48"])])
def test_round_trip_through_json(preset, pairs):
    p = from_params(pairs, preset=preset)
    back = PeripheryParams.from_dict(json.loads(json.dumps(p.as_dict())))
    assert back == p and back.out_width == p.out_width
    assert config.as_dict(back.cfg) == config.as_dict(p.cfg)


def output_range(p: PeripheryParams) -> tuple[int, int]:
    """Smallest and largest output of the shift-and-add, from the encoding's own coefficients:
    any ADC code 0..adc_max per (input step, array), minus the offset bias times any input sum."""
    cfg = p.cfg
    coef = encoding.step_coefficients(cfg)
    _, sign, shift = encoding.slice_weights(np.zeros((1, 1), np.int64), cfg)
    terms = np.outer(coef, sign << shift) * cfg.adc_max_code
    lines = max(p.rows, p.cols)
    half = 1 << (p.input_bits - 1)
    off = encoding.weight_offset(cfg)
    return (int(terms[terms < 0].sum()) - off * (half - 1) * lines,
            int(terms[terms > 0].sum()) + off * half * lines)


def extreme_outputs(p: PeripheryParams) -> np.ndarray:
    """crosstrain.golden.crossbar.sliced_mvm (every step converted, ADC clipping) of extreme weights and inputs."""
    cfg = p.cfg
    wmax, xmax = (1 << (p.weight_bits - 1)) - 1, (1 << (p.input_bits - 1)) - 1
    checker = np.indices((p.rows, p.cols)).sum(axis=0) % 2
    weights = [np.full((p.rows, p.cols), v) for v in (wmax, -wmax - 1, 0, -1)]
    weights += [np.where(checker, wmax, -wmax - 1)]
    xs = np.array([np.full(n, v) for n in (p.rows,) for v in (xmax, -xmax - 1, 0, -1)]
                  + [np.where(np.arange(p.rows) % 2, xmax, -xmax - 1)])
    xt = np.array([np.resize(x, p.cols) for x in xs])
    out = []
    for w in weights:
        levels, sign, shift = encoding.slice_weights(w, cfg)
        out.append(crossbar.sliced_mvm(levels, sign, shift, xs, cfg))
        out.append(crossbar.sliced_mvm(levels, sign, shift, xt, cfg, transposed=True))
    return np.concatenate([o.ravel() for o in out])


def signed_bits(lo: int, hi: int) -> int:
    return max((-lo - 1).bit_length(), hi.bit_length()) + 1


@pytest.mark.parametrize("preset, pairs", CONFIGS)
def test_out_width_holds_every_output_and_is_at_most_one_bit_loose(preset, pairs):
    p = from_params(pairs, preset=preset)
    lo, hi = output_range(p)
    y = extreme_outputs(p)
    assert lo <= y.min() and y.max() <= hi, "the bound is not a bound"
    assert signed_bits(int(y.min()), int(y.max())) <= p.out_width
    need = signed_bits(lo, hi)
    assert need <= p.min_out_width == p.out_width <= need + 1, (need, p.out_width)


def test_clipping_reaches_the_sign_step_bound():
    """All-max weights and the most negative inputs drive every ADC to full scale on the sign step."""
    p = from_params(["rows=16", "cols=16", "adc_bits=5"])       # 16 rows x level 3 > 31: clips
    y = extreme_outputs(p)
    half = 1 << (p.input_bits - 1)
    per_set = sum(1 << (p.bits_per_cell * k) for k in range(p.weight_slices))
    full_scale = -half * p.cfg.adc_max_code * per_set + encoding.weight_offset(p.cfg) * half * p.rows
    assert full_scale in y


def test_explicit_out_width_is_kept_when_wide_enough():
    p = from_params(["out_width=64"])
    assert p.out_width == 64 and p.min_out_width < 64


@pytest.mark.parametrize("pairs, needle", [
    (["rows=0"], "crossbar.rows = 0"),
    (["cols=-4"], "crossbar.cols = -4"),
    (["rows=2.5"], "crossbar.rows = 2.5"),
    (["adcs_per_array=0"], "converters.adcs_per_array = 0"),
    (["dac_bits=0"], "converters.dac_bits = 0"),
    (["weight_bits=0"], "precision.weight_bits = 0"),
    (["bits_per_cell=3"], "precision.weight_bits = 16 is not allowed: must be a multiple of device.bits_per_cell"),
    (["adc_bits=40"], "converters.adc_bits = 40"),
    (["adc_mode=lossless"], "converters.adc_bits = 8"),
    (["encoding=triple"], "crossbar.encoding = 'triple'"),
    (["converters.adc_lsb=0.5"], "converters.adc_lsb = 0.5 is not allowed in RTL"),
    (["out_width=10"], "out_width = 10 is too narrow: the output path needs 40 bits for adc_bits=8"),
    (["adc_bits=12", "out_width=40"], "out_width = 40 is too narrow"),
    (["out_width=0"], "out_width = 0"),
    (["out_width=wide"], "out_width = 'wide'"),
    (["update_slice_bits=a,b"], "update_slice_bits = 'a,b' is not a comma-separated list"),
    (["nope=1"], "unknown parameter 'nope': use one of adc_bits"),
    (["crossbar.nope=1"], "unknown field crossbar.nope"),
    (["adc_bits"], "parameter 'adc_bits' is not KEY=VALUE"),
])
def test_each_bad_parameter_is_one_line_naming_it(pairs, needle):
    with pytest.raises(ConfigError) as e:
        from_params(pairs)
    msg = str(e.value)
    assert needle in msg and "\n" not in msg



def test_the_rtl_refuses_a_reference_accounting():
    # panther-sim costs time as PANTHER's simulator does; no RTL runs that schedule
    with pytest.raises(ConfigError, match="tile.accounting = 'reference' is not allowed in RTL") as e:
        PeripheryParams(config.load("panther-sim"))
    assert "\n" not in str(e.value)
    PeripheryParams(config.load("panther"))                   # RTL-backed
