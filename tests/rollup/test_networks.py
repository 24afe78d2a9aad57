"""Built-in networks against published parameter counts; the builder's shape checks."""

import tracemalloc

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crosstrain.rollup.networks import BUILTIN, Layer, NetBuilder, NetworkError, builtin, useful_taps


def test_resnet18_imagenet_matches_torchvision_counts():
    # torchvision resnet18: 11,689,512 parameters = conv + fc weights + 9,600 batch-norm
    # parameters (2 per channel of 20 BN layers: 64 + 4x64 + 5x128 + 5x256 + 5x512 = 4,800
    # channels) + 1,000 fc biases. ~1.81 GMACs per 224x224 image.
    net = builtin("resnet18-imagenet")
    assert net.weights == 11_689_512 - 9_600 - 1_000
    assert net.macs == pytest.approx(1.814e9, rel=0.005)
    assert [l.out_shape for l in net.layers if l.name == "layer4.1.add"] == [(512, 7, 7)]
    assert net.layers[-1].out_shape == (1000, 1, 1)


def test_vgg16_matches_published_counts():
    # 138,357,544 parameters including 13,416 biases (conv 4,224 + fc 9,192); ~15.5 GMACs
    net = builtin("vgg16-imagenet")
    assert net.weights == 138_357_544 - 13_416
    assert net.macs == pytest.approx(15.47e9, rel=0.005)


def test_vgg8_is_neurosim_table():
    net = builtin("vgg8-cifar10")
    convs = [3 * 128, 128 * 128, 128 * 256, 256 * 256, 256 * 512, 512 * 512]
    assert net.weights == 9 * sum(convs) + 8192 * 1024 + 1024 * 10
    fc1 = next(l for l in net.layers if l.name == "fc1")
    assert fc1.in_ch == 8192 and fc1.in_shape == (8192, 1, 1)


def test_dcgan_shapes():
    g, d = builtin("dcgan-generator"), builtin("dcgan-discriminator")
    assert [l.out_h for l in g.layers] == [4, 8, 16, 32, 64] and g.layers[-1].out_ch == 3
    assert g.weights == 16 * (100 * 512 + 512 * 256 + 256 * 128 + 128 * 64 + 64 * 3)
    assert [l.out_h for l in d.layers] == [32, 16, 8, 4, 1]


def test_every_builtin_builds_and_chains():
    for name in BUILTIN:
        net = builtin(name)
        assert net.name == name and net.layers[0].needs_input_error is False
        assert all(l.needs_input_error for l in net.layers[1:]), name


def test_conv_useful_taps_by_hand():
    # k3 s1 p1 on 5: the border outputs lose one tap to padding; k3 s2 p1 on 5 -> 3 outputs
    assert useful_taps(5, 3, 1, 1, 5) == 2 + 3 + 3 + 3 + 2
    assert useful_taps(5, 3, 2, 1, 3) == 2 + 3 + 2


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.integers(1, 4), st.integers(0, 5))
def test_conv_useful_taps_equal_the_enumeration(n_in, k, s, p):
    n_out = (n_in + 2 * p - k) // s + 1
    assume(n_out >= 1)
    want = sum(0 <= o * s - p + t < n_in for o in range(n_out) for t in range(k))
    assert useful_taps(n_in, k, s, p, n_out) == want


def test_a_billion_pixel_side_takes_no_memory():
    """A conv with 10**9 pixels along one side: its useful taps are closed form."""
    tracemalloc.start()
    try:
        n = useful_taps(10**9, 3, 1, 1, 10**9)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 16 and n == 3 * 10**9 - 2


@pytest.mark.parametrize("build, needle", [
    (lambda b: b.conv(8, 3, 1, 1, name="a") and b.conv(8, 3, 1, 1, name="a"), "used twice"),
    (lambda b: b.conv(8, 3, src="nope"), "unknown source layer"),
    (lambda b: b.conv(8, 3, 2, 1) and b.add("input"), "shapes differ"),
    (lambda b: b.tconv(8, 4, 2, 1, output_padding=2), "output_padding = 2 must be below stride"),
    (lambda b: b.conv(8, 9), "leave no output"),
    (lambda b: b.tconv(8, 2, 3), "kernel = 2 is smaller than stride = 3"),
    (lambda b: b.conv(0, 3), "out_ch = 0"),
    (lambda b: b.add_layer("lstm", out_ch=3), "unknown type 'lstm'"),
])
def test_builder_rejects_impossible_layers(build, needle):
    b = NetBuilder("t", (3, 8, 8))
    with pytest.raises(NetworkError, match=needle):
        build(b)


def test_fc_flattens_and_pool_keeps_channels():
    b = NetBuilder("t", (4, 6, 6))
    b.pool(2)
    fc = b.fc(5)
    assert (fc.in_ch, fc.in_h, fc.weights) == (4 * 3 * 3, 1, 36 * 5)
    with pytest.raises(NetworkError, match="keeps its 4 channels"):
        Layer("p", "pool", in_ch=4, out_ch=8, in_h=4, in_w=4, kernel=2, stride=2)


def test_unknown_builtin_names_the_choices():
    with pytest.raises(NetworkError, match="vgg8-cifar10"):
        builtin("vgg9")


def test_layers_record_their_inputs():
    """The wiring an export writes back: the previous output, ``src``, and an add's two inputs."""
    b = NetBuilder("t", (4, 8, 8))
    b.conv(4, 3, padding=1, name="a")
    b.conv(4, 3, padding=1, name="b")
    b.conv(4, 1, name="skip", src="a")
    b.add("b", name="sum")
    b.add("a", src="b", name="sum2")
    assert {l.name: l.inputs for l in b.build().layers} == {
        "a": ("input",), "b": ("a",), "skip": ("a",), "sum": ("skip", "b"), "sum2": ("b", "a")}
    with pytest.raises(NetworkError, match=r"add: shapes differ: input gives \[4, 8, 8\], x gives"):
        b.fc(2, name="x")
        b.add("x", src="input")
    assert Layer("l", "conv", 1, 1, inputs=("a",)) == Layer("l", "conv", 1, 1)   # not part of the cost
