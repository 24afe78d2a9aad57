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
