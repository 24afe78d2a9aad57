"""``crosstrain deconv``: JSON keys, the figures' expected values derived here, one-line errors."""

import json
import re
from pathlib import Path

import pytest

from golden.cycles import mvm_schedule
from golden import config
from scripts.cli import main


def run_json(capsys, *args):
    assert main(["deconv", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_dcgan_figures(capsys):
    out = run_json(capsys, "--network", "dcgan")
    layers = out["layers"]
    assert [r["name"] for r in layers] == ["ct1", "ct2", "ct3", "ct4", "ct5"]
    sched = mvm_schedule(config.load("panther"))
    for r in layers:
        for key in ("name", "utilization_naive", "utilization_decomposed", "cycles_naive",
                    "cycles_decomposed", "cycles_zero_skip", "rows_naive", "rows_decomposed",
                    "rows_zero_skip"):
            assert key in r, key
        assert r["cycles_rtl_decomposed"] is None and r["cycles_rtl_zero_skip"] is None
        h = r["height"]
        assert r["cycles_naive"] == sched.total(r["out_height"] * r["out_width"])
        if r["stride"] == 2:
            # k4 s2 p1, per axis: naive issues 2h outputs x 4 taps, of which 4h - 2 land inside
            assert r["utilization_naive"] == pytest.approx(((4 * h - 2) / (8 * h)) ** 2)
            assert r["utilization_decomposed"] >= 0.95
            # four phase groups of h x h windows each, concurrently
            assert r["cycles_decomposed"] == sched.total(h * h)
            assert r["occupancy_decomposed"] == pytest.approx(((2 * h - 1) / (2 * h)) ** 2)
            # ReLU inputs: about half the values are zero, the sign step is never needed
            assert 0.45 < r["zero_skip"]["values_skipped_fraction"] < 0.55
            assert r["zero_skip"]["steps_skipped_fraction"] >= 1 / sched.steps
            assert r["cycles_zero_skip"] < r["cycles_decomposed"]
        else:   # ct1: 1x1 input, stride 1: only the padding zeros of the naive map are saved
            assert r["utilization_naive"] == 1 / 16 and r["cycles_decomposed"] == r["cycles_naive"]


def test_fcn_8x_layer_and_text_table(capsys):
    r = run_json(capsys, "--network", "fcn8s")["layers"][-1]
    assert (r["name"], r["stride"], r["out_height"]) == ("upscore8", 8, 224)
    assert r["speedup_decomposed"] == pytest.approx(64, rel=0.01)
    assert main(["deconv", "--network", "fcn8s"]) == 0
    text = capsys.readouterr().out
    assert "upscore8" in text and "utilization" in text and "fcn8s:" in text


def test_custom_layer(capsys):
    r = run_json(capsys, "--layer", "in_channels=8,out_channels=4,kernel=3,stride=2,padding=1,"
                                    "height=5,width=6,output_size=10x12")["layers"]
    assert len(r) == 1 and r[0]["output_padding"] == 1 and r[0]["out_width"] == 12


@pytest.mark.parametrize("layer, message", [
    ("in_channels=4,out_channels=4,kernel=1,stride=2,height=4,width=4", "kernel = 1 is smaller than stride = 2"),
    ("in_channels=4,out_channels=4,kernel=4,stride=2,padding=-1", "padding = -1 is negative"),
    ("in_channels=4,out_channels=4,kernel=4,stride=2,padding=1,height=4,width=4,output_size=11x8",
     "output_size (11, 8) does not match the input"),
    ("in_channels=4,out_channels=4,kernel=4,stride=2,output_padding=2", "output_padding = 2 must be"),
    ("in_channels=4,out_channels=4,kernel=4,strides=2", "'strides=2' is not KEY=VALUE"),
    ("in_channels=4,out_channels=4,kernel=four", "kernel = 'four' is not an integer"),
])
def test_bad_layers_get_one_line_errors(capsys, layer, message):
    assert main(["deconv", "--layer", layer]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_rtl_cycles_of_a_full_layer(capsys):
    """--rtl ct1: the smallest full DCGAN layer's phase-group streams measured on the MvmUnit RTL
    take the model's cycles (one group of 16 MVMs: mvm_schedule.total(16) either way, the latent
    input being signed); layers not asked for stay unmeasured."""
    layers = run_json(capsys, "--network", "dcgan", "--rtl", "ct1")["layers"]
    total = mvm_schedule(config.load("panther")).total(16)
    ct1 = layers[0]
    assert ct1["cycles_rtl_decomposed"] == ct1["cycles_decomposed"] == total
    assert ct1["cycles_rtl_zero_skip"] == ct1["cycles_zero_skip"] == total
    assert all(r["cycles_rtl_decomposed"] is None for r in layers[1:])


def test_unknown_rtl_layer_is_a_one_line_error(capsys):
    assert main(["deconv", "--network", "fcn8s", "--rtl", "ct2"]) == 2
    err = capsys.readouterr().err
    assert "--rtl: no layer 'ct2' here; layers: upscore2, upscore_pool4, upscore8" in err, err
    assert err.count("\n") == 1, err


DOC = Path(__file__).resolve().parents[2] / "docs" / "deconv.md"


def shown_table(command: str) -> list[str]:
    text = DOC.read_text()
    return re.search(rf"Command: `{re.escape(command)}`.*?```\n(.*?)```", text, re.S).group(1).splitlines()


def without_rtl_column(lines):
    """The lines with the cells of the ``rtl cycles`` column blanked (positions from each header)."""
    out, span = [], None
    for line in lines:
        if "rtl cycles" in line:
            start = line.index("rtl cycles")
            span = (start, start + len("rtl cycles"))
        out.append(line[:span[0]] + line[span[1]:] if span else line)
    return out


def test_docs_show_the_command_output(capsys):
    """docs/deconv.md's figures are what `crosstrain deconv --rtl ct2` prints (its RTL-measured
    cells checked by the slow test below); its example runs."""
    import doctest

    shown = shown_table("crosstrain deconv --rtl ct2")
    assert main(["deconv"]) == 0
    printed = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert without_rtl_column(shown) == without_rtl_column(printed[:len(shown)])
    assert doctest.testfile(str(DOC), module_relative=False).failed == 0


@pytest.mark.slow
def test_docs_rtl_figures_are_the_command_output(capsys, request):
    """The docs table exactly, measured cells included (minutes of amaranth.sim: only with
    ``-m slow``)."""
    if "slow" not in request.config.getoption("markexpr"):
        pytest.skip("simulates ct2 on the RTL for minutes; select it with -m slow")
    shown = shown_table("crosstrain deconv --rtl ct2")
    assert main(["deconv", "--rtl", "ct2"]) == 0
    printed = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert shown == printed[:len(shown)]
