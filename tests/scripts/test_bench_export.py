"""``crosstrain bench export``: export time per doubling of the lines, as a ratio in one run."""

import json

import pytest

from crosstrain.cli import main


def run_json(capsys, *args):
    assert main(["bench", "export", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_bench_export_json(capsys):
    d = run_json(capsys, "--block", "shift_add", "--cols", "8", "--doublings", "2", "--repeat", "1")
    assert d["block"] == "shift_add" and list(d["export_s"]) == ["8", "16", "32"]
    assert [(x["cols"], x["to_cols"]) for x in d["doublings"]] == [(8, 16), (16, 32)]
    assert all(x["ratio"]["median"] > 0 for x in d["doublings"]) and d["goal"] == 3.0


def test_bench_export_bad_sizes_are_one_line(capsys):
    assert main(["bench", "export", "--cols", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["bench", "export", "--cols", "4096"]) == 2          # 8192 is past the RTL limit
    assert "crossbar.cols = 8192 is not allowed in RTL: 1 to 4096" in capsys.readouterr().err


@pytest.mark.slow
def test_mvm_unit_export_grows_linearly_in_the_lines(capsys):
    """Issue 10: export time was quadratic in cols (256 -> 512 took 3.3x); linear is about 2x."""
    d = run_json(capsys, "--cols", "256", "--repeat", "3")
    assert d["doublings"][0]["ratio"]["median"] < 3.0, d
