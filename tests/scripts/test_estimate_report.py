"""The estimate's report folder is all or nothing: a full disk or Ctrl-C while any file (plots
included) is written leaves the earlier report exactly as it was; a finished report holds only
this run's files."""

import json
import math
import shutil
from pathlib import Path

import pytest

from crosstrain.errors import UserError
from crosstrain.estimate_report import PLOT_FILES, REPORT_FILES, write_report
from crosstrain.experiment import DEFAULTS, to_toml
from crosstrain.rollup.estimate import EstimateSettings, estimate
from crosstrain.rollup.networks import builtin

EXPERIMENT = to_toml(DEFAULTS)      # the report keeps the resolved experiment as experiment.toml


def tree(folder: Path) -> dict:
    """Every entry beside and inside the report folder (file bytes), to compare before/after."""
    return {str(p.relative_to(folder.parent)): p.read_bytes() if p.is_file() else "dir"
            for p in folder.parent.rglob("*")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two estimates (batch 64 and 32) and the batch-32 report with plots, written once."""
    net = builtin("vgg8-cifar10")
    new = estimate(net, EstimateSettings(batch=64), ("panther", "3d-reg-tsv-aggressive")).as_dict()
    old = estimate(net, EstimateSettings(batch=32), ("panther", "pipelayer")).as_dict()
    folder = tmp_path_factory.mktemp("earlier") / "rep"
    write_report(old, folder, experiment=EXPERIMENT)
    return new, folder


@pytest.fixture
def earlier(runs, tmp_path):
    new, folder = runs
    rep = tmp_path / "rep"
    shutil.copytree(folder, rep)
    return new, rep, tree(rep)


def test_earlier_report_is_complete(earlier):
    _, rep, _ = earlier
    assert sorted(p.name for p in rep.iterdir()) == sorted(REPORT_FILES)
    assert json.loads((rep / "report.json").read_text())["batch_size"] == 32


@pytest.mark.parametrize("name", REPORT_FILES)
def test_disk_full_in_any_file_leaves_the_earlier_report(earlier, failing_write, name):
    new, rep, before = earlier
    made = failing_write(name)
    with pytest.raises(UserError) as e:
        write_report(new, rep, experiment=EXPERIMENT)
    assert made and made[0].fired, f"{name} was never written past 100 bytes"
    msg = str(e.value)
    assert "\n" not in msg and "No space left on device" in msg and name in msg and "unchanged" in msg
    assert tree(rep) == before


def test_ctrl_c_while_plotting_leaves_the_earlier_report(earlier, failing_write):
    new, rep, before = earlier
    made = failing_write(PLOT_FILES[1], KeyboardInterrupt(), budget=1000)
    with pytest.raises(KeyboardInterrupt):
        write_report(new, rep, experiment=EXPERIMENT)
    assert made[0].fired and tree(rep) == before


def test_new_report_replaces_the_earlier_one_whole(earlier):
    new, rep, _ = earlier
    files = write_report(new, rep, plots=False, experiment=EXPERIMENT)
    assert sorted(files) == sorted(p.name for p in rep.iterdir()) == sorted(set(REPORT_FILES) - set(PLOT_FILES))
    assert [p.name for p in rep.parent.iterdir()] == ["rep"]
    assert json.loads((rep / "report.json").read_text()) == new
    assert "batch 32" not in (rep / "report.md").read_text()


def test_non_finite_number_writes_nothing_and_names_its_key(earlier):
    new, rep, before = earlier
    bad = json.loads(json.dumps(new))
    bad["systems"][1]["phases"]["forward"]["energy_j"] = math.inf
    with pytest.raises(UserError) as e:
        write_report(bad, rep)
    assert "systems[1].phases.forward.energy_j = inf" in str(e.value)
    assert tree(rep) == before
