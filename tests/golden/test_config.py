import pytest

from crosstrain.golden import config
from crosstrain.golden.config import ConfigError


@pytest.mark.parametrize("name", config.presets())
def test_presets_load_and_are_cited(name):
    cfg = config.load(name)
    assert cfg.name == name
    text = (config.PRESET_DIR / f"{name}.toml").read_text()
    # every value line carries a source or an [assumption] tag
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"{name}.toml: uncited value: {line!r}"


def test_isaac_numbers_from_reference():
    c = config.load("isaac")
    assert (c.crossbar.rows, c.crossbar.cols, c.device.bits_per_cell) == (128, 128, 2)
    assert c.weight_slices == 8 and c.input_steps == 16
    assert c.lossless_adc_bits == 9          # ISAAC's rule log2(128) + 1 + 2 - 1 = 9


@pytest.mark.parametrize("override, field", [
    ({"crossbar.rows": 0}, "crossbar.rows"),
    ({"crossbar.cols": -4}, "crossbar.cols"),
    ({"device.bits_per_cell": 3}, "precision.weight_bits"),
    ({"converters.adc_mode": "lossless"}, "converters.adc_bits"),
    ({"converters.adc_mode": "exact"}, "converters.adc_mode"),
    ({"crossbar.encoding": "twos"}, "crossbar.encoding"),
    ({"crossbar.rows": 1.5}, "crossbar.rows"),
    ({"crossbar.rows": True}, "crossbar.rows"),
    ({"converters.adc_lsb": 0}, "converters.adc_lsb"),
    ({"device.g_off_us": 600.0}, "device.g_off_us"),
    ({"precision.update_slice_bits": [6, 6, 6]}, "precision.update_slice_bits"),
    ({"precision.update_slice_bits": [1]}, "precision.update_slice_bits"),
    ({"precision.update_slices": 4}, "precision.update_slices"),
    ({"converters.dac_bits": 16}, "converters.dac_bits"),
    ({"nonideal.stuck_on_fraction": 1.5}, "nonideal.stuck_on_fraction"),
    ({"nonideal.read_sigma": -0.1}, "nonideal.read_sigma"),
    ({"crossbar.bogus": 1}, "crossbar.bogus"),
    ({"bogus.rows": 1}, "bogus"),
])
def test_bad_values_name_the_field(override, field):
    with pytest.raises(ConfigError) as e:
        config.load("panther").with_overrides(override)
    msg = str(e.value)
    assert field in msg and "\n" not in msg


def test_lossless_accepts_wide_enough_adc():
    c = config.load("panther").with_overrides({"converters.adc_mode": "lossless", "converters.adc_bits": 9})
    assert c.converters.adc_bits == 9


def test_user_file_starts_from_preset(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('base = "panther"\n[converters]\nadc_bits = 10\nadcs_per_array = 4\n')
    c = config.load(f)
    assert c.converters.adc_bits == 10 and c.converters.adcs_per_array == 4
    assert c.crossbar.rows == 128 and c.name == "panther+mine"


def test_parse_error_reports_line(tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text('[crossbar]\nrows = 128\ncols = = 3\n')
    with pytest.raises(ConfigError, match=r"line 3"):
        config.load(f)


def test_unknown_preset_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="presets are"):
        config.load("nosuch")
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "absent.toml")


def test_base_loop_is_reported(tmp_path):
    (tmp_path / "a.toml").write_text('base = "b.toml"\n')
    (tmp_path / "b.toml").write_text('base = "a.toml"\n')
    with pytest.raises(ConfigError, match="loops"):
        config.load(tmp_path / "a.toml")


def test_as_dict_round_trips_through_overrides():
    c = config.load("isaac")
    d = config.as_dict(c)
    again = config.HardwareConfig().with_overrides({k: v for k, v in d.items() if k != "name"})
    assert config.as_dict(again) | {"name": "isaac"} == d
