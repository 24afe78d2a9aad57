"""A user's install: the wheel of this checkout, installed into a fresh environment, run from
another folder, is one package ``crosstrain`` that works and writes nothing into site-packages.

The fresh environment gets its dependencies from the running one through a ``.pth`` line (a
plain path: the ``.pth`` files there, such as the development install's editable finder, are not
processed), so the test needs no network and installs nothing twice.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("golden", "rtl", "tb", "scripts", "pyproject.toml", "README.md")

CHECK = """
import importlib.util, json, sys
import crosstrain
r = crosstrain.estimate("mlp-512", ["panther"], batch=2, set={"converters.adcs_per_array": 2})
print(json.dumps({
    "file": crosstrain.__file__,
    "finders": [f"{getattr(f, '__module__', '')}.{getattr(f, '__name__', type(f).__name__)}" for f in sys.meta_path],
    "top_level": {n: importlib.util.find_spec(n) is not None for n in ("scripts", "tb", "golden", "rtl")},
    "systems": [s["name"] for s in r.to_dict()["systems"]],
    "overrides": r.to_dict()["settings"]["overrides"],
}))
"""


def run(*cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}: {r.stderr[-2000:]}"
    return r


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def test_wheel_in_a_fresh_environment(tmp_path):
    src, wheels, venv, work = (tmp_path / n for n in ("src", "wheels", "venv", "work"))
    for name in SOURCES:                 # a copy: the build leaves build/ and *.egg-info behind
        s = ROOT / name
        if s.is_dir():
            shutil.copytree(s, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy(s, src / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
        "-w", wheels, src)
    wheel, = wheels.glob("crosstrain-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"crosstrain", wheel.name.split("-py3")[0] + ".dist-info"}
    presets = {n for n in names if n.startswith("crosstrain/golden/presets/")}
    assert presets == {f"crosstrain/golden/presets/{p.name}" for p in (ROOT / "golden" / "presets").glob("*.toml")}

    run(sys.executable, "-m", "venv", "--without-pip", venv)
    py = venv / "bin" / "python"
    purelib = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    here = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (purelib / "deps_from_dev_env.pth").write_text("\n".join(sorted(here)) + "\n")
    run(sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "-q", wheel)

    before = tree(purelib)
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CROSSTRAIN_BUILD_DIR")}
    d = json.loads(run(py, "-c", CHECK, cwd=work, env=env).stdout)
    assert Path(d["file"]).is_relative_to(purelib)
    assert not [f for f in d["finders"] if "editable" in f.lower()], d["finders"]
    assert d["top_level"] == {"scripts": False, "tb": False, "golden": False, "rtl": False}
    assert d["systems"] == ["gpu", "panther"] and d["overrides"] == {"converters.adcs_per_array": 2}

    crosstrain = venv / "bin" / "crosstrain"
    out = run(crosstrain, "presets", "--json", cwd=work, env=env).stdout
    assert {p["name"] for p in json.loads(out)["presets"]} == {p.stem for p in (ROOT / "golden" / "presets").glob("*.toml")}
    run(crosstrain, "verilog", "shift_add", "--set", "crossbar.rows=16", "--set", "crossbar.cols=16",
        "-o", "shift_add.v", cwd=work, env=env)
    assert "module shift_add(" in (work / "shift_add.v").read_text()
    bad = subprocess.run([crosstrain, "verilog", "shift_add", "--set", "crossbar.rows=0"],
                         capture_output=True, text=True, cwd=work, env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "crossbar.rows = 0" in bad.stderr

    assert tree(purelib) == before, "something was written into site-packages"
    assert sorted(p.name for p in work.iterdir()) == ["shift_add.v"]
