"""``crosstrain verilog``: the block list, deterministic export of every block, one-line errors."""

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from crosstrain.cli import main
from crosstrain.golden.periphery import PeripheryParams, periphery_params
from crosstrain.golden.write_elim import ComparatorParams
from crosstrain.rtl.blocks import BLOCKS, PERIPHERY, Block, TileKind
from crosstrain.rtl.write_elim import beat_layout

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *args):
    """(exit status, stdout, stderr) of ``crosstrain verilog ARGS`` run in this process."""
    rc = main(["verilog", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_list_names_every_block_with_its_parameters(capsys):
    rc, out, _ = run(capsys, "--list")
    assert rc == 0
    for name in BLOCKS:
        assert re.search(rf"^{name}\s", out, re.M), name
    rc, out, _ = run(capsys, "--list", "--json")
    blocks = {b["name"]: b for b in json.loads(out)["blocks"]}
    assert blocks.keys() == BLOCKS.keys()
    assert "lanes" in blocks["write_elim"]["params"]
    assert "kernel=4" in blocks["deconv_addr"]["params"]


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_every_block_exports_deterministic_verilog_without_paths(capsys, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    # periphery blocks on a 16 x 16 array (the tile: one unit of 4 x 4) keep the three exports short
    size = (["--set", "crossbar.rows=16", "--set", "crossbar.cols=16"] if BLOCKS[name].params is PERIPHERY else
            ["--set", "isa.units=1", "--set", "crossbar.rows=4", "--set", "crossbar.cols=4"]
            if isinstance(BLOCKS[name].params, TileKind) else [])
    rc, out, _ = run(capsys, name, *size, "-o", "a.v")
    assert rc == 0 and "a.v" in out
    rc, _, _ = run(capsys, name, *size, "-o", str(tmp_path / "b.v"))
    assert rc == 0
    text = (tmp_path / "a.v").read_text()
    assert re.search(rf"^module {name}\(", text, re.M)
    assert "clk" in text and "rst" in text
    assert text == (tmp_path / "b.v").read_text()
    rc, out, _ = run(capsys, name, *size)               # no -o: the same text on stdout
    assert rc == 0 and out == text
    for path in (tmp_path, ROOT, sys.prefix):
        assert str(path) not in text
    assert not re.search(r"\.py:\d+", text), "source locations leaked into the Verilog"


def test_params_change_the_verilog(capsys):
    _, small, _ = run(capsys, "write_elim", "--set", "comparator.lanes=4", "--set", "comparator.width=8")
    bits = beat_layout(ComparatorParams(lanes=4, width=8)).size
    assert re.search(rf"input \[{bits - 1}:0\] i__payload;", small)
    _, old, _ = run(capsys, "write_elim", "--param", "lanes=4", "--param", "width=8")
    assert old == small                                  # the old spelling is an alias
    _, spec, _ = run(capsys, "deconv_addr", "--set", "convt.kernel=3", "--set", "convt.stride=1",
                     "--set", "convt.padding=0", "--set", "convt.height=4", "--set", "convt.width=4")
    _, default, _ = run(capsys, "deconv_addr")
    assert spec != default
    _, old, _ = run(capsys, "deconv_addr", "--param", "kernel=3", "--param", "stride=1",
                    "--param", "padding=0", "--param", "height=4", "--param", "width=4")
    assert old == spec


@pytest.mark.parametrize("args, needle", [
    (("nosuch",), "unknown block 'nosuch': use one of "),
    ((), "name a BLOCK"),
    (("write_elim", "--param", "nope=1"), "unknown parameter 'comparator.nope': use one of comparator.lanes, "
                                          "comparator.width"),
    (("write_elim", "--set", "comparator.nope=1"), "unknown parameter 'comparator.nope'"),
    (("write_elim", "--param", "lanes"), "--param 'lanes': expected KEY=VALUE with KEY a field of comparator"),
    (("write_elim", "--set", "crossbar.rows=4"), "--set 'crossbar.rows': not a name this command takes; "
                                                 "use comparator.FIELD"),
    (("write_elim", "--set", "comparator.lanes={a=1}"), "a table is not a value"),
    (("write_elim", "--set", "comparator.lanes=" + "9" * 5000), "too large, integers go up to"),
    (("write_elim", "--param", "lanes=0"), "lanes must be an integer in [1, 1024], not 0"),
    (("write_elim", "--param", "width=wide"), "width must be an integer in [2, 32], not 'wide'"),
    (("write_elim", "--preset", "isaac"), "--preset does not apply"),
    (("deconv_addr", "--param", "stride=0"), "stride"),
    (("deconv_addr", "--set", "convt.stride=0"), "stride"),
    (("deconv_addr", "--param", "kernel=1"), "kernel = 1 is smaller than stride = 2"),
    (("deconv_addr", "--param", "output_padding=2"), "output_padding = 2"),
    (("deconv_addr", "--param", "kernel=1000000000", "--param", "stride=1000000000"),
     "stride = 1000000000 is not allowed in RTL: 1 to 64"),
    (("mvm_unit", "--param", "rows=8192"), "crossbar.rows = 8192 is not allowed in RTL: 1 to 4096"),
    (("mvm_unit", "--param", "pipeline_cycles=1000000000"), "tile.pipeline_cycles = 1000000000"),
    (("mvm_unit", "--param", "cols=4096"), "mvm_unit: port o.payload is "),
    (("write_elim", "-o", "no/such/dir/x.v"), "cannot write no/such/dir/x.v"),
])
def test_bad_input_is_one_line_naming_it(capsys, tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, *args)
    assert rc != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("crosstrain verilog: error: ") and needle in err


def test_constructor_errors_become_one_line(capsys, monkeypatch):
    """A component rejecting its parameters (ValueError / TypeError) is a one-line error."""
    from crosstrain.rtl import write_elim

    def reject(*, params):
        raise ValueError(f"lanes = {params.lanes} does not fit")
    monkeypatch.setattr(write_elim, "WriteEliminator", reject)
    rc, _, err = run(capsys, "write_elim", "--param", "lanes=4")
    assert rc != 0 and err.strip() == "crosstrain verilog: error: WriteEliminator: lanes = 4 does not fit"


def crosstrain(*args, hash_seed="0"):
    return subprocess.run([sys.executable, "-m", "crosstrain.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": hash_seed})


def test_a_user_sees_one_line_and_a_nonzero_status():
    r = crosstrain("verilog", "write_elim", "--param", "count_width=99")
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "crosstrain verilog: error: ComparatorParams.count_width must be an integer in [1, 64], not 99"]


def test_same_text_from_separate_processes(capsys):
    """Names and order do not depend on string hashing or on the process."""
    args = ("verilog", "write_elim", "--param", "lanes=8")
    texts = {crosstrain(*args, hash_seed=seed).stdout for seed in ("1", "2")}
    assert texts == {run(capsys, *args[1:])[1]}


def test_json_applies_to_the_list_only(capsys):
    rc, _, err = run(capsys, "write_elim", "--json")
    assert rc != 0 and "--json applies to --list only" in err


class Counter(wiring.Component):
    """A stand-in periphery block: an ``out_width``-bit counter, built from PeripheryParams."""

    def __init__(self, *, params):
        if not isinstance(params, PeripheryParams):
            raise TypeError(f"params must be a PeripheryParams, not {params!r}")
        super().__init__({"o": Out(signed(params.out_width))})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.o.eq(self.o + 1)
        return m


@pytest.fixture
def periphery_block(monkeypatch):
    """Registers ``counter`` the way a periphery block is registered (one BLOCKS entry)."""
    monkeypatch.setitem(sys.modules, "fake_periphery", types.SimpleNamespace(Counter=Counter))
    monkeypatch.setitem(BLOCKS, "counter", Block("fake_periphery:Counter", "a counter"))


def test_periphery_block_takes_a_preset_and_params(capsys, periphery_block):
    rc, out, _ = run(capsys, "--list")
    assert rc == 0 and re.search(r"^counter\s+a counter\s+PeripheryParams \(--preset", out, re.M)
    values = {"converters.adc_mode": "clip", "converters.adc_bits": 6, "crossbar.rows": 64}
    sets = ["converters.adc_mode=clip", "converters.adc_bits=6", "crossbar.rows=64"]
    rc, out, _ = run(capsys, "counter", "--preset", "pipelayer", *(a for s in sets for a in ("--set", s)))
    width = periphery_params(values, preset="pipelayer").out_width
    assert width != periphery_params(preset="pipelayer").out_width
    assert rc == 0 and f"output [{width - 1}:0] o;" in out
    pairs = ["adc_mode=clip", "adc_bits=6", "crossbar.rows=64"]          # the old spelling
    _, old, _ = run(capsys, "counter", "--preset", "pipelayer", *(a for p in pairs for a in ("--param", p)))
    assert old == out
    for args in (("--set", "periphery.out_width=64"), ("--param", "out_width=64")):
        _, wider, _ = run(capsys, "counter", *args)
        assert "output [63:0] o;" in wider


@pytest.mark.parametrize("args, needle", [
    (("--param", "out_width=10"), "out_width = 10 is too narrow: the output path needs 40 bits"),
    (("--param", "adc_bits=30"), "converters.adc_bits = 30"),
    (("--param", "bits_per_cell=3"), "must be a multiple of device.bits_per_cell"),
    (("--param", "rows=0"), "crossbar.rows = 0"),
    (("--param", "adcs_per_array=0"), "converters.adcs_per_array = 0"),
    (("--param", "nope=1"), "--param 'nope=1': expected KEY=VALUE with KEY one of adc_bits"),
    (("--set", "periphery.nope=1"), "unknown parameter 'periphery.nope'"),
    (("--set", "periphery.out_width=wide"), "out_width = 'wide' is not allowed"),
    (("--set", "comparator.lanes=4"), "not a name this command takes"),
    (("--preset", "nosuch"), "unknown preset or file 'nosuch'"),
])
def test_periphery_block_bad_params_are_one_line(capsys, periphery_block, args, needle):
    rc, out, err = run(capsys, "counter", *args)
    assert rc != 0 and out == "" and len(err.strip().splitlines()) == 1
    assert needle in err


SMALL_ARRAY = ("--set", "crossbar.rows=4", "--set", "crossbar.cols=4")


def test_skip_zero_is_exportable(capsys):
    """``periphery.skip_zero=true`` exports the zero-skipping streamer (as MvmUnit(skip_zero=True)
    builds it); the old ``--param skip_zero=1`` is the same; other blocks and values refuse."""
    from crosstrain.rtl.export import verilog_text
    from crosstrain.rtl.mvm_unit import MvmUnit

    _, plain, _ = run(capsys, "mvm_unit", *SMALL_ARRAY)
    _, skipping, _ = run(capsys, "mvm_unit", *SMALL_ARRAY, "--set", "periphery.skip_zero=true")
    p = periphery_params({"crossbar.rows": 4, "crossbar.cols": 4})
    assert skipping == verilog_text(MvmUnit(params=p, skip_zero=True), "mvm_unit") != plain
    _, old, _ = run(capsys, "mvm_unit", *SMALL_ARRAY, "--param", "skip_zero=1")
    assert old == skipping
    _, off, _ = run(capsys, "mvm_unit", *SMALL_ARRAY, "--set", "periphery.skip_zero=false")
    assert off == plain
    for args, needle in ((("mvm_unit", "--set", "periphery.skip_zero=2"), "periphery.skip_zero = 2 is not allowed"),
                         (("crs_unit", "--set", "periphery.skip_zero=true"), "unknown parameter 'periphery.skip_zero'")):
        rc, out, err = run(capsys, *args)
        assert rc != 0 and out == "" and len(err.strip().splitlines()) == 1 and needle in err


@pytest.mark.parametrize("name", ["mvm_unit", "crs_unit", "crossbar_unit"])
def test_one_line_per_adc_exports_no_empty_port(capsys, name):
    """With one line per ADC (4 columns, 4 ADCs) the line-select port is one bit, not the
    malformed ``[-1:0]`` of a zero-width port."""
    rc, text, _ = run(capsys, name, *SMALL_ARRAY, "--set", "converters.adcs_per_array=4")
    assert rc == 0
    ports = re.findall(r"^\s*(?:input|output) (?:\[(-?\d+):0\] )?(\S+);", text, re.M)
    assert ports and not [n for width, n in ports if width.startswith("-")]
    assert {w for w, n in ports if n.endswith("__line")} == {""}      # one bit: no width given
