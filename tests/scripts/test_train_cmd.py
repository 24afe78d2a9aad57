"""``crosstrain train`` as a user runs it (a subprocess, real exit codes, strict JSON)."""

import subprocess
import sys

import pytest

from crosstrain.cli import main
from crosstrain.output import strict_loads

MLP = """name = "mlp-64-16-10"
input = [1, 8, 8]
[[layer]]
type = "fc"
out_ch = 16
[[layer]]
type = "fc"
out_ch = 10
"""


def crosstrain(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "crosstrain.cli", *args], capture_output=True,
                          text=True, cwd=cwd)


@pytest.fixture(scope="module")
def small_net(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "mlp.toml"
    path.write_text(MLP)
    return str(path)


@pytest.fixture(scope="module")
def report(small_net, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    r = crosstrain("train", "--network", small_net, "--epochs", "2", "--seeds", "2", "--batch", "128",
                   "--systems", "panther,pipelayer,3d-reg-conservative",
                   "--variant", "h3:precision.update_slice_bits=[3];crs_period=128", "--json", cwd=out)
    assert r.returncode == 0, r.stderr
    return strict_loads(r.stdout), out


def test_json_report(report):
    d, out = report
    assert d["schema"] == "crosstrain.train/1" and d["network"] == "mlp-64-16-10"
    assert d["seeds"] == [0, 1] and d["settings"]["epochs"] == 2
    names = [c["name"] for c in d["configurations"]]
    assert names == ["panther", "pipelayer", "3d-reg-conservative", "h3"]
    base = d["float"]["accuracy"]["per_seed"]
    for c in d["configurations"]:
        assert len(c["epoch_accuracy"]) == 2 and all(len(e) == 2 for e in c["epoch_accuracy"])
        acc = c["accuracy"]["per_seed"]
        assert acc == [e[-1] for e in c["epoch_accuracy"]]
        drops = [100 * (b - a) for b, a in zip(base, acc)]
        assert c["drop_points"]["per_seed"] == pytest.approx(drops)
        assert c["drop_points"]["mean"] == pytest.approx(sum(drops) / 2)
        assert c["within_points"] == (c["drop_points"]["mean"] <= 1.0)
    h3 = d["configurations"][3]
    assert h3["overrides"] == {"precision.update_slice_bits": [3]} and h3["crs_period"] == 128
    assert h3["crs_per_run"] == 2 * (1438 // 128) * 128 // 128
    assert h3["system"] == "panther" and h3["opa_saturated"] > 0
    assert d["configurations"][0]["crs_per_run"] == 2 * (1438 // 128) * 128 // 64  # mid-batch too
    assert set(d["rollup_accuracy_drop_pct"]) == {"panther", "pipelayer", "conservative"}
    assert all(v >= 0 for v in d["rollup_accuracy_drop_pct"].values())
    assert (out / d["plot"]).read_bytes()[:4] == b"\x89PNG"


def test_the_printed_drops_are_what_estimate_takes(small_net, tmp_path):
    r = crosstrain("train", "--network", small_net, "--epochs", "1", "--seeds", "1", "--batch", "64",
                   "--systems", "pipelayer,3d-reg-aggressive", "--no-plot", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for needle in ("drop (points)", "test accuracy after epoch", "float (FP32)"):
        assert needle in r.stdout
    line = next(l for l in r.stdout.splitlines() if l.startswith("For the roll-up:"))
    flag = line.split("--accuracy-drop ")[1]
    assert flag.startswith("pipelayer=") and ",aggressive=" in flag
    e = crosstrain("estimate", "--network", "mlp-512", "--no-report", "--json", "--accuracy-drop",
                   flag, cwd=tmp_path)
    assert e.returncode == 0, e.stderr
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("args, needle", [
    (("--systems", "tpu"), "unknown system 'tpu'"),
    (("--variant", "nolabel"), "--variant 'nolabel': expected LABEL:KEY=VALUE"),
    (("--variant", "x:colour=red"), "configuration x: 'colour' is not a setting"),
    (("--variant", "x:system=gpu"), "configuration x: unknown system 'gpu'"),
    (("--variant", "x:crs_period=soon"), "crs_period 'soon': an integer from 1"),
    (("--variant", "x:precision.update_slice_bits=[1]"), "precision.update_slice_bits = [1]"),
    (("--systems", "panther", "--variant", "panther:crs_period=8"),
     "two configurations are named 'panther'"),
    (("--set", "converters.adc_bitz=4"), "unknown field converters.adc_bitz"),
    (("--network", "vgg8-cifar10"), "input [3, 32, 32] does not fit the 8x8 digits"),
    (("--network", "missing.csv"), "cannot read network file missing.csv"),
    (("--network", "dcgan-generator"), "does not fit the 8x8 digits"),
    (("--seeds", "0"), "argument --seeds: '0' is out of range"),
    (("--epochs", "0"), "argument --epochs: '0' is out of range"),
    (("--opa", "cell"), "opa = 'cell'"),
    (("--study", "nosuch"), "--study 'nosuch'"),
    (("--batch", "5000"), "--batch 5000"),
    (("--crs-period", "-1"), "argument --crs-period: '-1' is out of range"),
])
def test_bad_input_is_one_line(args, needle, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *args, "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())


def test_bad_input_exits_with_code_2(tmp_path):
    r = crosstrain("train", "--systems", "tpu", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("crosstrain train: error: --systems: unknown")
