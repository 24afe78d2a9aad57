"""Experiment files (crosstrain.experiment): ``crosstrain estimate exp.toml`` runs what the same
flags run, flags given on the command line win, the report's experiment.toml reproduces the same
JSON, and every mistake in a file is one ``FILE:LINE:COLUMN:`` line (exit 2)."""

import csv
import json
import re

import pytest

from crosstrain.cli import main

VOLATILE = ("command", "elapsed_s", "report_dir")     # differ between any two runs


def run_json(capsys, *argv) -> dict:
    assert main(["estimate", *argv, "--json"]) == 0, capsys.readouterr().err
    data = json.loads(capsys.readouterr().out)
    for k in VOLATILE:
        data.pop(k, None)
    return data


def fail(capsys, *argv) -> str:
    assert main(["estimate", *argv, "--no-report"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture
def files(tmp_path):
    """A configuration file, a train result and an experiment that sets every [estimate] key
    away from its default, with relative paths."""
    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "small.toml").write_text('base = "panther"\n[converters]\nadc_bits = 7\n')
    (tmp_path / "train.json").write_text(json.dumps({
        "schema": "crosstrain.train/1", "network": "digits-cnn",
        "rollup_accuracy_drop_pct": {"panther": 1.25, "aggressive": 2.5}}))
    exp = tmp_path / "exp.toml"
    exp.write_text("""network = "vgg8-cifar10"

[hardware]
base = "hw/small.toml"
baseline = "pipelayer"
crossbar.rows = 64
gpu.compute_efficiency = 0.3
link.tsv.pj_per_bit = 0.1

[estimate]
systems = ["gpu", "pipelayer", "panther+zs+we", "3d-reg-tsv-aggressive", "3d-reg-tsv-conservative"]
batch = 32
gpu = "gtx1080"
gpu_precision = "fp32"
replication = 2
pipeline = false
crs_samples = 128
zero_skip = {forward = 0.5}
write_elim = {update = 0.5}
accuracy_drop = {pipelayer = 0.75}
accuracy = "train.json"
""")
    return tmp_path


FLAGS = ("--batch", "32", "--gpu", "gtx1080", "--replication", "2",
         "--no-pipeline", "--crs-samples", "128", "--zero-skip", "forward=0.5", "--write-elim", "update=0.5",
         "--accuracy-drop", "pipelayer=0.75", "--set", "crossbar.rows=64", "--set", "gpu.compute_efficiency=0.3",
         "--set", "link.tsv.pj_per_bit=0.1", "--baseline-preset", "pipelayer",
         "--systems", "gpu,pipelayer,panther+zs+we,3d-reg-tsv-aggressive,3d-reg-tsv-conservative")


def test_the_file_runs_what_the_same_flags_run(files, capsys):
    from_file = run_json(capsys, str(files / "exp.toml"), "--no-report")
    from_flags = run_json(capsys, "--preset", str(files / "hw" / "small.toml"), "--accuracy",
                          str(files / "train.json"), *FLAGS, "--no-report")
    assert from_file == from_flags
    # and the values are the file's, not the defaults
    s = from_file["settings"]
    assert from_file["batch_size"] == 32 and s["gpu"] == "gtx1080" and s["pipeline"] is False
    assert s["overrides"] == {"crossbar.rows": 64} and s["gpu_settings"]["compute_efficiency"] == 0.3
    assert s["reg3d"]["links"]["tsv"]["pj_per_bit"] == 0.1 and s["crs_samples"] == 128
    assert s["zero_skip"]["forward"] == 0.5 and s["write_elim"]["update"] == 0.5
    assert [x["name"] for x in from_file["systems"]] == ["gpu", "pipelayer", "panther+zs+we",
                                                        "3d-reg-tsv-aggressive", "3d-reg-tsv-conservative"]


def test_the_report_experiment_reproduces_the_same_json(files, capsys, tmp_path):
    first = run_json(capsys, str(files / "exp.toml"), "--out", str(tmp_path / "r1"), "--no-plots")
    resolved = tmp_path / "r1" / "experiment.toml"
    text = resolved.read_text()
    # fully resolved: every setting written out, files by absolute path
    assert f'base = "{files / "hw" / "small.toml"}"' in text and "[measure]" in text
    assert f'accuracy = "{files / "train.json"}"' in text and "gpu = \"gtx1080\"" in text
    again = run_json(capsys, str(resolved), "--out", str(tmp_path / "r2"), "--no-plots")
    assert again == first
    # every output says where each accuracy number came from: JSON, systems.csv, report.md
    measured = f"measured:{files / 'train.json'}"
    assert {s["name"]: s["accuracy_source"] for s in first["systems"]}["3d-reg-tsv-aggressive"] == measured
    with open(tmp_path / "r1" / "systems.csv", newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert rows["3d-reg-tsv-aggressive"]["accuracy_source"] == measured and rows["pipelayer"]["accuracy_source"] == "given"
    assert f"| {measured} |" in (tmp_path / "r1" / "report.md").read_text()
    # and the report of the default run reproduces the default run
    plain = run_json(capsys, "--out", str(tmp_path / "r3"), "--no-plots", "--systems", "gpu,panther")
    assert run_json(capsys, str(tmp_path / "r3" / "experiment.toml"), "--no-report") == plain


def test_flags_given_on_the_command_line_win(files, capsys):
    exp = str(files / "exp.toml")
    # --batch 64 is the flag's default, typed out: it still wins over the file's 32
    d = run_json(capsys, exp, "--batch", "64", "--set", "crossbar.rows=128", "--zero-skip", "backward=0.25",
                 "--systems", "gpu,panther", "--no-report")
    s = d["settings"]
    assert d["batch_size"] == 64 and [x["name"] for x in d["systems"]] == ["gpu", "panther"]
    # --set and the tables merge name by name: the file's other entries stay
    assert s["overrides"] == {"crossbar.rows": 128} and s["gpu_settings"]["compute_efficiency"] == 0.3
    assert s["zero_skip"]["forward"] == 0.5 and s["zero_skip"]["backward"] == 0.25
    # a flag left at its default does not undo the file
    assert s["gpu"] == "gtx1080" and s["crs_samples"] == 128


@pytest.mark.parametrize("text, where, words", [
    ('netwrk = "vgg8-cifar10"\n', "1:1", ("unknown key 'netwrk'", "network, [hardware]")),
    ('[estimate]\nbatchsize = 3\n', "2:1", ("unknown key 'batchsize' in [estimate]", "batch")),
    ('[estimate]\nbatch = 0\n', "2:9", ("batch = 0", "an integer from 1")),
    ('[estimate]\nsystems = ["gpu", "pantherr"]\n', "2:11", ("unknown system 'pantherr'", "panther")),
    ('[estimate]\nzero_skip = {fwd = 0.5}\n', "2:13", ("'fwd'", "forward")),
    ('[estimate]\naccuracy_drop = {x = 1}\n', "2:17", ("unknown name 'x'", "conservative")),
    ('[estimate]\naccuracy = "missing.json"\n', "2:12", ("missing.json", "No such file")),
    ('[hardware]\ncrossbar.rowz = 64\n', "2:17", ("crossbar.rowz", "rows")),
    ('[hardware]\n\n[hardware.crossbar]\nrows = 0\n', "4:8", ("crossbar.rows = 0", "from 1")),
    ('[hardware]\nrows = 64\n', "2:1", ("unknown key 'rows' in [hardware]", "crossbar.rows")),
    ('[hardware]\nfoo.bar = 1\n', "2:11", ("'foo.bar'", "SECTION.FIELD")),
    ('[hardware]\nlink.tsv.colour = 1\n', "2:19", ("link.tsv.colour", "pj_per_bit")),
    ('[hardware]\nbase = "nope"\n', "2:8", ("nope", "presets are")),
    ('[measure]\nnetwork = "vgg8"\n', "2:11", ("network = 'vgg8'", "digits-cnn")),
    ('estimate = 3\n', "1:12", ("estimate = 3", "[estimate]")),
    ('[estimate\n', "1:10", ("TOML syntax error",)),
])
def test_a_bad_file_is_one_located_line(tmp_path, capsys, text, where, words):
    exp = tmp_path / "bad.toml"
    exp.write_text(text)
    err = fail(capsys, str(exp))
    assert re.search(rf"bad\.toml:{where}: ", err), err
    for w in words:
        assert w in err, err


def test_a_missing_experiment_file_is_one_line(tmp_path, capsys):
    err = fail(capsys, str(tmp_path / "none.toml"))
    assert "cannot read experiment file" in err and "none.toml" in err


def test_sweep_takes_the_file_as_its_base(tmp_path, capsys):
    exp = tmp_path / "sw.toml"
    exp.write_text('[hardware]\ncrossbar.rows = 64\n[estimate]\nsystems = ["panther"]\nbatch = 16\n')
    grid = ("--grid", "converters.adcs_per_array=1,2", "--no-plot", "--json")

    def sweep(*argv):
        assert main(["sweep", *argv, *grid]) == 0, capsys.readouterr().err
        d = json.loads(capsys.readouterr().out)
        return d["base"], d["pareto"]
    from_file = sweep(str(exp), "--out", str(tmp_path / "a"))
    from_flags = sweep("--set", "crossbar.rows=64", "--systems", "panther", "--batch", "16",
                       "--out", str(tmp_path / "b"))
    assert from_file == from_flags and from_file[0]["batch"] == 16
    # an estimate setting a sweep does not take is refused, not ignored
    exp.write_text('[estimate]\ncrs_samples = 64\n')
    assert main(["sweep", str(exp), *grid, "--out", str(tmp_path / "c")]) == 2
    assert "crs_samples is not swept" in capsys.readouterr().err
