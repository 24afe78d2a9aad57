"""``crosstrain writes`` as a user runs it (a subprocess, real exit codes)."""

import io
import json
import subprocess
import sys

import pytest


def crosstrain(*args):
    return subprocess.run([sys.executable, "-m", "crosstrain.cli", *args], capture_output=True, text=True)


def test_json_report():
    r = crosstrain("writes", "--epochs", "1", "--policy", "zero-row", "--policy",
                   "name=mine,phases=updates,compare=delta,granularity=row,threshold=2", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert 0 < d["accuracy_baseline"] <= 1
    names = [p["name"] for p in d["policies"]]
    assert names == ["zero-row", "mine"]
    for p in d["policies"]:
        assert 0 <= p["eliminated_fraction"] <= 1 and p["write_energy_saving"] >= 1
        assert p["lifetime_gain"] > 0 and 0 < p["accuracy"] <= 1


def test_table_and_larger_network():
    r = crosstrain("writes", "--epochs", "1", "--policy", "update-cell", "--network",
                   "vgg8-cifar10")
    assert r.returncode == 0, r.stderr
    for needle in ("updates:", "lifetime until the hottest cell",
                   "vgg8-cifar10: digits-cnn per-layer", "Paper (IEEE TC 2023"):
        assert needle in r.stdout
    d = json.loads(crosstrain("writes", "--epochs", "1", "--policy", "update-cell", "--network",
                              "vgg8-cifar10", "--json").stdout)
    assert d["measured_on"] == "digits-cnn" and d["policies"][0]["name"] == "update-cell"
    assert d["network"] == "vgg8-cifar10"


@pytest.mark.parametrize("args, needle", [
    (("--policy", "nosuch"), "unknown policy 'nosuch'"),
    (("--policy", "phases=errors,granularity=column"), "write policy granularity = 'column'"),
    (("--policy", "phases=updates,compare=value"), "write policy compare = 'value'"),
    (("--policy", "phases=errors,threshold=-2"), "write policy threshold = -2.0"),
    (("--policy", "phases=errors,threshold=abc"), "policy threshold = 'abc': a number"),
    (("--policy", "phases=errors,threshold=nan"), "policy threshold = 'nan': not a finite number"),
    (("--policy", "phases=errors,granularity=row,row_group=\u0663"), "policy row_group '\u0663': an integer"),
    (("--policy", "x" * 10_000), "unknown policy '" + "x" * 57 + "...'"),
    (("--policy", "phases=errors,colour=red"), "policy item 'colour=red'"),
    (("--network", "resnet"), "unknown network 'resnet'"),
    (("--network", "missing.csv"), "cannot read network file missing.csv"),
    (("--duty", "2"), "--duty 2.0"),
    (("--epochs", "0"), "argument --epochs: '0' is out of range: an integer from 1 to 1,000"),
    (("--seed", "-1"), "argument --seed: '-1' is out of range: an integer from 0 to 4,294,967,295"),
    (("--seed", "1" * 5000), "argument --seed: '" + "1" * 57 + "...' is out of range"),
    (("--duty", "nan"), "argument --duty: value = 'nan': not a finite number"),
    (("--set", "device.write_energy_pj=-1"), "device.write_energy_pj = -1.0"),
    (("--config", "nosuch"), "unknown preset or file 'nosuch'"),
])
def test_bad_input_is_one_line(args, needle):
    r = crosstrain("writes", *args)
    assert r.returncode == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert len(r.stderr) < 1100


@pytest.mark.slow
def test_docs_show_what_the_default_report_prints():
    from pathlib import Path

    r = crosstrain("writes")
    assert r.returncode == 0, r.stderr
    docs = (Path(__file__).resolve().parents[2] / "docs" / "writes.md").read_text()
    summary = r.stdout.split("all writes, digits-cnn (savings as baseline / policy)\n")[1]
    table = summary.split("\n\n")[0]
    assert table in docs, "docs/writes.md's summary table is not what `crosstrain writes` prints"
    assert r.stdout.splitlines()[1] in docs


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_goes_to_a_terminal_stderr_only(monkeypatch, capsys):
    """Training shows a progress bar on stderr when it is a terminal; stdout holds only the JSON."""
    from crosstrain.cli import main

    args = ["writes", "--epochs", "1", "--policy", "zero-row", "--json"]
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(args) == 0
    json.loads(capsys.readouterr().out)
    steps = (1797 - round(1797 * 0.2)) // 16          # digits: 1,797 images, 20 % test, batches of 16
    assert "training, every write kept" in term.getvalue() and f"/{steps} [" in term.getvalue()
    monkeypatch.undo()
    assert main(args) == 0                             # stderr not a terminal: no bar
    assert capsys.readouterr().err == ""
