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


def test_rtl_contract_example_drives_mvm_unit():
    """docs/rtl.md's contract for ``mvm_unit`` is enough to drive it: its example (port
    layouts, the crossbar port's answer, the stream handshakes, written from the document
    alone) gets the golden outputs with the cycle model's latency and interval."""
    text = (ROOT / "docs" / "rtl.md").read_text()
    section = text[text.index("## Driving `mvm_unit`: the contract"):]
    code, shown = re.search(r"```python\n(.*?)```\s*```text\n(.*?)```", section, re.S).groups()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == shown
    outputs, golden = re.search(r"outputs (\[.*\]), golden (\[.*\])", r.stdout).groups()
    assert outputs == golden
    latency, model_latency, interval, model_interval = map(int, re.findall(r"\d+", r.stdout.splitlines()[1]))
    assert (latency, interval) == (model_latency, model_interval)


def test_ci_runs_exactly_the_readme_commands():
    """``.ci/run`` is the README's Setup, Test and Run code blocks, command for command, in order."""
    readme = (ROOT / "README.md").read_text()
    blocks = {name: re.search(rf"^## {name}\n.*?```sh\n(.*?)```", readme, re.S | re.M).group(1)
              for name in ("Setup", "Test", "Run")}
    documented = [line for name in ("Setup", "Test", "Run") for line in blocks[name].splitlines()]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in ci if line and not line.startswith(("#", "set ", "cd "))]
    assert commands == documented
