"""PyTorch modules in (crosstrain.import_torch): tiny modules written here the way the papers'
networks are written in PyTorch, checked against the built-in definitions; without PyTorch, one
ImportError naming the extra."""

import inspect
import sys

import pytest

import crosstrain
from crosstrain.rollup.networks import NetworkError, builtin


def geometry(net):
    return [(l.kind, l.in_shape, l.out_shape, l.kernel, l.stride, l.padding, l.output_padding,
             l.needs_input_error) for l in net.layers]


def test_without_torch_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"^import_torch needs PyTorch, the `torch` extra: "
                                          r"pip install 'crosstrain\[torch\]'$"):
        crosstrain.import_torch(object(), None)


@pytest.fixture(scope="module")
def nn():
    return pytest.importorskip("torch").nn


def _vgg8(nn):
    layers = []
    c = 3
    for ch, pool in [(128, 0), (128, 1), (256, 0), (256, 1), (512, 0), (512, 1)]:
        layers += [nn.Conv2d(c, ch, 3, padding=1), nn.BatchNorm2d(ch), nn.ReLU()]
        layers += [nn.MaxPool2d(2)] if pool else []
        c = ch
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(8192, 1024), nn.ReLU(), nn.Dropout(),
                         nn.Linear(1024, 10))


def _resnet18_cifar(nn):
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else None

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            identity = x if self.downsample is None else self.downsample(x)
            out += identity
            return F.relu(out)

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            blocks, c = [], 64
            for stage, out in enumerate([64, 128, 256, 512]):
                blocks += [Block(c, out, 2 if stage else 1), Block(out, out, 1)]
                c = out
            self.layers = nn.Sequential(*blocks)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, 10)

        def forward(self, x):
            x = self.layers(F.relu(self.bn1(self.conv1(x))))
            return self.fc(self.avgpool(x).view(x.size(0), -1))

    return ResNet18()


def test_vgg8_is_the_builtin(nn):
    import torch
    net = crosstrain.import_torch(_vgg8(nn), torch.zeros(1, 3, 32, 32), name="vgg8")
    assert net.name == "vgg8" and geometry(net) == geometry(builtin("vgg8-cifar10"))


def test_resnet18_is_the_builtin(nn):
    import torch
    net = crosstrain.import_torch(_resnet18_cifar(nn).eval(), torch.zeros(2, 3, 32, 32))
    assert net.name == "ResNet18" and geometry(net) == geometry(builtin("resnet18-cifar10"))
    assert sum(l.kind == "add" for l in net.layers) == 8


def test_dcgan_is_the_builtin(nn):
    """The PyTorch DCGAN example's generator and discriminator (nz=100, ngf=ndf=64)."""
    import torch
    gen = nn.Sequential(nn.ConvTranspose2d(100, 512, 4, 1, 0, bias=False), nn.BatchNorm2d(512), nn.ReLU(True),
                        nn.ConvTranspose2d(512, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.ReLU(True),
                        nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
                        nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
                        nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), nn.Tanh())
    disc = nn.Sequential(nn.Conv2d(3, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
                         nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
                         nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2),
                         nn.Conv2d(256, 512, 4, 2, 1, bias=False), nn.BatchNorm2d(512), nn.LeakyReLU(0.2),
                         nn.Conv2d(512, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    assert geometry(crosstrain.import_torch(gen, torch.zeros(1, 100, 1, 1))) == \
        geometry(builtin("dcgan-generator"))
    assert geometry(crosstrain.import_torch(disc, torch.zeros(1, 3, 64, 64))) == \
        geometry(builtin("dcgan-discriminator"))


def test_estimate_of_the_imported_vgg8_is_the_builtins(nn):
    import torch
    net = crosstrain.import_torch(_vgg8(nn), torch.zeros(1, 3, 32, 32))
    got = crosstrain.estimate(net, "panther,pipelayer", batch=8).to_dict()["systems"]
    want = crosstrain.estimate("vgg8-cifar10", "panther,pipelayer", batch=8).to_dict()["systems"]
    keys = ("latency_s", "energy_j", "area_mm2")
    assert [[s[k] for k in keys] for s in got] == [[s[k] for k in keys] for s in want]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("make, name", [(_vgg8, "vgg8-cifar10"), (_resnet18_cifar, "resnet18-cifar10")])
def test_pytorchs_own_onnx_export_reads_as_the_builtin(nn, tmp_path, make, name):
    """A real exporter's output: torch.onnx.export (TorchScript exporter; eval mode folds the
    batch norms; without parameters, so the weights are graph inputs) read by --network FILE.onnx."""
    import torch
    pytest.importorskip("onnx")
    from crosstrain.rollup.network_files import load
    f = tmp_path / "m.onnx"
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(make(nn).eval(), torch.zeros(1, 3, 32, 32), str(f), export_params=False, **legacy)
    assert geometry(load(f)) == geometry(builtin(name))


@pytest.mark.parametrize("make, words", [
    (lambda nn: nn.Sequential(nn.Conv2d(4, 4, 3), nn.Upsample(scale_factor=2)),
     "node '1' (Upsample): nn.Upsample is not supported"),
    (lambda nn: nn.Sequential(nn.Conv2d(4, 8, 3, groups=4)), "node '0' (Conv2d): groups = 4"),
    (lambda nn: nn.Sequential(nn.Conv2d(4, 8, (3, 1))), "kernel = [3, 1]: only square kernels"),
])
def test_what_the_table_cannot_hold_is_one_line(nn, make, words):
    import torch
    with pytest.raises(NetworkError) as e:
        crosstrain.import_torch(make(nn), torch.zeros(1, 4, 8, 8))
    assert words in str(e.value) and "\n" not in str(e.value)
