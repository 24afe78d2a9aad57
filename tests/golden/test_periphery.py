"""crosstrain.golden.periphery.PeripheryParams: typed overrides, JSON round trip, the output width, errors."""

import json

import numpy as np
import pytest

from crosstrain.golden import config, crossbar, encoding
from crosstrain.golden.config import ConfigError
from crosstrain.golden.periphery import PeripheryParams, periphery_params

CONFIGS = [
    ("panther", {}), ("pipelayer", {}),
    ("panther", {"crossbar.encoding": "differential"}),
    ("panther", {"converters.dac_bits": 2, "converters.adc_bits": 6}),
    ("panther", {"crossbar.rows": 16, "crossbar.cols": 48, "converters.adcs_per_array": 4,
                 "converters.adc_bits": 5}),
    ("panther", {"device.bits_per_cell": 4, "precision.weight_bits": 8, "precision.weight_frac_bits": 4,
                 "precision.input_bits": 8, "crossbar.encoding": "differential",
                 "precision.update_slices": 8}),   # 16 slices of 4-bit cells: a 66-bit weight
    ("isaac", {"converters.dac_bits": 3, "precision.input_bits": 9}),
]


def test_overrides_change_exactly_their_fields():
    base = config.as_dict(config.load("panther"))
    p = periphery_params({"crossbar.rows": 64, "converters.adc_bits": 9, "precision.update_slice_bits": 5})
    got = config.as_dict(p.cfg)
    changed = {(s, f) for s in base if s not in ("name", "parts") for f in base[s] if got[s][f] != base[s][f]}
    assert got["parts"] == base["parts"]
    assert changed == {("crossbar", "rows"), ("converters", "adc_bits"), ("precision", "update_slice_bits")}
    assert (p.rows, p.adc_bits, p.cfg.precision.update_slice_bits) == (64, 9, (5,))


def test_nested_form_and_preset_file(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('base = "isaac"\n[converters]\nadc_bits = 7\n')
    p = periphery_params({"converters": {"adcs_per_array": 2}, "converters.dac_bits": 2}, preset=str(f))
    assert (p.adc_bits, p.adcs_per_array, p.dac_bits) == (7, 2, 2)
    assert p == periphery_params({"converters.adcs_per_array": 2, "converters.dac_bits": 2}, preset=str(f))


@pytest.mark.parametrize("preset, overrides, out_width", [(*c, 0) for c in CONFIGS] + [("panther", {}, 48)])
def test_round_trip_through_json(preset, overrides, out_width):
    p = periphery_params(overrides, preset=preset, out_width=out_width)
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


@pytest.mark.parametrize("preset, overrides", CONFIGS)
def test_out_width_holds_every_output_and_is_at_most_one_bit_loose(preset, overrides):
    p = periphery_params(overrides, preset=preset)
    lo, hi = output_range(p)
    y = extreme_outputs(p)
    assert lo <= y.min() and y.max() <= hi, "the bound is not a bound"
    assert signed_bits(int(y.min()), int(y.max())) <= p.out_width
    need = signed_bits(lo, hi)
    assert need <= p.min_out_width == p.out_width <= need + 1, (need, p.out_width)


def test_clipping_reaches_the_sign_step_bound():
    """All-max weights and the most negative inputs drive every ADC to full scale on the sign step."""
    p = periphery_params({"crossbar.rows": 16, "crossbar.cols": 16, "converters.adc_bits": 5})  # clips
    y = extreme_outputs(p)
    half = 1 << (p.input_bits - 1)
    per_set = sum(1 << (p.bits_per_cell * k) for k in range(p.weight_slices))
    full_scale = -half * p.cfg.adc_max_code * per_set + encoding.weight_offset(p.cfg) * half * p.rows
    assert full_scale in y


def test_explicit_out_width_is_kept_when_wide_enough():
    p = periphery_params(out_width=64)
    assert p.out_width == 64 and p.min_out_width < 64


@pytest.mark.parametrize("overrides, out_width, needle", [
    ({"crossbar.rows": 0}, 0, "crossbar.rows = 0"),
    ({"crossbar.cols": -4}, 0, "crossbar.cols = -4"),
    ({"crossbar.rows": 2.5}, 0, "crossbar.rows = 2.5"),
    ({"crossbar.rows": "16"}, 0, "crossbar.rows = '16'"),
    ({"converters.adcs_per_array": 0}, 0, "converters.adcs_per_array = 0"),
    ({"converters.dac_bits": 0}, 0, "converters.dac_bits = 0"),
    ({"precision.weight_bits": 0}, 0, "precision.weight_bits = 0"),
    ({"device.bits_per_cell": 3}, 0,
     "precision.weight_bits = 16 is not allowed: must be a multiple of device.bits_per_cell"),
    ({"converters.adc_bits": 40}, 0, "converters.adc_bits = 40"),
    ({"converters.adc_mode": "lossless"}, 0, "converters.adc_bits = 8"),
    ({"crossbar.encoding": "triple"}, 0, "crossbar.encoding = 'triple'"),
    ({"converters.adc_lsb": 0.5}, 0, "converters.adc_lsb = 0.5 is not allowed in RTL"),
    ({}, 10, "out_width = 10 is too narrow: the output path needs 40 bits for adc_bits=8"),
    ({"converters.adc_bits": 12}, 40, "out_width = 40 is too narrow"),
    ({}, -1, "out_width = -1 is not allowed: 0 (the width the outputs need) up to 128"),
    ({}, "wide", "out_width = 'wide' is not allowed"),
    ({}, True, "out_width = True is not allowed"),
    ({"precision.update_slice_bits": ("a", "b")}, 0, "precision.update_slice_bits = ('a', 'b')"),
    ({"crossbar.nope": 1}, 0, "unknown field crossbar.nope"),
    ({"crossbar.rows": 8192}, 0, "crossbar.rows = 8192 is not allowed in RTL: 1 to 4096"),
    ({"crossbar.cols": 4097}, 0, "crossbar.cols = 4097 is not allowed in RTL: 1 to 4096"),
    ({"tile.pipeline_cycles": 65}, 0, "tile.pipeline_cycles = 65 is not allowed in RTL: 0 to 64"),
    ({}, 129, "out_width = 129 is not allowed: 0 (the width the outputs need) up to 128"),
])
def test_each_bad_parameter_is_one_line_naming_it(overrides, out_width, needle):
    with pytest.raises(ConfigError) as e:
        periphery_params(overrides, out_width=out_width)
    msg = str(e.value)
    assert needle in msg and "\n" not in msg



def test_the_rtl_refuses_a_reference_accounting():
    # panther-sim costs time as PANTHER's simulator does; no RTL runs that schedule
    with pytest.raises(ConfigError, match="tile.accounting = 'reference' is not allowed in RTL") as e:
        PeripheryParams(config.load("panther-sim"))
    assert "\n" not in str(e.value)
    PeripheryParams(config.load("panther"))                   # RTL-backed


def test_rtl_limits_themselves_are_allowed():
    p = periphery_params({"crossbar.rows": 4096, "crossbar.cols": 4096, "tile.pipeline_cycles": 64},
                         out_width=128)
    assert (p.rows, p.cols, p.pipeline_cycles, p.out_width) == (4096, 4096, 64, 128)
    # a wide configuration within the configuration's int64 bounds still fits the widest out_width
    wide = periphery_params({"crossbar.rows": 4096, "crossbar.cols": 4096, "device.bits_per_cell": 1,
                             "precision.weight_bits": 24, "precision.input_bits": 26,
                             "precision.error_bits": 26, "converters.adc_bits": 24,
                             "converters.dac_bits": 1, "crossbar.encoding": "differential",
                             "precision.update_slices": 24, "precision.opa_shift": 28})
    assert wide.min_out_width <= 128
