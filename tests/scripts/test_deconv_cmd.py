"""``crosstrain deconv``: JSON keys, the figures' expected values derived here, one-line errors."""

import json
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from crosstrain.cli import main
from crosstrain.golden import config
from crosstrain.golden.cycles import mvm_schedule


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
    ("in_channels=4,out_channels=4,kernel=four", "--layer: kernel = 'four': an integer"),
    ("in_channels=4,out_channels=4,kernel=\u0664", "--layer: kernel = '\u0664': an integer"),
    ("in_channels=4,out_channels=4,kernel=" + "4" * 5000, "--layer: kernel = '" + "4" * 57 + "...' is out of range"),
    ("", "--layer '': give KEY=VALUE,..."),
    (" ", "--layer '': give KEY=VALUE,..."),
    (",", "--layer: '' is not KEY=VALUE"),
    ("in_channels=4,out_channels=4,kernel=4,height=100000,width=100000",
     "this layer needs 40,000,000,000 values (at most 16,777,216)"),
])
def test_bad_layers_get_one_line_errors(capsys, layer, message):
    assert main(["deconv", "--layer", layer]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


LAYER = "in_channels=8,out_channels=4,kernel=3,stride=2,padding=1,height=5,width=6,output_size=10x12"


def test_set_convt_is_the_layer_and_config_is_preset(capsys):
    """--set convt.* names the custom layer as --layer does; --config is --preset."""
    old = run_json(capsys, "--layer", LAYER, "--config", "isaac")
    sets = [a for item in LAYER.split(",") for a in ("--set", "convt." + item.replace("10x12", "[10, 12]"))]
    new = run_json(capsys, *sets, "--preset", "isaac")
    assert new == old and new["config"] == "isaac" and new["layers"][0]["output_padding"] == 1
    assert run_json(capsys, *sets, "--set", "crossbar.rows=64") != new


@pytest.mark.parametrize("args, message", [
    (("--set", "convt.in_channels=4"), "convt.out_channels is missing"),
    (("--set", "convt.kernal=4"), "unknown field convt.kernal: fields are in_channels"),
    (("--set", "convt.in_channels=4", "--set", "convt.out_channels=4", "--set", "convt.kernel=4",
      "--set", "convt.output_size=[1, 2, 3]"), "convt.output_size = '(1, 2, 3)' must be [H, W]"),
    (("--set", "cost.duty=1"), "--set 'cost.duty': not a name this command takes"),
    (("--batch", "0"), "argument --batch: '0' is out of range: an integer from 1 to 1,024"),
    (("--seed", "-1"), "argument --seed: '-1' is out of range"),
])
def test_bad_values_get_one_line_errors(capsys, args, message):
    assert main(["deconv", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


HUGE = [   # (arguments..., the size named, derived here)
    # the input: 100000 x 100000 pixels of one channel
    ("--layer", "in_channels=1,out_channels=1,kernel=4,stride=2,height=100000,width=100000",
     "needs 10,000,000,000 values (at most 16,777,216)"),
    # 10**9 x 10**9 outputs, each one MVM of a one-tap group of 2 rows (the channels)
    ("--layer", "in_channels=2,out_channels=2,kernel=1000000000,stride=1000000000",
     "needs 2,000,000,000,000,000,000 crossbar rows (at most 67,108,864)"),
]


@pytest.mark.parametrize("args", HUGE)
def test_layers_too_large_to_simulate_are_one_line_within_bounded_memory(args):
    """The limits are checked in closed form before anything is generated: the command fails in
    one line inside 512 MB of address space (generating the 10**10-value input would need 80 GB)."""
    *argv, message = args
    limit = 512 << 20

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    run = subprocess.run([sys.executable, "-m", "crosstrain.cli", "deconv", *argv],
                         capture_output=True, text=True, preexec_fn=cap, timeout=300)
    assert run.returncode == 2 and message in run.stderr, run.stderr
    assert run.stderr.count("\n") == 1 and "zero skipping is simulated" in run.stderr


def test_layers_not_asked_for_stay_unmeasured(capsys):
    layers = run_json(capsys, "--network", "dcgan")["layers"]
    assert all(r["cycles_rtl_decomposed"] is None and r["cycles_rtl_zero_skip"] is None for r in layers)


def test_unknown_rtl_layer_is_a_one_line_error(capsys):
    assert main(["deconv", "--network", "fcn8s", "--rtl", "ct2"]) == 2
    err = capsys.readouterr().err
    assert "--rtl: no layer 'ct2' here; layers: upscore2, upscore_pool4, upscore8" in err, err
    assert err.count("\n") == 1, err


DOC = Path(__file__).resolve().parents[2] / "docs" / "deconv.md"


def shown_table(command: str) -> list[str]:
    text = DOC.read_text()
    return re.search(rf"Command: `{re.escape(command)}`.*?```\n(.*?)```", text, re.S).group(1).splitlines()


def test_docs_show_the_command_output(capsys):
    """docs/deconv.md's figures are exactly what `crosstrain deconv --rtl ct2` prints, and the
    RTL-measured cycles of DCGAN ct2 (every phase group's stream on the MvmUnit, amaranth.sim)
    equal the model's, with and without zero skipping; its example runs."""
    import doctest
    shown = shown_table("crosstrain deconv --rtl ct2")
    assert main(["deconv", "--rtl", "ct2"]) == 0
    printed = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert shown == printed[:len(shown)]
    header = next(line for line in printed if line.startswith("layer"))
    cols = [header.index(c) for c in ("cycles", "rtl cycles", "utilization")]
    ct2 = printed.index(next(line for line in printed if line.startswith("ct2")))
    for line in printed[ct2 + 1:ct2 + 3]:          # decomposed, + zero skip
        model, rtl = (line[a:b].strip() for a, b in zip(cols, cols[1:]))
        assert rtl == model and rtl != "-", line
    assert doctest.testfile(str(DOC), module_relative=False).failed == 0
