"""Examples in the docs run, and print what the docs say they print."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_golden_worked_example_output():
    text = (ROOT / "docs" / "golden.md").read_text()
    code, shown = re.search(r"```python\n(.*?)```\s*```text\n(.*?)```", text, re.S).groups()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == shown


def test_api_tour_runs(tmp_path):
    """docs/examples/api_tour.py (the notebook-style example of docs/api.md) runs from another
    folder, writes nothing there, and prints each of its parts."""
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / "api_tour.py")],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "panther: 128x128 arrays, 8 slices per weight, 4 ADCs per array"
    assert [line.split()[0] for line in lines[1:4]] == ["gpu", "panther", "pipelayer"]
    assert [line.split(" ADC")[0] for line in lines[4:8]] == ["1", "2", "4", "8"]
    assert lines[8].split() == ["name", "latency_s", "energy_j", "speedup_vs_gpu"]
    assert list(tmp_path.iterdir()) == []


def test_api_doc_names_what_exists():
    """Every ``crosstrain.NAME`` docs/api.md documents is in the package's public API."""
    import crosstrain

    text = (ROOT / "docs" / "api.md").read_text()
    named = set(re.findall(r"`crosstrain\.(\w+)\(", text))
    assert named == set(crosstrain.__all__)
