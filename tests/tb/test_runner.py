"""crosstrain.tb.runner: wave dumps come from a build of their own and land where wave_file says."""

import pytest

from crosstrain.golden.deconv import ConvTranspose
from crosstrain.rtl.deconv_addr import DeconvAddressGenerator
from crosstrain.tb.runner import build_dir, run_bench, wave_file

SPEC = ConvTranspose(in_channels=1, out_channels=1, kernel=4, stride=2, padding=1, height=3, width=3)


def test_wave_builds_have_their_own_directory():
    params = SPEC.as_params()
    for sim in ("icarus", "verilator"):
        plain, waves = build_dir("deconv_addr", params, sim), build_dir("deconv_addr", params, sim, waves=True)
        assert plain != waves and plain.parent == waves.parent
        assert wave_file("deconv_addr", params, sim).parent == waves


def test_ports_only_verilator_builds_have_their_own_directory():
    """Only Verilator's build changes with ``ports_only`` (``--public-depth 1`` for cocotb's
    ``--public-flat-rw``, the speed options added), so only it gets a directory of its own."""
    from crosstrain.tb.runner import _ports_only

    params = SPEC.as_params()
    assert build_dir("d", params, "verilator", ports_only=True).name == "verilator-ports"
    assert build_dir("d", params, "icarus", ports_only=True) == build_dir("d", params, "icarus")

    class Runner:                                   # the part of cocotb's runner that is patched
        def _build_command(self):
            return [["verilator", "--vpi", "--public-flat-rw", "x.v"], ["make"]]

    assert _ports_only(Runner())._build_command() == [
        ["verilator", "--vpi", "--public-depth", "1", "x.v", "-O3", "--x-assign", "fast",
         "--x-initial", "fast", "--noassert"], ["make", "OPT_FAST=-O2"]]


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator, via_env, header", [
    ("verilator", False, b"$"),            # VCD: text starting with a $date / $version section
    ("icarus", True, b"\x00"),             # FST: a binary header block (type 0)
])
def test_bench_with_waves_writes_the_wave_file(simulator, via_env, header, monkeypatch, capsys):
    params = SPEC.as_params()
    path = wave_file("deconv_addr", params, simulator)
    path.unlink(missing_ok=True)
    if via_env:
        monkeypatch.setenv("CROSSTRAIN_WAVES", "1")
    tests, failed = run_bench(DeconvAddressGenerator(spec=SPEC), design="deconv_addr", params=params,
                              simulator=simulator, test_module="crosstrain.tb.deconv_addr_bench",
                              waves=not via_env)
    assert (tests, failed) == (3, 0)
    assert f"waves: {path}" in capsys.readouterr().out
    data = path.read_bytes()
    assert data.startswith(header) and len(data) > 1000, f"{path}: {len(data)} bytes"
    if simulator == "verilator":
        assert b"o__valid" in data and b"busy" in data
