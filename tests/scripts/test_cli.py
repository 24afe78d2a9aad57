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
                                                    "panther-sim", "puma-sim", "graphr", "pim-tgan"}
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
    (("config", "show", "BAD"), "bad.toml:2:9: TOML syntax error"),
    (("config", "show", "LOSSLESS"), "lossless.toml:3:12: converters.adc_bits"),
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
    assert d["encodings"]["offset"]["sliced_vs_stacked_gemm"]["median"] > 0
    assert d["lossless_vs_matmul"]["median"] > 0
    assert d["lossless_exact"] is True


def test_usage_errors_are_one_line():
    for args in (("estimate", "--nope"), ("nosuch",), ("verilog", "write_elim", "--set")):
        r = crosstrain(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "--help" in r.stderr and "usage:" not in r.stderr


def test_config_show_takes_set():
    d = json.loads(crosstrain("config", "show", "isaac", "--set", "crossbar.rows=64", "--json").stdout)
    assert d["crossbar"]["rows"] == 64 and d["name"] == "isaac"


def test_ctrl_c_during_start_up_is_one_line():
    """KeyboardInterrupt while the console script imports the command line (as Ctrl-C during a
    slow start-up raises it)."""
    code = ("import builtins, sys\n"
            "real = builtins.__import__\n"
            "def interrupted(name, *a, **k):\n"
            "    if name == 'crosstrain.cli':\n"
            "        raise KeyboardInterrupt\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = interrupted\n"
            "from crosstrain.__main__ import console\n"
            "sys.exit(console())\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 130 and r.stderr == "crosstrain: interrupted\n"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has run (/proc/PID/stat)."""
    import os

    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_ctrl_c_is_one_line():
    """A real SIGINT to a running command: one line, exit status 130."""
    import signal
    import time

    # the child starts with SIGINT's default action whatever this process's is (a SIGINT
    # ignored here would be inherited, and Python installs no KeyboardInterrupt handler then)
    p = subprocess.Popen([sys.executable, "-m", "crosstrain", "writes", "--epochs", "3"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # before the interpreter runs crosstrain's console() a SIGINT is Python's own uncaught
    # KeyboardInterrupt (status -2); a wall-clock wait is no guarantee on a loaded machine, CPU
    # time is: the interpreter and `import crosstrain` take ~0.2 s of it, the work is seconds more
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None and _cpu_seconds(p.pid) < 1.5:
        time.sleep(0.05)
    assert p.poll() is None, f"the command ended (status {p.returncode}) before the SIGINT"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert (p.returncode, err, out) == (130, "crosstrain: interrupted\n", ""), (p.returncode, err[-2000:])
