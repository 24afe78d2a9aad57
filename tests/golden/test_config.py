from dataclasses import fields

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
    with pytest.raises(ConfigError, match=r"broken.toml:3:8: TOML syntax error: Invalid value$"):
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


def _numeric_fields():
    cfg = config.HardwareConfig()
    for section in ("device", "crossbar", "converters", "precision", "tile", "nonideal"):
        for f in fields(getattr(cfg, section)):
            value = getattr(getattr(cfg, section), f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                yield f"{section}.{f.name}", value


def _rejected(override) -> str:
    with pytest.raises(ConfigError) as e:
        config.load("panther").with_overrides(override)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 300, msg
    return msg


@pytest.mark.parametrize("path, default", list(_numeric_fields()))
def test_every_numeric_field_has_a_physical_range(path, default):
    """Absurd magnitudes, negatives and non-finite numbers are one line naming the field."""
    bad = [-1, 10 ** 30] if isinstance(default, int) else [-1.0, 1e308, float("inf"), float("nan")]
    for value in bad:
        assert _rejected({path: value}).startswith(f"{path} = "), (path, value)


def test_the_issue_examples_are_rejected():
    assert "tile.clock_ghz = 1e+308" in _rejected({"tile.clock_ghz": 1e308})
    assert "crossbar.read_latency_ns" in _rejected({"crossbar.read_latency_ns": 1e300})
    assert "converters.adc_leakage_mw" in _rejected({"converters.adc_leakage_mw": 1e308})
    assert "nonideal.seed = -1" in _rejected({"nonideal.seed": -1})
    # a read at 5 V would program the cell (writes take 2-4 V, reference sheet s.2)
    assert "device.read_voltage_v = 5.0" in _rejected({"device.read_voltage_v": 5.0})
    assert "device.read_voltage_v" in _rejected({"device.read_voltage_v": 0})
    assert config.load("panther").with_overrides({"device.read_voltage_v": 0.5})
    # a 400-digit integer where a number is expected is not reported as inf
    msg = _rejected({"tile.clock_ghz": 10 ** 400})
    assert "about 400 digits" in msg and "inf" not in msg
    assert "precision.update_slice_bits" in _rejected({"precision.update_slice_bits": [10 ** 30]})


def test_energies_are_zero_or_physical():
    """0 means not modelled; a non-zero energy below Landauer's kT ln 2 (2.9e-21 J) is not."""
    assert config.load("panther").with_overrides({"converters.adc_leakage_mw": 0,
                                                  "device.write_energy_pj": 0})
    assert "0 (none) or" in _rejected({"device.write_energy_pj": 1e-30})


def test_bit_widths_keep_exact_results_in_int64():
    # 32-bit weights x 32-bit inputs summed over 128 rows need 32 + 32 + 7 = 71 bits
    msg = _rejected({"precision.weight_bits": 32, "precision.input_bits": 32,
                     "precision.weight_frac_bits": 0})
    assert msg.startswith("precision.input_bits = 32") and "71 bits" in msg
    # 32 update slices of 2-bit cells with 6-bit headroom: 31 x 2 + 6 = 68 bits
    msg = _rejected({"precision.update_slices": 32})
    assert msg.startswith("precision.update_slices = 32") and "68 bits" in msg


def _file_error(tmp_path, text, name="f.toml") -> str:
    f = tmp_path / name
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as e:
        config.load(f)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(f) + ":"), msg
    return msg[len(str(f)):]


@pytest.mark.parametrize("text, where_what", [
    ('base = "panther"\n[tile]\nclock_ghz = 1e308\n', ":3:13: tile.clock_ghz = 1e+308 is not allowed"),
    ('base = "panther"\nconverters.adc_leakage_mw = 1e308\n', ":2:29: converters.adc_leakage_mw"),
    ('base = "panther"\ncrossbar = { rows = 0 }\n', ":2:21: crossbar.rows = 0"),
    ('[crossbar]\nrows = 8\ncols = 8\n\n[converters]\nadcs_per_array = 100\n',
     ":6:18: converters.adcs_per_array"),
    # the check names weight_bits; the file set bits_per_cell, so that is where it points
    ('[device]\nbits_per_cell = 3\n', ":2:17: precision.weight_bits = 16"),
    ('[crossbar]\ncolour = 1\n', ":2:10: unknown field crossbar.colour"),
    ('[colour]\nred = 1\n', ":1:1: unknown section 'colour'"),
    ('base = 3\n', ":1:8: base = 3 is not allowed"),
    ('name = "a"\n[crossbar]\nrows = = 3\n', ":3:8: TOML syntax error: Invalid value"),
    (b'name = "\xff"\n', ":1:9: byte 0xff is not UTF-8 text"),
    ("x = " + "[" * 3000 + "]" * 3000 + "\n", ":1:105: TOML nested more than 100 levels deep"),
    ("[crossbar]\nrows = " + "9" * 5000 + "\n", ":2:8: an integer of more than 4,300 digits"),
])
def test_file_errors_name_the_line_and_column(tmp_path, text, where_what):
    assert _file_error(tmp_path, text).startswith(where_what)


def test_a_base_loop_spelled_differently_is_found(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "self.toml").write_text('base = "sub/../self.toml"\n')
    with pytest.raises(ConfigError, match=r"self.toml:1:8: base = 'sub/../self.toml' loops back"):
        config.load(tmp_path / "self.toml")


def test_base_chains_are_bounded(tmp_path):
    def chain(n):
        for i in range(n):
            nxt = f'"c{i + 1}.toml"' if i < n - 1 else '"panther"'
            (tmp_path / f"c{i}.toml").write_text(f"base = {nxt}\n")
        return tmp_path / "c0.toml"
    assert config.load(chain(config.MAX_BASE_DEPTH)).crossbar.rows == 128
    with pytest.raises(ConfigError, match=f"more than {config.MAX_BASE_DEPTH} files chained"):
        config.load(chain(1500))


@pytest.mark.parametrize("field", ["count", "area_mm2", "power_mw", "leakage_mw", "energy_pj"])
def test_every_numeric_part_field_has_a_physical_range(field):
    """A part's numbers are checked as the sections' are, named parts.NAME.FIELD."""
    for value in (-1.0, 1e308, float("inf"), float("nan"), "1", True):
        assert _rejected({f"parts.alu.{field}": value}).startswith(f"parts.alu.{field} = "), value
    assert "0 (none) or" in _rejected({"parts.alu.energy_pj": 1e-30})       # below Landauer
    assert config.load("panther").with_overrides({"parts.alu.energy_pj": 0}).parts[0].energy_pj == 0
    assert config.load("panther").with_overrides({"parts": {"alu": {"count": 2}}}).parts[0].count == 2


def test_parts_and_tile_structure_are_checked():
    assert _rejected({"tile.cores_per_tile": 7}).startswith("tile.cores_per_tile = 7")   # 128 arrays
    assert _rejected({"tile.accounting": "ideal"}).startswith("tile.accounting = 'ideal'")
    assert _rejected({"parts.alu.per": "chip"}).startswith("parts.alu.per = 'chip'")
    assert _rejected({"parts.alu.event": "flops"}).startswith("parts.alu.event = 'flops'")
    assert _rejected({"parts.nope.energy_pj": 1.0}).startswith("unknown part 'nope'")
    assert _rejected({"parts.alu.colour": 1}).startswith("unknown field parts.alu.colour")
    two = [{"name": "a"}, {"name": "a"}]
    assert _rejected({"parts": two}).startswith("parts[1].name = 'a'")
    assert _rejected({"parts": [{"name": "x" * 65}]}).startswith("parts[0].name = ")
    assert _rejected({"parts": [3]}).startswith("parts[0] = 3")


@pytest.mark.parametrize("text, where_what", [
    ('base = "panther"\n[[parts]]\nname = "a"\n[[parts]]\nname = "b"\ncount = -1\n',
     ":6:9: parts.b.count = -1.0 is not allowed"),
    ('base = "panther"\n[[parts]]\nname = "a"\nenergy_pj = "big"\n',
     ":4:13: parts[0].energy_pj = 'big' is not allowed"),
    ('base = "panther"\nparts = [\n  { name = "a", per = "die" },\n]\n',
     ":2:9: parts.a.per = 'die' is not allowed"),
    ('base = "panther"\n[parts.alu]\nenergy_pj = 1e99\n', ":3:13: parts.alu.energy_pj = 1e+99 is not allowed"),
    ('base = "panther"\n[tile]\narrays_per_tile = 96\ncores_per_tile = 7\n',
     ":4:18: tile.cores_per_tile = 7 is not allowed"),
])
def test_part_errors_in_files_name_the_line_and_column(tmp_path, text, where_what):
    assert _file_error(tmp_path, text).startswith(where_what)
