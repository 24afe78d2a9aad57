"""The package layout: imports only go down the layer table of docs/ARCHITECTURE.md, the
packages pyproject.toml installs are exactly the package folders, and ``import crosstrain``
loads no layer."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_DIRS = PYPROJECT["tool"]["setuptools"]["package-dir"]


def layer_table() -> dict[str, tuple[list[str], set[str]]]:
    """layer -> (module prefixes, layers it may import), from docs/ARCHITECTURE.md."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text[text.index("## Packages and layers"):]
    rows = re.findall(r"^\| (\w+) \| (.+?) \| (.+?) \|$", section, re.M)
    table = {}
    for layer, modules, allowed in rows:
        if layer == "layer":
            continue
        prefixes = re.findall(r"`(crosstrain[\w.]*)`", modules)
        may = {a.strip() for a in allowed.split(",")} - {"—"}
        table[layer] = (prefixes, may)
    assert {"golden", "rtl", "tb", "cli"} <= set(table), "layer table not found in ARCHITECTURE.md"
    return table


def module_name(path: Path) -> str:
    """The installed name of a source file, from pyproject's package-dir mapping."""
    rel = path.relative_to(ROOT)
    for pkg, folder in sorted(PACKAGE_DIRS.items(), key=lambda kv: -len(kv[1])):
        if rel.parts[0] == folder:
            parts = [pkg, *rel.with_suffix("").parts[1:]]
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts)
    raise AssertionError(f"{rel} is in no package folder")


def layer_of(module: str, table) -> str:
    best, best_len = "cli", 0
    for layer, (prefixes, _) in table.items():
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = layer, len(p)
    return best


def imports(path: Path) -> list[tuple[int, str]]:
    """Every ``crosstrain`` module imported anywhere in the file (functions included)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return [(line, m) for line, m in out if m.split(".")[0] == "crosstrain"]


def sources() -> list[Path]:
    return sorted(p for folder in PACKAGE_DIRS.values() for p in (ROOT / folder).rglob("*.py"))


def test_imports_only_go_down():
    table = layer_table()
    bad = []
    for path in sources():
        mine = layer_of(module_name(path), table)
        may = table[mine][1]
        for line, target in imports(path):
            theirs = layer_of(target, table)
            if theirs != mine and "all" not in may and theirs not in may:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {mine} imports {target} ({theirs})")
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_the_layer_check_sees_an_upward_import(tmp_path):
    table = layer_table()
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from crosstrain.rollup.cost import CostSettings\n")
    (line, target), = imports(probe)
    assert layer_of(target, table) == "rollup" and "rollup" not in table["golden"][1]
    assert layer_of("crosstrain.golden.config", table) == "golden"
    assert layer_of("crosstrain.tools", table) == "base"
    assert layer_of("crosstrain.cli", table) == "cli"


def test_pyproject_installs_every_package_folder():
    folders = {module_name(p.parent / "__init__.py") for p in sources() if p.name == "__init__.py"}
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]) == folders


@pytest.mark.parametrize("folder", ["golden", "rtl", "tb", "scripts"])
def test_no_source_imports_the_old_top_level_names(folder):
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for n in names:
                assert n.split(".")[0] not in ("golden", "rtl", "tb", "scripts"), f"{path}: {n}"


def test_importing_crosstrain_loads_no_layer():
    code = ("import sys, crosstrain; "
            "print(sorted(m for m in sys.modules if m.startswith('crosstrain.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
