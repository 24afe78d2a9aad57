"""``crosstrain networks``: the list, exports that read back as the same layers, the estimate of an
exported and re-imported ONNX VGG-8, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crosstrain.cli import main
from crosstrain.rollup.network_files import load
from crosstrain.rollup.networks import BUILTIN, builtin

ROOT = Path(__file__).resolve().parents[2]
NEUROSIM_CHAINS = ("mlp-panther", "mlp-512", "vgg8-cifar10", "vgg16-imagenet")


def run(capsys, *args):
    """(exit status, stdout, stderr) of ``crosstrain networks ARGS`` run in this process."""
    rc = main(["networks", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def layers(net, names=True):
    return [((l.name,) if names else ()) + (l.kind, l.in_shape, l.out_shape, l.kernel, l.stride,
                                           l.padding, l.output_padding, l.needs_input_error)
            for l in net.layers]


def test_list_table_and_json(capsys):
    rc, out, _ = run(capsys, "list")
    assert rc == 0 and all(name in out for name in BUILTIN)
    rc, out, _ = run(capsys, "list", "--json")
    nets = {d["name"]: d for d in json.loads(out)["networks"]}
    assert list(nets) == list(BUILTIN)
    # Simonyan & Zisserman 2015 (VGG-16 D: 138,344,128 weights without biases); ResNet-18 for
    # ImageNet: 11,678,912 weights, 1.81 GMAC (He et al. 2016's 1.8 GFLOPs, multiply-adds)
    assert nets["vgg16-imagenet"]["weights"] == 138_344_128
    assert nets["resnet18-imagenet"]["weights"] == 11_678_912
    assert round(nets["resnet18-imagenet"]["macs"] / 1e9, 2) == 1.81
    assert nets["vgg8-cifar10"]["input_shape"] == [3, 32, 32] and nets["vgg8-cifar10"]["weight_layers"] == 8


@pytest.mark.parametrize("name", list(BUILTIN))
@pytest.mark.parametrize("fmt", ["onnx", "csv"])
def test_export_reads_back_as_the_same_layers(capsys, tmp_path, name, fmt):
    f = tmp_path / f"net.{fmt}"
    rc, out, err = run(capsys, "export", name, "--format", fmt, "-o", str(f))
    assert rc == 0, err
    assert out == f"wrote {f}: {name}, {len(builtin(name).layers)} layers as {fmt}\n"
    back, ref = load(f), builtin(name)
    assert layers(back) == layers(ref) and back.input_shape == ref.input_shape
    assert [l.inputs for l in back.layers] == [l.inputs for l in ref.layers]


@pytest.mark.parametrize("name", NEUROSIM_CHAINS)
def test_neurosim_rows_read_back_as_the_same_layers(capsys, tmp_path, name):
    rc, out, _ = run(capsys, "export", name, "--format", "neurosim")
    assert rc == 0 and all(len(row.split(",")) == 8 for row in out.splitlines())
    f = tmp_path / "NetWork.csv"
    f.write_text(out)
    assert layers(load(f), names=False) == layers(builtin(name), names=False)


def test_neurosim_vgg8_rows_are_the_reference_sheet():
    """NeuroSim V2.1's VGG-8 NetWork.csv, as tests/rollup/test_network_files.py lists it."""
    from crosstrain.rollup.network_export import to_neurosim
    ref = (ROOT / "tests" / "rollup" / "test_network_files.py").read_text()
    rows = ref.split('NEUROSIM_VGG8 = """\\\n')[1].split('"""')[0]
    assert to_neurosim(builtin("vgg8-cifar10")) == rows


def test_estimate_of_exported_onnx_vgg8_equals_the_builtin(tmp_path):
    f = tmp_path / "vgg8.onnx"
    cmd = [sys.executable, "-m", "crosstrain"]
    subprocess.run(cmd + ["networks", "export", "vgg8-cifar10", "--format", "onnx", "-o", str(f)],
                   check=True, capture_output=True)

    def estimate(network):
        r = subprocess.run(cmd + ["estimate", "--network", network, "--systems", "all", "--no-report",
                                  "--json"], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    got, want = estimate(str(f)), estimate("vgg8-cifar10")
    assert got["network"] == "vgg8" and want["network"] == "vgg8-cifar10"
    assert len(got["systems"]) == len(want["systems"]) > 10
    assert got["systems"] == want["systems"]
    assert got["network_info"] == want["network_info"]


@pytest.mark.parametrize("args, needle", [
    (("export", "resnet18-cifar10", "--format", "neurosim"),
     "layer layer1.0.add (add k1 s1 p0 from layer1.0.conv2, conv1): NeuroSim rows hold a chain"),
    (("export", "dcgan-generator", "--format", "neurosim"), "layer tconv1 (tconv k4 s1 p0 from input)"),
    (("export", "vgg8-cifar10", "--format", "onnx"), "--format onnx is binary: give -o FILE.onnx"),
    (("export", "vgg8-cifar10", "--format", "csv", "-o", "x.onnx"),
     "-o x.onnx: a .onnx file is read back as ONNX; name the csv file *.csv"),
    (("export", "vgg9", "--format", "csv"), "unknown network 'vgg9'"),
    (("export", "vgg8-cifar10", "--format", "onnx", "-o", "/nonexistent-dir/x.onnx"),
     "cannot write /nonexistent-dir/x.onnx: No such file or directory"),
])
def test_errors_are_one_line(capsys, args, needle):
    rc, out, err = run(capsys, *args)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("crosstrain networks: error: ") and needle in err


def test_export_of_a_network_file_to_stdout(capsys, tmp_path):
    f = tmp_path / "toy.toml"
    f.write_text('input = [1, 8, 8]\n[[layer]]\ntype = "conv"\nout_ch = 4\nkernel = 3\npadding = 1\n'
                 '[[layer]]\ntype = "pool"\nkernel = 2\n[[layer]]\ntype = "fc"\nout_ch = 10\n')
    rc, out, _ = run(capsys, "export", str(f), "--format", "neurosim")
    assert rc == 0 and out == "8,8,1,3,3,4,1,1\n1,1,64,1,1,10,0,1\n"
