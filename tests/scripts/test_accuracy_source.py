"""Measured accuracy in the roll-up (crosstrain.accuracy): ``crosstrain estimate --accuracy FILE``
takes the drops of a ``crosstrain train --json`` result, ``--accuracy measure`` trains (or finds in
the cache) the systems it needs, and every system says where its drop came from."""

import json

import pytest

from crosstrain.cli import main
from crosstrain.experiments import train_study

PAPER = "paper default [3D-ReG]"
SYSTEMS = "gpu,pipelayer,panther+zs,3d-reg-tsv-conservative,3d-reg-miv-aggressive"


def run_json(capsys, *argv) -> dict:
    assert main(["estimate", *argv, "--no-report", "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def by_name(data: dict) -> dict:
    return {s["name"]: s for s in data["systems"]}


def train_file(path, drops: dict, **extra):
    path.write_text(json.dumps({"schema": "crosstrain.train/1", "network": "digits-cnn",
                                "rollup_accuracy_drop_pct": drops, **extra}))
    return str(path)


def test_drops_of_a_train_result_are_labelled_measured(tmp_path, capsys):
    f = train_file(tmp_path / "t.json", {"panther": 2.0, "aggressive": 4.0})
    s = by_name(run_json(capsys, "--accuracy", f, "--systems", SYSTEMS))
    assert (s["panther+zs"]["accuracy_drop_pct"], s["panther+zs"]["accuracy_source"]) == (2.0, f"measured:{f}")
    assert (s["3d-reg-miv-aggressive"]["accuracy_drop_pct"],
            s["3d-reg-miv-aggressive"]["accuracy_source"]) == (4.0, f"measured:{f}")
    # what the file does not hold keeps its labelled fallback: the paper's 0.05 % (3D-ReG), or 0
    assert (s["3d-reg-tsv-conservative"]["accuracy_drop_pct"],
            s["3d-reg-tsv-conservative"]["accuracy_source"]) == (0.05, PAPER)
    assert s["pipelayer"]["accuracy_drop_pct"] == 0 and s["pipelayer"]["accuracy_source"].startswith("assumed 0")
    assert s["gpu"]["accuracy_source"] == "baseline"
    # the gain-loss ratio uses the measured drop: speedup x energy gain / (1 + drop)
    p = s["panther+zs"]
    assert p["gain_loss_ratio"] == pytest.approx(p["speedup_vs_gpu"] * p["energy_gain_vs_gpu"] / 3.0)


def test_without_a_source_the_paper_defaults_are_labelled(capsys):
    s = by_name(run_json(capsys, "--systems", SYSTEMS))
    assert (s["3d-reg-miv-aggressive"]["accuracy_drop_pct"], s["3d-reg-miv-aggressive"]["accuracy_source"]) \
        == (3.39, PAPER)      # 3D-ReG (ACM JETC 2020): drops of 0.05 % to 3.39 %
    assert capsys.readouterr().out == ""


def test_a_given_drop_wins_over_the_measured_one(tmp_path, capsys):
    f = train_file(tmp_path / "t.json", {"panther": 2.0})
    d = run_json(capsys, "--accuracy", f, "--accuracy-drop", "panther=0.5", "--systems", "gpu,panther")
    assert (by_name(d)["panther"]["accuracy_drop_pct"], by_name(d)["panther"]["accuracy_source"]) == (0.5, "given")
    assert d["accuracy"] == {"source": f, "file": f, "network": "digits-cnn"}


def test_the_table_names_each_source(tmp_path, capsys):
    f = train_file(tmp_path / "t.json", {"panther": 2.0})
    assert main(["estimate", "--accuracy", f, "--systems", SYSTEMS, "--no-report"]) == 0
    out = capsys.readouterr().out
    assert f"measured:{f}: panther+zs 2" in out and f"{PAPER}: 3d-reg-tsv-conservative 0.05" in out


@pytest.mark.parametrize("content, words", [
    ("{not json", "not JSON"),
    (json.dumps({"schema": "crosstrain.estimate/1"}), "not a crosstrain train --json result"),
    (json.dumps({"schema": "crosstrain.train/1", "rollup_accuracy_drop_pct": {}}), "no rollup_accuracy_drop_pct"),
    (json.dumps({"schema": "crosstrain.train/1", "rollup_accuracy_drop_pct": {"panther": 120}}),
     "panther = 120: 0 to 100"),
])
def test_a_bad_train_result_is_one_line(tmp_path, capsys, content, words):
    f = tmp_path / "t.json"
    f.write_text(content)
    assert main(["estimate", "--accuracy", str(f), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "t.json" in err, err


def measure_file(tmp_path, **measure) -> str:
    exp = tmp_path / "exp.toml"
    exp.write_text('[estimate]\nsystems = ["gpu", "panther+zs+we"]\naccuracy = "measure"\n[measure]\n'
                   + "".join(f"{k} = {json.dumps(v)}\n" for k, v in measure.items()))
    return str(exp)


def test_measure_trains_like_crosstrain_train_and_caches(tmp_path, capsys, monkeypatch):
    """A tiny run (digits MLP, 1 epoch, 1 seed): the drop equals `crosstrain train`'s for the
    same settings, lands in the user cache, and the second estimate trains nothing."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    exp = measure_file(tmp_path, network="digits-mlp", epochs=1, seeds=1)
    d = run_json(capsys, exp)
    panther = by_name(d)["panther+zs+we"]
    cached = list((tmp_path / "cache" / "crosstrain").glob("accuracy-*.json"))
    assert len(cached) == 1 and panther["accuracy_source"] == f"cache:{cached[0]}"

    assert main(["train", "--network", "digits-mlp", "--systems", "panther", "--epochs", "1", "--seeds", "1",
                 "--no-plot", "--no-progress", "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert panther["accuracy_drop_pct"] == trained["rollup_accuracy_drop_pct"]["panther"]

    def no_training(*a, **k):
        raise AssertionError("trained again")
    monkeypatch.setattr(train_study, "run", no_training)
    assert by_name(run_json(capsys, exp))["panther+zs+we"] == panther


def test_the_cache_key_holds_everything_that_affects_the_result(tmp_path, capsys, monkeypatch):
    calls = []

    def fake_run(net, variants, configs, settings, seeds, progress=None):
        calls.append((net.name, [v.system for v in variants], configs["preset"].converters.adc_bits,
                      settings.epochs, list(seeds)))
        return {"schema": "crosstrain.train/1", "network": net.name,
                "rollup_accuracy_drop_pct": {"panther": float(len(calls))}}
    monkeypatch.setattr(train_study, "run", fake_run)
    monkeypatch.chdir(tmp_path)
    exp = measure_file(tmp_path, epochs=1, seeds=2, cache="cwd")

    def drop(*argv):
        return by_name(run_json(capsys, exp, *argv))["panther+zs+we"]["accuracy_drop_pct"]
    assert drop() == 1.0 and drop() == 1.0                       # the second run: a cache hit
    assert len(list((tmp_path / ".crosstrain-cache").glob("accuracy-*.json"))) == 1
    assert drop("--set", "converters.adc_bits=12") == 2.0         # a changed configuration misses
    assert drop("--set", "converters.adc_bits=12") == 2.0
    assert drop() == 1.0                                         # the first entry is still there
    assert calls == [("digits-cnn", ["panther"], 8, 1, [0, 1]), ("digits-cnn", ["panther"], 12, 1, [0, 1])]
    (tmp_path / "exp.toml").write_text((tmp_path / "exp.toml").read_text().replace("epochs = 1", "epochs = 2"))
    assert drop() == 3.0 and calls[-1][3] == 2                  # changed training settings miss too


def test_measure_trains_only_what_the_systems_need(tmp_path, capsys, monkeypatch):
    def fake_run(*a, **k):
        raise AssertionError("nothing to measure")
    monkeypatch.setattr(train_study, "run", fake_run)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    d = run_json(capsys, "--accuracy", "measure", "--systems", "gpu,gpu-dram-tsv")
    assert d["accuracy"]["file"] is None and by_name(d)["gpu-dram-tsv"]["accuracy_source"].startswith("assumed 0")


def test_the_api_takes_the_same_source(tmp_path, capsys):
    import crosstrain

    f = train_file(tmp_path / "t.json", {"panther": 2.0})
    got = crosstrain.estimate("mlp-512", "gpu,panther", batch=8, accuracy=f).to_dict()
    want = run_json(capsys, "--network", "mlp-512", "--systems", "gpu,panther", "--batch", "8", "--accuracy", f)
    for k in ("command", "elapsed_s"):
        want.pop(k)
    assert json.loads(json.dumps(got)) == want and by_name(got)["panther"]["accuracy_drop_pct"] == 2.0
