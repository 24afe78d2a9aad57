"""The public API (crosstrain.estimate, crosstrain.load_config): the same numbers as the command
line, results as dicts and DataFrames, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import crosstrain
from crosstrain.golden import config
from crosstrain.golden.config import ConfigError
from crosstrain.rollup.mapper import SettingError
from crosstrain.rollup.networks import NetworkError, builtin

ROOT = Path(__file__).resolve().parents[2]


def cli_json(*args):
    r = subprocess.run([sys.executable, "-m", "crosstrain", "estimate", "--no-report", "--json", *args],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("command", "elapsed_s"):
        d.pop(key)
    return d


def test_estimate_is_the_command_without_the_report():
    got = crosstrain.estimate("mlp-512", "gpu,panther,3d-reg-tsv-aggressive", batch=8,
                              set={"converters.adcs_per_array": 4, "cost.duty": 0.5})
    want = cli_json("--network", "mlp-512", "--systems", "gpu,panther,3d-reg-tsv-aggressive", "--batch", "8",
                    "--set", "converters.adcs_per_array=4", "--set", "cost.duty=0.5")
    assert json.loads(json.dumps(got.to_dict())) == want
    assert want["settings"]["cost"]["duty"] == 0.5


def test_defaults_and_network_objects():
    d = crosstrain.estimate(builtin("mlp-512"), ["panther"], batch=2).to_dict()
    assert d["network"] == "mlp-512" and [s["name"] for s in d["systems"]] == ["gpu", "panther"]
    assert d["settings"]["preset"] == "panther" and d["settings"]["baseline_preset"] == "pipelayer"
    assert len(crosstrain.estimate("mlp-512", "all", batch=2).to_dict()["systems"]) > 10


def test_to_pandas_is_systems_csv_and_layers_csv():
    pd = pytest.importorskip("pandas")
    r = crosstrain.estimate("mlp-512", ["panther", "pipelayer"], batch=4)
    d = r.to_dict()
    df = r.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df["name"]) == ["gpu", "panther", "pipelayer"]
    for i, s in enumerate(d["systems"]):
        assert df["energy_j"][i] == s["energy_j"] and df["latency_forward_s"][i] == s["phases"]["forward"]["latency_s"]
    layers = r.to_pandas("layers")
    fc1 = layers[(layers.system == "panther") & (layers.layer == "fc1") & (layers.phase == "forward")]
    want = next(l for l in d["systems"][1]["layers"] if l["name"] == "fc1")["phases"]["forward"]["energy_j"]
    assert list(fc1["energy_j"]) == [want]
    with pytest.raises(ValueError, match="use 'systems' or 'layers'"):
        r.to_pandas("phases")


def test_to_pandas_without_pandas_names_the_extra(monkeypatch):
    r = crosstrain.estimate("mlp-512", ["panther"], batch=2)
    monkeypatch.setitem(sys.modules, "pandas", None)          # import pandas -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'crosstrain\[pandas\]'"):
        r.to_pandas()


def test_load_config_takes_dotted_or_nested_names():
    cfg = crosstrain.load_config("isaac", set={"crossbar.rows": 64, "converters": {"adc_bits": 7}})
    assert cfg == config.load("isaac").with_overrides({"crossbar.rows": 64, "converters.adc_bits": 7})
    assert cfg.crossbar.rows == 64 and cfg.converters.adc_bits == 7
    sliced = crosstrain.load_config(set={"precision.update_slice_bits": [6] * 16})
    assert sliced.precision.update_slice_bits == (6,) * 16 and sliced.name == "panther"


@pytest.mark.parametrize("call, error, needle", [
    (lambda: crosstrain.load_config("nosuch"), ConfigError, "unknown preset or file 'nosuch'"),
    (lambda: crosstrain.load_config(set={"crossbar.rows": 0}), ConfigError, "crossbar.rows = 0"),
    (lambda: crosstrain.estimate("vgg9"), NetworkError, "unknown network 'vgg9'"),
    (lambda: crosstrain.estimate("mlp-512", "tpu"), SettingError, "unknown system 'tpu'"),
    (lambda: crosstrain.estimate("mlp-512", batch=0), ConfigError, "batch = 0"),
    (lambda: crosstrain.estimate("mlp-512", set={"cost.colour": 1}), SettingError, "unknown setting"),
    (lambda: crosstrain.estimate("mlp-512", set={"crossbar.rows": "x"}), ConfigError, "crossbar.rows = 'x'"),
])
def test_bad_input_raises_one_line_value_errors(call, error, needle):
    with pytest.raises(error) as e:
        call()
    assert isinstance(e.value, ValueError) and needle in str(e.value) and "\n" not in str(e.value)


def test_the_api_is_lazy():
    code = ("import sys, crosstrain; before = [m for m in sys.modules if m.startswith('crosstrain.')]; "
            "crosstrain.load_config; print(before, 'crosstrain.api' in sys.modules, "
            "sorted(set(dir(crosstrain)) & {'estimate', 'load_config'}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[] True ['estimate', 'load_config']"
    with pytest.raises(AttributeError, match="no attribute 'estimat'"):
        crosstrain.estimat
