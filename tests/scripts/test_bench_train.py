"""``crosstrain bench train``: every system timed against the float step of the same run."""

import json

import pytest

from crosstrain.cli import main


def test_bench_train_times_every_system_against_the_float_step(capsys, tmp_path):
    net = tmp_path / "mlp.csv"
    net.write_text("name,type,in_ch,in_h,in_w,out_ch\nfc1,fc,64,1,1,16\nfc2,fc,,,,10\n")
    assert main(["bench", "train", "--network", str(net), "--steps", "2", "--batch", "32",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    names = [s["name"] for s in d["systems"]]
    assert names == ["float (FP32 numpy)", "panther", "panther, lossless ADC", "digital",
                     "pipelayer", "3d-reg-conservative", "3d-reg-aggressive"]
    assert d["blas_threads"] == 1 and d["steps"] == 2 and d["goal_ratio"] == 10
    for s in d["systems"]:
        assert s["step_s"] == pytest.approx(s["forward_s"] + s["backward_s"] + s["update_s"])
        assert s["ratio_vs_float"] == pytest.approx(s["step_s"] / d["float_step_s"])
        assert s["meets_goal"] == (s["ratio_vs_float"] <= 10)
    lossless = d["systems"][2]
    assert lossless["adc_never_clips"] is True and d["systems"][1]["adc_never_clips"] is False


@pytest.mark.parametrize("args, needle", [
    (("--steps", "0"), "--steps (0)"),
    (("--steps", "200"), "more than the 1438 training samples"),
    (("--network", "vgg8-cifar10"), "does not fit the 8x8 digits"),
])
def test_bench_train_bad_input(args, needle, capsys):
    assert main(["bench", "train", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
