"""The roll-up: system names, the JSON object's schema, speed."""

import json
import re
from dataclasses import fields

import pytest

from crosstrain.golden import config
from crosstrain.rollup.estimate import (
    ALL_SYSTEMS,
    AREA_COMPONENTS,
    COMPONENTS,
    DEFAULT_SYSTEMS,
    PHASE_ORDER,
    SCHEMA,
    EstimateSettings,
    estimate,
    parse_system,
)
from crosstrain.rollup.mapper import SettingError
from crosstrain.rollup.networks import NetBuilder, builtin

SYSTEM_KEYS = {"name", "kind", "description", "hardware", "latency_s", "energy_j", "area_mm2",
               "speedup_vs_gpu", "energy_gain_vs_gpu", "accuracy_drop_pct", "gain_loss_ratio",
               "lifetime_iterations", "lifetime_years", "max_writes_per_cell", "writes_per_cell", "arrays", "tiles",
               "static_energy_j", "components", "area_breakdown", "critical_path", "phases", "schedule",
               "layers", "notes", "passes", "accuracy_source"}


def test_system_names():
    assert parse_system("panther+zs+we") == ("panther", {"zs", "we"})
    assert parse_system("3d-reg-miv-aggressive+we") == ("3d-reg-miv-aggressive", {"we"})
    for bad in ("gpu+zs", "panther+zs+zs", "panther+fast", "tpu", "digital+we"):
        with pytest.raises(SettingError, match="unknown system"):
            parse_system(bad)


def test_json_schema_of_the_default_estimate():
    est = estimate(builtin("vgg8-cifar10"), EstimateSettings(batch=8))
    d = json.loads(json.dumps(est.as_dict(), allow_nan=False))
    assert d["schema"] == SCHEMA and d["network"] == "vgg8-cifar10" and d["batch_size"] == 8
    assert [s["name"] for s in d["systems"]] == list(DEFAULT_SYSTEMS)
    for s in d["systems"]:
        assert set(s) == SYSTEM_KEYS, s["name"]
        assert list(s["phases"]) == list(PHASE_ORDER) and list(s["components"]) == list(COMPONENTS)
        assert list(s["area_breakdown"]) == list(AREA_COMPONENTS)
        for p in s["phases"].values():
            assert set(p) == {"latency_s", "energy_j", "events", "components"}
    gpu = d["systems"][0]
    assert gpu["speedup_vs_gpu"] == gpu["energy_gain_vs_gpu"] == 1.0
    assert {"batch", "preset", "gpu", "gpu_settings", "cost", "zero_skip", "write_elim"} <= set(d["settings"])


def test_every_system_breaks_energy_and_area_into_the_same_components():
    # a lumped preset (panther: 309 pJ per array step, converters included) and one summed from
    # parts (pipelayer: array + ADC + DAC) both report their MVM energy as `mvm`; areas as
    # arrays / ADCs / DACs / core and tile parts; the GPU's die as gpu_die
    est = estimate(builtin("vgg8-cifar10"), EstimateSettings(batch=2), ALL_SYSTEMS).as_dict()
    for s in est["systems"]:
        assert list(s["components"]) == list(COMPONENTS), s["name"]
        assert list(s["area_breakdown"]) == list(AREA_COMPONENTS), s["name"]
        assert sum(s["area_breakdown"].values()) == pytest.approx(s["area_mm2"]), s["name"]
    by = {s["name"]: s for s in est["systems"]}
    for name in ("panther", "pipelayer"):
        assert by[name]["components"]["mvm"] > 0 and by[name]["area_breakdown"]["adcs"] > 0
    pl = by["pipelayer"]["phases"]["forward"]
    cfg = config.load("pipelayer")
    ev = pl["events"]
    assert pl["components"]["mvm"] == pytest.approx(
        (ev["array_steps"] * cfg.tile.array_read_energy_pj + ev["adc_conversions"] * cfg.converters.adc_energy_pj
         + ev["dac_conversions"] * cfg.converters.dac_energy_pj) * 1e-12)
    assert by["gpu"]["area_breakdown"]["gpu_die"] == by["gpu"]["area_mm2"]


def test_gpu_is_always_the_first_system_and_drops_apply():
    est = estimate(builtin("mlp-panther"), EstimateSettings(
        batch=4, accuracy_drop=(("aggressive", 2.0), ("panther", 1.0))),
        ["panther", "3d-reg-tsv-aggressive"])
    names = [s.name for s in est.systems]
    assert names == ["gpu", "panther", "3d-reg-tsv-aggressive"]
    p, a = est.systems[1], est.systems[2]
    assert (p.accuracy_drop_pct, a.accuracy_drop_pct) == (1.0, 2.0)
    r = est.ratios["panther"]
    assert r["gain_loss_ratio"] == pytest.approx(r["speedup_vs_gpu"] * r["energy_gain_vs_gpu"] / 2.0)


def test_a_network_without_weights_is_refused():
    b = NetBuilder("pools", (3, 8, 8))
    b.pool(2)
    with pytest.raises(SettingError, match="nothing to train"):
        estimate(b.build())


def test_every_system_on_every_builtin():
    for name in ("mlp-512", "dcgan-generator", "dcgan-discriminator", "resnet18-cifar10"):
        est = estimate(builtin(name), EstimateSettings(batch=2), ALL_SYSTEMS)
        assert len(est.systems) == len(ALL_SYSTEMS)
        assert all(s.latency_s > 0 and s.energy_j > 0 for s in est.systems)


def test_every_assumption_can_be_changed_by_name():
    s = EstimateSettings()
    s = s.with_setting("cost.duty", 0.5).with_setting("gpu.kernel_overhead_s", 0)
    s = s.with_setting("reg3d.gpu_idle_fraction", 0).with_setting("link.tsv.pj_per_bit", 0.2)
    s = s.with_setting("mapper.acc_bits", 24)
    assert (s.cost.duty, s.gpu_settings.kernel_overhead_s, s.reg3d.gpu_idle_fraction) == (0.5, 0.0, 0.0)
    assert s.reg3d.link("tsv").pj_per_bit == 0.2 and s.technique("serial", set()).acc_bits == 24
    d = s.as_dict()
    assert d["reg3d"]["links"]["tsv"]["pj_per_bit"] == 0.2 and d["cost"]["duty"] == 0.5
    for key, value, needle in (("cost.colour", 1, "unknown setting 'cost.colour'"),
                               ("link.wifi.pj_per_bit", 1, "unknown link 'wifi'"),
                               ("link.tsv.speed", 1, "link fields are"),
                               ("cost.duty", "lots", "expected a finite number"),
                               ("cost.duty", "0.5", "expected a finite number"),
                               ("cost.duty", float("inf"), "expected a finite number"),
                               ("mapper.acc_bits", 2.5, "expected an integer"),
                               ("mapper.acc_bits", True, "expected an integer"),
                               ("reg3d.gpu_idle_fraction", 2, "a fraction in [0, 1]")):
        with pytest.raises(SettingError, match=re.escape(needle)):
            s.with_setting(key, value)


def test_crs_samples_is_a_setting():
    s = EstimateSettings().with_setting("mapper.crs_samples", 64)
    with pytest.raises(SettingError, match="expected an integer"):      # typed values only
        EstimateSettings().with_setting("mapper.crs_samples", "64")
    assert s.crs_samples == 64 and s.technique("opa", set()).crs_samples == 64
    assert s.technique("opa", set(), crs=False).crs_samples == 0


def _numeric_settings():
    s = EstimateSettings()
    groups = {"cost": s.cost, "gpu": s.gpu_settings, "reg3d": s.reg3d}
    for group, obj in groups.items():
        for f in fields(obj):
            if isinstance(getattr(obj, f.name), (int, float)):
                yield f"{group}.{f.name}"
    for lk in s.reg3d.links:
        yield from (f"link.{lk.name}.{k}" for k in ("bandwidth_gbs", "latency_ns", "pj_per_bit"))
    yield from ("mapper.acc_bits", "mapper.opa_writes_per_cell", "mapper.crs_samples")


@pytest.mark.parametrize("key", list(_numeric_settings()))
def test_every_numeric_setting_rejects_non_finite_and_absurd_values(key):
    for value in ("inf", "-inf", "nan", "-1", "1e308", "9" * 400, "٣"):
        with pytest.raises(SettingError) as e:
            EstimateSettings().with_setting(key, value)
        msg = str(e.value)
        assert msg.startswith(key) and "\n" not in msg and len(msg) < 200, (value, msg)


def test_other_estimate_settings_are_bounded():
    for kwargs, needle in (({"batch": 10 ** 400}, "batch = <an integer of about 400 digits>"),
                           ({"batch": 0}, "batch = 0"),
                           ({"accuracy_drop": (("panther", float("nan")),)}, "accuracy drop of 'panther'"),
                           ({"replication": 10 ** 9}, "replication = 1000000000"),
                           ({"crs_samples": -1}, "crs_samples = -1")):
        with pytest.raises(SettingError, match=re.escape(needle)):
            EstimateSettings(**kwargs)
    with pytest.raises(SettingError, match="link fields are"):
        EstimateSettings().with_setting("link.tsv.name", "x")


def test_a_system_without_energy_is_an_error_not_an_infinite_ratio():
    zero = {k: 0 for k in ("tile.mvm_step_energy_pj", "tile.array_read_energy_pj",
                           "converters.adc_energy_pj", "converters.dac_energy_pj",
                           "tile.shift_add_energy_pj", "tile.opa_step_energy_pj",
                           "device.write_energy_pj")}
    zero["parts"] = ()                                             # no digital parts either
    never = EstimateSettings(overrides=tuple(zero.items()), crs_samples=0)
    with pytest.raises(SettingError, match=r"^panther: .* 0 J per iteration"):   # no CRS, no reads
        estimate(builtin("mlp-512"), never, ["panther"])
    s = EstimateSettings(overrides=tuple(zero.items()))
    e = estimate(builtin("mlp-512"), s, ["panther"])               # CRS row reads still cost
    assert json.loads(json.dumps(e.as_dict(), allow_nan=False))["systems"][1]["energy_j"] > 0
