"""One GAN training iteration (crosstrain.rollup.gan): its passes, MACs, energy, +zs, schedules."""

import subprocess
import sys
from dataclasses import replace

import pytest

from crosstrain.output import strict_loads
from crosstrain.rollup.estimate import EstimateSettings, estimate
from crosstrain.rollup.gan import PASSES
from crosstrain.rollup.mapper import SettingError
from crosstrain.rollup.networks import Gan, NetworkError, builtin, dcgan

B = 4
PASS_NAMES = ["g-forward", "d-forward", "d-backward", "d-update", "g-through-d", "g-backward", "g-update"]
NO_SKIP = (("backward", 0.0), ("forward", 0.0), ("gradient", 0.0))
SYSTEMS = ["gpu", "gpu-reram-tsv", "pipelayer", "panther", "panther+zs+we", "digital",
           "3d-reg-tsv-conservative", "3d-reg-miv-aggressive"]


def _dcgan_macs():
    """Per-sample forward MACs of every DCGAN layer, from the PyTorch example's shapes by hand:
    a transposed conv issues every tap of every input pixel, a conv every tap of every output."""
    g = [(100, 512, 1), (512, 256, 4), (256, 128, 8), (128, 64, 16), (64, 3, 32)]     # cin, cout, input side
    d = [(3, 64, 32), (64, 128, 16), (128, 256, 8), (256, 512, 4), (512, 1, 1)]       # cin, cout, output side
    return [ci * co * 16 * n * n for ci, co, n in g], [ci * co * 16 * n * n for ci, co, n in d]


def test_iteration_macs_are_the_sum_of_its_passes_from_the_layer_shapes():
    g, d = _dcgan_macs()
    G, D = sum(g), sum(d)
    want = {"g-forward": B * G, "d-forward": 2 * B * D,
            "d-backward": 2 * B * (D - d[0]) + 2 * B * D,     # no error into the real/fake images
            "d-update": 0, "g-through-d": B * D + B * D,       # forward + error into G, no gradient
            "g-backward": B * (G - g[0]) + B * G, "g-update": 0}
    est = estimate(dcgan(), EstimateSettings(batch=B), ["gpu"]).as_dict()
    info = est["network_info"]
    assert info["iteration"] == "gan"
    assert {p["name"]: p["macs"] for p in info["passes"]} == want
    # the GPU issues exactly these: 2 FLOPs per MAC; the update 2 per weight (SGD)
    gpu = est["systems"][0]
    flops = sum(gpu["phases"][p]["events"]["flops"] for p in ("forward", "backward", "gradient"))
    assert flops == 2 * sum(want.values())
    weights = sum(ci * co * 16 for ci, co, _ in [(100, 512, 0), (512, 256, 0), (256, 128, 0), (128, 64, 0),
                                                 (64, 3, 0), (3, 64, 0), (64, 128, 0), (128, 256, 0),
                                                 (256, 512, 0), (512, 1, 0)])
    assert gpu["phases"]["update"]["events"]["flops"] == 2 * weights


def _dynamic(s):
    return s.energy_j - s.static_energy_j


def _sum(s, phases):
    return sum(s.phases[p].energy_j for p in phases if p in s.phases)


@pytest.mark.parametrize("system", ["gpu", "panther", "pipelayer"])
def test_iteration_energy_is_the_sum_of_its_passes_costed_one_network_at_a_time(system):
    st = EstimateSettings(batch=B)
    gen, dis = builtin("dcgan-generator"), builtin("dcgan-discriminator")
    d_into_g = replace(dis, layers=tuple(replace(l, needs_input_error=True) for l in dis.layers))

    def one(net, batch):
        return estimate(net, replace(st, batch=batch), [system]).systems[-1]

    everything = ("forward", "writes", "backward", "gradient", "update", "crs")
    if system == "gpu":                                        # D step on real + generated
        d_step = _sum(one(dis, 2 * B), everything)
    else:   # crossbars hold D's first layer with a backward copy (CRS / updates rewrite it too)
        s = one(d_into_g, 2 * B)
        d_step = _sum(s, everything) - s.layers[0].phases["backward"]["energy_j"]
    want = (_sum(one(gen, B), everything)                         # G: forward, backward, update
            + d_step + _sum(one(d_into_g, B), ("forward", "backward")))    # through D into G
    got = estimate(dcgan(), st, [system]).systems[-1]
    assert _dynamic(got) == pytest.approx(want, rel=1e-12)
    assert sum(p["energy_j"] for p in got.passes.values()) == pytest.approx(want, rel=1e-12)
    assert list(got.passes) == PASS_NAMES and list(got.critical_path) == PASS_NAMES
    assert got.latency_s == pytest.approx(sum(p["latency_s"] for p in got.passes.values()))


def test_zero_skipping_systems_save_on_the_generator_transposed_convolutions():
    st = EstimateSettings(batch=B, zero_skip=NO_SKIP)          # only the s^2 decomposition differs
    by = {s.name: s for s in estimate(dcgan(), st, ["panther", "panther+zs"]).systems}
    naive, zs = ({l.name: l.phases for l in by[n].layers} for n in ("panther", "panther+zs"))
    for name, phases in naive.items():
        for ph in ("forward", "backward"):
            if name.startswith("discriminator."):
                assert zs[name][ph]["energy_j"] == pytest.approx(phases[ph]["energy_j"], rel=1e-12)
            elif name != "generator.tconv1":          # stride 2: ~3/4 of the naive rows are zeros
                assert zs[name][ph]["energy_j"] < 0.5 * phases[ph]["energy_j"], (name, ph)
    assert by["panther+zs"].energy_j < by["panther"].energy_j
    assert by["panther+zs"].latency_s < by["panther"].latency_s
    # the generator's saving in the iteration is its saving as a network on its own
    alone = {s.name: s for s in estimate(builtin("dcgan-generator"), st, ["panther", "panther+zs"]).systems}
    saved = sum(naive[n][p]["energy_j"] - zs[n][p]["energy_j"] for n in naive for p in naive[n]
                if n.startswith("generator."))
    assert saved == pytest.approx(_dynamic(alone["panther"]) - _dynamic(alone["panther+zs"]), rel=1e-9)


def test_pipelined_schedule_is_no_slower_and_does_the_same_work():
    serial = {s.name: s for s in estimate(dcgan(), EstimateSettings(batch=B), SYSTEMS).systems}
    piped = {s.name: s for s in estimate(
        dcgan(), EstimateSettings(batch=B, gan_schedule="pipelined"), SYSTEMS).systems}
    for name in SYSTEMS:
        a, b = serial[name], piped[name]
        assert b.latency_s <= a.latency_s * (1 + 1e-12), name
        assert _dynamic(b) == pytest.approx(_dynamic(a), rel=1e-12), name
        if a.kind in ("reram", "digital"):               # G and D on their own crossbars overlap
            assert b.latency_s < a.latency_s, name
            assert list(b.critical_path) == ["g-forward+d-forward+d-backward", "d-update",
                                             "g-through-d+g-backward", "g-update"]
        else:                                            # the GPU and 3D-ReG keep their schedule
            assert b.latency_s == a.latency_s, name
    # one sample fills the pipeline and drains nothing: fusing the G step's passes saves nothing
    # (the D step still does: D sees two samples, real and generated)
    s, p = (estimate(dcgan(), EstimateSettings(batch=1, gan_schedule=x), ["panther"]).systems[-1]
            for x in ("serial", "pipelined"))
    assert p.critical_path["g-through-d+g-backward"] == pytest.approx(
        s.critical_path["g-through-d"] + s.critical_path["g-backward"], rel=1e-12)
    assert p.critical_path["g-forward+d-forward+d-backward"] < (
        s.critical_path["g-forward"] + s.critical_path["d-forward"] + s.critical_path["d-backward"])


def test_bad_gan_settings_are_one_line_errors():
    with pytest.raises(SettingError, match="mapper.gan_schedule = 'fast': use serial or pipelined"):
        EstimateSettings().with_setting("mapper.gan_schedule", "fast")
    with pytest.raises(SettingError, match="needs the layer pipeline"):
        EstimateSettings(pipeline=False, gan_schedule="pipelined")
    with pytest.raises(NetworkError, match=r"generator makes \[3, 64, 64\] but the discriminator takes \[3, 32, 32\]"):
        Gan("bad", builtin("dcgan-generator"), builtin("vgg8-cifar10"))
    with pytest.raises(NetworkError, match="GANs: dcgan, in crosstrain estimate only"):
        builtin("dcgan")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "crosstrain.cli", *args], capture_output=True, text=True)


def test_cli_labels_the_gan_iteration_and_rejects_bad_schedules(tmp_path):
    r = _cli("estimate", "--network", "dcgan", "--batch", "2", "--systems", "gpu,panther+zs",
             "--set", "mapper.gan_schedule=pipelined", "--no-report")
    assert r.returncode == 0, r.stderr
    assert "one GAN training iteration" in r.stdout and "pipelined schedule" in r.stdout
    for p in PASSES:
        assert p.name in r.stdout
    d = strict_loads(_cli("estimate", "--network", "dcgan", "--batch", "2", "--systems", "panther",
                          "--no-report", "--json").stdout)
    assert [p["name"] for p in d["network_info"]["passes"]] == PASS_NAMES
    assert [p["samples"] for p in d["network_info"]["passes"]] == [2, 4, 4, 4, 2, 2, 2]
    assert all(list(s["passes"]) == PASS_NAMES for s in d["systems"])
    for args in (("--set", "mapper.gan_schedule=fast"),
                 ("--set", "mapper.gan_schedule=pipelined", "--no-pipeline")):
        r = _cli("estimate", "--network", "dcgan", "--no-report", *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "gan_schedule" in r.stderr, r.stderr


def test_report_names_the_gan_iteration_and_its_passes(tmp_path):
    from crosstrain.estimate_report import write_report

    data = estimate(dcgan(), EstimateSettings(batch=2), ["panther"]).as_dict()
    write_report(data, str(tmp_path / "r"), plots=False)
    text = (tmp_path / "r" / "report.md").read_text()
    assert "One GAN training iteration (mini-batch of 2)" in text
    assert "g-through-d (discriminator, 2 samples: forward, backward)" in text


def test_same_gan_json_under_any_hash_seed():
    """Set order must not reach the sums (3D-ReG's link share and critical-path parts)."""
    import json
    import os

    runs = [subprocess.Popen([sys.executable, "-m", "crosstrain.cli", "estimate", "--json", "--no-report",
                              "--network", "dcgan", "--batch", "2", "--systems", "all"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}) for seed in ("0", "1", "5")]
    outs = []
    for p in runs:
        stdout, stderr = p.communicate()
        assert p.returncode == 0, stderr
        d = json.loads(stdout)
        d.pop("elapsed_s")
        outs.append(json.dumps(d))
    assert outs[1] == outs[0] and outs[2] == outs[0]
