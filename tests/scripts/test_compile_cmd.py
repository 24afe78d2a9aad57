"""``crosstrain compile``: the binary and the listing agree, counts follow from the layer's shape,
one-line errors."""

import json
import re

import pytest

from crosstrain.cli import main
from crosstrain.golden import isa

NET = """\
name = "toy"
input = [4, 6, 6]

[[layer]]
name = "c1"
type = "conv"
out_ch = 4
kernel = 3
padding = 1

[[layer]]
name = "up"
type = "tconv"
out_ch = 3
kernel = 4
stride = 2
padding = 1
"""
SMALL = ["--set", "crossbar.rows=16", "--set", "crossbar.cols=16"]


@pytest.fixture
def net(tmp_path):
    p = tmp_path / "toy.toml"
    p.write_text(NET)
    return str(p)


def compile_json(capsys, tmp_path, *args):
    assert main(["compile", *args, "-o", str(tmp_path / "p.bin"), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_conv_program_binary_and_listing(capsys, tmp_path, net):
    d = compile_json(capsys, tmp_path, "--network", net, "--layer", "c1", "--batch", "2", *SMALL)
    # im2col: 3*3*4 = 36 rows x 4 columns on 16 x 16 arrays: 3 row blocks, one unit each
    assert d["units_used"] == d["tile"]["units"] == 3
    assert d["regions"] == [{"gemm": 0, "group": 0, "rows": 36, "cols": 4, "vectors": 2 * 36,
                             "base": 0, "stride": 2 * 40, "weights": 2 * 36 * 2 * 40}]
    tile = isa.TileParams(**d["tile"])
    words = isa.disassemble((tmp_path / "p.bin").read_bytes(), tile)
    assert d["bytes"] == 8 * len(words) == 8 * d["words"]
    listed = (tmp_path / "p.lst").read_text().splitlines()
    assert [line.split(None, 2)[2] for line in listed] == [w.text() for w in words]
    assert d["words_by_kind"]["WRITE"] == 36                # every weight row once
    assert d["words_by_kind"]["MVM"] == 3                   # one per unit, in the loop body
    # the first layer needs no input error: no MTVM; 72 vectors through 3 units
    assert "MTVM" not in d["words_by_kind"]
    assert d["executed_by_kind"]["MVM"] == d["executed_by_kind"]["OPA"] == 3 * 72
    assert d["cycles"] >= d["unit_busy_max"] > 0
    assert set(d["phase_cycles"]) == {"program", "forward", "gradient"}


def test_tconv_phases_and_table(capsys, tmp_path, net):
    assert main(["compile", "--network", net, "--layer", "up", *SMALL, "--crs-samples", "1",
                 "-o", str(tmp_path / "t.bin"), "--listing", str(tmp_path / "t.txt")]) == 0
    out = capsys.readouterr().out
    assert "GEMM group(s)" in out and "MTVM" in out and "CRS" in out
    text = (tmp_path / "t.txt").read_text()
    # 4 phase groups of 2 x 2 taps x 4 channels = 16 rows x 3 columns: one unit each
    assert text.count(" CRS unit=") == 4


@pytest.mark.parametrize("args, match", [
    (["--layer", "nope"], r"--layer 'nope': not a layer of toy; its layers with weights are c1, up"),
    (["--layer", "c1", "--units", "2"], r"needs 3 crossbar units .*use --units 3"),
    (["--layer", "c1", "--set", "crossbar.rows=0"], r"crossbar.rows"),
    (["--layer", "c1", "--replication", "21"], r"needs 63 crossbar units .*at most 60: use fewer copies"),
    # 4 phases x 36 windows x (16 + 3) x 2 values per sample, and the 4 16 x 3 matrices
    (["--layer", "up", "--batch", "4096"], r"up with batch 4096 needs a buffer of 22,413,504 values, "
                                           r"more than the instruction format addresses \(16,777,216\)"),
    (["--set", "crossbar.cols=8192"], r"crossbar.cols = 8,192: a unit register holds at most 4,096"),
    (["--preset", "panther-sim"], r"tile.accounting = 'reference': a tile program follows the RTL"),
])
def test_errors_are_one_line(capsys, tmp_path, net, args, match):
    assert main(["compile", "--network", net, *SMALL, *args, "-o", str(tmp_path / "p.bin")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(match, err), err


def test_big_programs_are_counted_not_timed(capsys, tmp_path, net, monkeypatch):
    from crosstrain.commands import compile as cmd
    monkeypatch.setattr(cmd, "MAX_TIMED", 100)
    d = compile_json(capsys, tmp_path, "--network", net, "--layer", "c1", *SMALL)
    assert d["cycles"] is None and d["phase_cycles"] is None and d["unit_busy_max"] is None
    assert d["executed_by_kind"]["MVM"] == 3 * 36          # still counted
    assert main(["compile", "--network", net, "--layer", "c1", *SMALL, "-o", str(tmp_path / "q.bin")]) == 0
    assert "cycles not modelled: more than 100 instructions" in capsys.readouterr().out


def test_unwritable_output_is_one_line(capsys, tmp_path, net):
    assert main(["compile", "--network", net, *SMALL, "-o", str(tmp_path / "no" / "p.bin")]) == 2
    assert "cannot write" in capsys.readouterr().err
