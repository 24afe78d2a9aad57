"""Reading users' files: UTF-8 and size errors, TOML errors at FILE:LINE:COLUMN, key locations,
values shortened for messages. Every position below is counted by hand from the text."""

import pytest

from crosstrain.golden.userinput import (
    MAX_FILE_BYTES,
    TomlLocator,
    load_toml,
    read_text,
    shown,
    shown_path,
)


class Oops(ValueError):
    pass


def err(fn, *args) -> str:
    with pytest.raises(Oops) as e:
        fn(*args)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_shown_cuts_long_values_and_describes_huge_integers():
    assert shown("abc") == "'abc'" and shown(1.5) == "1.5"
    long = shown("x" * 10_000)
    assert long == "'" + "x" * 57 + "...'"                         # cut inside the quotes
    assert shown(list(range(100))) == repr(list(range(100)))[:57] + "..."
    assert shown(10 ** 400 - 1) == "<an integer of about 400 digits>"   # 400 nines
    assert shown(2 ** 64) == "18446744073709551616"
    assert shown_path("a/b.toml") == "a/b.toml"
    tail = shown_path("d/" * 200 + "mine.toml")
    assert tail.startswith("…") and tail.endswith("d/mine.toml") and len(tail) == 120


def test_read_text_locates_bytes_that_are_not_utf8(tmp_path):
    f = tmp_path / "b.toml"
    f.write_bytes(b'a = 1\nname = "\xff"\n')
    assert err(read_text, f, Oops) == f"{f}:2:9: byte 0xff is not UTF-8 text; save the file as UTF-8"
    f.write_bytes('name = "é"\n'.encode())
    assert read_text(f, Oops) == 'name = "é"\n'


def test_read_text_refuses_missing_huge_and_nul_paths(tmp_path):
    assert "cannot read file" in err(read_text, tmp_path / "absent.toml", Oops)
    assert "cannot read configuration file" in err(read_text, tmp_path, Oops, "configuration file")
    assert "cannot read" in err(read_text, tmp_path / "a\0b", Oops)
    big = tmp_path / "big.csv"
    big.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    assert err(read_text, big, Oops).endswith("larger than 16 MiB: not a file written by hand")


@pytest.mark.parametrize("text, where, needle", [
    ("a = 1\nb = = 2\n", "2:5", "Invalid value"),
    ("a = 1\nb = ", "2:4", "Invalid value"),                    # end of document: after "b ="
    ("[x]\n[x]\n", "2:3", "Cannot declare x twice"),            # tomllib says ('x',)
    ("a = 1 2\n", "1:7", "Expected newline or end of document after a statement"),
    ("x = " + "[" * 5000, "1:105", "nested more than 100 levels deep"),   # the 101st bracket
    ("n = 1\nrows = " + "7" * 5000 + "\n", "2:8", "an integer of more than 4,300 digits"),
])
def test_toml_errors_name_file_line_column(text, where, needle):
    msg = err(load_toml, text, "f.toml", Oops)
    assert msg.startswith(f"f.toml:{where}: ") and needle in msg, msg
    assert "(at " not in msg


TEXT = """\
name = "n"
crossbar.rows = 4
tile = { clock_ghz = 2.0, area_mm2 = 1.0 }

[device]
  bits_per_cell = 2
"g_on_us" = 5.0

[[layer]]
kernel = 3

[[layer]]
type = "fc"
kernel=1
"""


@pytest.mark.parametrize("key, table, index, want", [
    ("name", None, 0, (1, 1, 8)),
    ("rows", "crossbar", 0, (2, 1, 17)),                 # dotted key at the top level
    ("area_mm2", "tile", 0, (3, 27, 38)),                # inside an inline table
    ("bits_per_cell", "device", 0, (6, 3, 19)),
    ("g_on_us", "device", 0, (7, 1, 13)),                # quoted key
    ("kernel", "layer", 0, (10, 1, 10)),
    ("kernel", "layer", 1, (14, 1, 8)),
    ("clock_ghz", "device", 0, None),
    ("type", "layer", 0, None),
])
def test_locator_finds_keys_in_tables(key, table, index, want):
    assert TomlLocator(TEXT).find(key, table, index) == want


def test_locator_falls_back_to_the_table_header_then_the_start():
    at = TomlLocator(TEXT)
    assert at.key("type", "layer", 0) == "9:1" and at.key("type", "layer", 1) == "13:8"
    assert at.key("kernel", "layer", 1, value=False) == "14:1"
    assert at.key("colour", "layer", 5) == "1:1" and at.key("colour") == "1:1"
    assert at.table("device") == "5:1" and at.table("tile") is None
