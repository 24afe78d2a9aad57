"""``crosstrain sweep`` as a user runs it: results table, Pareto report, --json, resuming after
SIGKILL, the Dask engine, one-line errors."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import crosstrain

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--grid", "crossbar.rows=64,128", "--grid", "converters.adcs_per_array=1..3",
         "--set", "converters.adc_mode=clip", "--systems", "panther,pipelayer"]
BIG = ["--grid", "crossbar.rows=32,64,128,256", "--grid", "crossbar.cols=32,64,128,256",
       "--grid", "converters.adcs_per_array=1..8", "--set", "converters.adc_mode=clip"]


def crosstrain_cmd(*args):
    return subprocess.run([sys.executable, "-m", "crosstrain", "sweep", *args], capture_output=True,
                          text=True, cwd=ROOT)


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def same(rows: list[dict]) -> dict:
    """The records by key without the timing, which differs from run to run."""
    return {r["key"]: {k: v for k, v in r.items() if k != "seconds"} for r in rows}


def dominated(a: tuple, b: tuple) -> bool:
    """``b`` dominates ``a``."""
    return all(y <= x for x, y in zip(a, b)) and any(y < x for x, y in zip(a, b))


def test_sweep_writes_results_and_the_pareto_front(tmp_path):
    out = tmp_path / "s"
    r = crosstrain_cmd(*SMALL, "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["schema"] == "crosstrain.sweep/1" and data["points"] == 6 and data["evaluated"] == 6
    assert data["skipped"] == 0 and data["failed"] == 0 and data["candidates"] == 12
    rows = records(out)
    assert len(rows) == 6 and len({r["key"] for r in rows}) == 6
    assert sorted((r["resolved"]["set"]["crossbar.rows"], r["resolved"]["set"]["converters.adcs_per_array"])
                  for r in rows) == [(64, 1), (64, 2), (64, 3), (128, 1), (128, 2), (128, 3)]

    # each record is what the public API gives for its point
    one = rows[4]
    direct = crosstrain.estimate("vgg8-cifar10", "panther,pipelayer", set=one["resolved"]["set"]).to_dict()
    for mine, theirs in zip(one["systems"], direct["systems"]):
        assert mine["name"] == theirs["name"]
        assert (mine["latency_s"], mine["energy_j"], mine["area_mm2"]) == \
            (theirs["latency_s"], theirs["energy_j"], theirs["area_mm2"])

    # the front: exactly the (point, system) pairs no other pair dominates, GPU excluded
    cands = [(r["key"], s["name"], (s["latency_s"], s["energy_j"], s["area_mm2"]))
             for r in rows for s in r["systems"] if s["name"] != "gpu"]
    expected = {(k, n) for k, n, c in cands if not any(dominated(c, o) for _, _, o in cands)}
    assert {(p["key"], p["system"]) for p in data["pareto"]} == expected
    with (out / "report" / "pareto.csv").open() as f:
        table = list(csv.DictReader(f))
    assert {(t["key"], t["system"]) for t in table} == expected
    assert set(table[0]) >= {"crossbar.rows", "converters.adcs_per_array", "latency_s", "energy_j", "area_mm2"}
    assert json.loads((out / "report" / "sweep.json").read_text())["pareto"] == data["pareto"]
    assert (out / "report" / "pareto.png").read_bytes()[:4] == b"\x89PNG"

    # a rerun evaluates nothing and prints the table
    again = crosstrain_cmd(*SMALL, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "6 points: 0 evaluated, 6 already in" in again.stdout and "Pareto front" in again.stdout
    assert len(records(out)) == 6


def test_sigkill_mid_sweep_then_rerun_loses_and_repeats_nothing(tmp_path):
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "crosstrain", "sweep", *BIG, "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    table = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if table.exists() and table.read_bytes().count(b"\n") >= 20:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = table.read_bytes().count(b"\n")
    assert 20 <= done_before < 128, "the sweep was not killed midway"
    with table.open("ab") as f:                       # as if killed in the middle of a write
        f.write(table.read_bytes().splitlines()[0][:40])

    r = crosstrain_cmd(*BIG, "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["skipped"] == done_before and data["evaluated"] == 128 - done_before
    assert data["ignored_lines"] == 1
    rows = records(out)
    assert len(rows) == 128 and len({r["key"] for r in rows}) == 128

    clean = tmp_path / "clean"
    r = crosstrain_cmd(*BIG, "--out", str(clean), "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert same(records(clean)) == same(rows)


def test_dask_engine_equals_the_local_run(tmp_path):
    pytest.importorskip("distributed")
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert crosstrain_cmd(*SMALL, "--out", str(local)).returncode == 0
    r = crosstrain_cmd(*SMALL, "--out", str(dask), "--engine", "dask", "--workers", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["engine"] == "dask"
    assert same(records(dask)) == same(records(local))


def test_a_scheduler_over_tls(tmp_path, capsys):
    """A TLS-only scheduler (a self-signed certificate made with openssl, used as CA and by every
    party): the sweep reaches it with --tls-*, and without them a tcp:// address is refused in
    one line."""
    distributed = pytest.importorskip("distributed")
    from distributed.security import Security

    from crosstrain.cli import main

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                           "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                           "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True)
    if made.returncode:
        pytest.skip("openssl could not make a certificate")
    roles = ("scheduler", "worker", "client")
    security = Security(tls_ca_file=str(cert), require_encryption=True,
                        **{f"tls_{r}_cert": str(cert) for r in roles}, **{f"tls_{r}_key": str(key) for r in roles})
    with distributed.LocalCluster(n_workers=1, processes=False, protocol="tls://", host="127.0.0.1",
                                  security=security, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        assert main(["sweep", *SMALL, "--engine", "dask", "--scheduler", address, "--tls-ca-file", str(cert),
                     "--tls-cert", str(cert), "--tls-key", str(key), "--out", str(tmp_path / "t")]) == 0
        assert len(records(tmp_path / "t")) == 6
        capsys.readouterr()
        plain = address.replace("tls://", "tcp://")
        assert main(["sweep", *SMALL, "--engine", "dask", "--scheduler", plain, "--out", str(tmp_path / "p")]) == 2
        err = capsys.readouterr().err
        assert "cannot reach the scheduler" in err and len(err.strip().splitlines()) == 1


def test_ctrl_c_stops_local_workers_in_one_line(tmp_path):
    # 1,024 points: seconds of work left after the first five (the workers take chunks)
    proc = subprocess.Popen([sys.executable, "-m", "crosstrain", "sweep", *BIG, "--workers", "2",
                             "--grid", "converters.adc_bits=6..13", "--out", str(tmp_path / "c")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,   # SIGINT's default action, as in a shell:
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    table = tmp_path / "c" / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (table.exists() and table.read_bytes().count(b"\n") >= 5):
        time.sleep(0.01)
    assert proc.poll() is None, f"the sweep ended (status {proc.returncode}) before the SIGINT"
    os.killpg(proc.pid, signal.SIGINT)              # as Ctrl-C in a terminal: the whole group
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (130, "crosstrain: interrupted\n"), err[-2000:]


def test_random_draws_n_points(tmp_path):
    r = crosstrain_cmd(*BIG, "--random", "5", "--seed", "7", "--out", str(tmp_path / "r"), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["points"] == 5 and data["grid_points"] == 128 and len(records(tmp_path / "r")) == 5


def test_a_combination_the_estimate_refuses_is_recorded_not_fatal(tmp_path):
    # lossless ADCs on PANTHER's 2-bit cells and 1-bit DACs: 128 rows sum to 128 x 3 = 384 < 2^9
    # levels, 256 rows to 768 < 2^10; so 9 bits fail for 256 rows only
    r = crosstrain_cmd("--grid", "crossbar.rows=128,256", "--grid", "converters.adc_bits=9,10",
                       "--set", "converters.adc_mode=lossless", "--systems", "panther",
                       "--baseline-preset", "panther", "--out", str(tmp_path / "e"), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    failed = {json.dumps(e["point"], sort_keys=True) for e in data["errors"]}
    assert failed == {json.dumps({"converters.adc_bits": 9, "crossbar.rows": 256}, sort_keys=True)}
    assert data["failed"] == 1 and data["candidates"] == 3
    assert "converters.adc_bits = 9 is not allowed" in data["errors"][0]["error"]


@pytest.mark.parametrize("args, message", [
    (["--grid", "nosuch.field=1,2"], "not a name this command takes"),
    (["--grid", "crossbar.rows"], "expected NAME=VALUES"),
    (["--grid", "converters.adc_bits=9..6"], "LO <= HI"),
    (["--grid", "crossbar.rows=64,64"], "given twice"),
    (["--grid", "crossbar.rows=64", "--grid", "crossbar.rows=128"], "each name once"),
    (["--grid", "crossbar.rows=64,128", "--set", "crossbar.rows=32"], "both a --set and a --grid"),
    (["--grid", "converters.adcs_per_array=0,-1"], "refused every point, e.g. {\"converters.adcs_per_array\":0}"),
    (["--grid", "crossbar.rows=64,128", "--random", "3"], "the grid has 2 points"),
    (["--grid", "crossbar.rows=64", "--systems", "nosuch"], "unknown system"),
    (["--grid", "crossbar.rows=64", "--baseline-preset", "nosuch"], "nosuch"),
    (["--grid", "crossbar.rows=64", "--network", "nosuch.csv"], "nosuch.csv"),
    (["--grid", "crossbar.rows=64", "--scheduler", "tcp://127.0.0.1:1"], "go with --engine dask"),
    (["--grid", "crossbar.rows=64", "--engine", "dask", "--scheduler", "http://x"], "tcp://HOST:PORT"),
    (["--grid", "crossbar.rows=64", "--engine", "dask", "--tls-cert", "c.pem"], "go with --scheduler"),
    (["--grid", "crossbar.rows=64", "--engine", "dask", "--scheduler", "tls://127.0.0.1:1",
      "--tls-cert", "c.pem"], "all of --tls-ca-file"),
    (["--grid", "crossbar.rows=64", "--engine", "dask", "--scheduler", "tls://127.0.0.1:1"],
     "give --tls-ca-file, --tls-cert and --tls-key"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    from crosstrain.cli import main

    assert main(["sweep", *args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    if "refused every point" not in message:                      # nothing ran: no table either
        assert not (tmp_path / "x" / "results.jsonl").exists()
