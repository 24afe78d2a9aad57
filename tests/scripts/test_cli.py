"""The console command end to end, as a user runs it (a subprocess, real exit codes)."""

import json
import subprocess
import sys

import pytest


def crosstrain(*args):
    return subprocess.run([sys.executable, "-m", "crosstrain.cli", *args], capture_output=True, text=True)


def test_help_lists_the_jobs():
    r = crosstrain("--help")
    assert r.returncode == 0
    for cmd in ("presets", "config", "bench"):
        assert cmd in r.stdout


def test_presets_table_and_json():
    r = crosstrain("presets")
    assert r.returncode == 0 and "panther" in r.stdout and "pipelayer" in r.stdout
    data = json.loads(crosstrain("presets", "--json").stdout)
    assert {p["name"] for p in data["presets"]} == {"isaac", "puma", "panther", "pipelayer",
                                                    "panther-sim", "puma-sim"}
    assert "reference accounting" in r.stdout


def test_config_show_preset_and_file(tmp_path):
    r = crosstrain("config", "show", "panther")
    assert r.returncode == 0 and "weight_frac_bits" in r.stdout and "12" in r.stdout
    f = tmp_path / "mine.toml"
    f.write_text('base = "isaac"\n[converters]\nadcs_per_array = 2\n')
    d = json.loads(crosstrain("config", "show", str(f), "--json").stdout)
    assert d["converters"]["adcs_per_array"] == 2 and d["crossbar"]["read_latency_ns"] == 100.0


@pytest.mark.parametrize("args, needle", [
    (("config", "show", "nosuch"), "unknown preset"),
    (("config", "show", "BAD"), "line 2"),
    (("config", "show", "LOSSLESS"), "converters.adc_bits"),
    (("bench", "golden", "--vectors", "0"), "--vectors"),
])
def test_bad_input_is_one_line_not_a_traceback(tmp_path, args, needle):
    (tmp_path / "bad.toml").write_text("[crossbar]\nrows = [\n")
    (tmp_path / "lossless.toml").write_text('base = "panther"\n[converters]\nadc_mode = "lossless"\n')
    args = [str(tmp_path / "bad.toml") if a == "BAD" else
            str(tmp_path / "lossless.toml") if a == "LOSSLESS" else a for a in args]
    r = crosstrain(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert needle in r.stderr


def test_bench_golden_json_keys():
    r = crosstrain("bench", "golden", "--vectors", "64", "--repeat", "1", "--json")
    assert r.returncode == 0
    d = json.loads(r.stdout)
    assert d["ratio_vs_stacked_gemm"] > 0 and d["ratio_lossless_vs_matmul"] > 0
    assert d["lossless_exact"] is True
