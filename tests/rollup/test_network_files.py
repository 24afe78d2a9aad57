"""Network files: CSV (ours and NeuroSim's), TOML, and file:line:column errors."""

import pytest

from crosstrain.rollup.network_files import load, parse_csv, parse_toml
from crosstrain.rollup.networks import NetworkError, builtin

# NeuroSim V2.1's VGG-8 NetWork.csv rows as listed in the reference sheet (section 8):
# IFM rows, IFM cols, IFM channels, kernel rows, kernel cols, OFM channels, pool, stride
NEUROSIM_VGG8 = """\
32,32,3,3,3,128,0,1
32,32,128,3,3,128,1,1
16,16,128,3,3,256,0,1
16,16,256,3,3,256,1,1
8,8,256,3,3,512,0,1
8,8,512,3,3,512,1,1
1,1,8192,1,1,1024,0,1
1,1,1024,1,1,10,0,1
"""

TABLE = """\
# a residual toy
name,type,in_ch,in_h,in_w,out_ch,kernel,stride,padding,output_padding,from
c1,conv,3,8,8,4,3,1,1,,
p1,pool,,,,,2,,,,
c2,conv,,,,4,3,1,1,,
sum,add,,,,,,,,,p1
up,tconv,,,,2,4,2,1,,
f,fc,,,,10,,,,,
"""

TOML = """\
name = "toy"
dataset = "digits"
input = [1, 8, 8]

[[layer]]
type = "conv"
out_ch = 4
kernel = 3
padding = 1

[[layer]]
name = "down"
type = "conv"
out_ch = 4
kernel = 3
stride = 2
padding = 1

[[layer]]
type = "fc"
out_ch = 10
"""


def test_neurosim_csv_is_the_builtin_vgg8():
    net, ref = parse_csv(NEUROSIM_VGG8, "vgg8.csv"), builtin("vgg8-cifar10")
    assert [(l.kind, l.in_shape, l.out_shape) for l in net.layers] == \
           [(l.kind, l.in_shape, l.out_shape) for l in ref.layers]


def test_table_csv_chains_shapes():
    net = parse_csv(TABLE, "toy.csv")
    shapes = {l.name: (l.kind, l.in_shape, l.out_shape) for l in net.layers}
    assert shapes["p1"] == ("pool", (4, 8, 8), (4, 4, 4))           # stride defaults to kernel
    assert shapes["sum"] == ("add", (4, 4, 4), (4, 4, 4))
    assert shapes["up"] == ("tconv", (4, 4, 4), (2, 8, 8))          # (4-1)*2 - 2 + 4
    assert shapes["f"] == ("fc", (128, 1, 1), (10, 1, 1))           # flattened 2*8*8


def test_toml_file(tmp_path):
    f = tmp_path / "toy.toml"
    f.write_text(TOML)
    net = load(f)
    assert net.name == "toy" and net.dataset == "digits"
    assert [l.out_shape for l in net.layers] == [(4, 8, 8), (4, 4, 4), (10, 1, 1)]
    assert net.layers[1].name == "down" and net.layers[2].in_ch == 64


def _err(text, name):
    parse = parse_toml if name.endswith(".toml") else parse_csv
    with pytest.raises(NetworkError) as e:
        parse(text, name)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


HEADER = "name,type,in_ch,in_h,in_w,out_ch,kernel\n"


@pytest.mark.parametrize("text, name, where, needle", [
    (HEADER + "c1,conv,3,8,8,4,x\n", "n.csv", "n.csv:2:17:", "kernel = 'x' is not an integer"),
    ("name,type,colour\n", "n.csv", "n.csv:1:11:", "unknown column 'colour'"),
    (HEADER + "c1,lstm,3,8,8,4,3\n", "n.csv", "n.csv:2:4:", "type = 'lstm'"),
    (HEADER + "c1,conv,3,8,8,4,3,7,9\n", "n.csv", "n.csv:2:19:", "9 fields"),
    (HEADER + "c1,conv,,8,8,4,3\n", "n.csv", "n.csv:2:9:", "must give in_ch"),
    (HEADER + "c1,conv,3,8,8,4,3\nc2,conv,,,,0,3\n", "n.csv", "n.csv:3:12:", "out_ch = 0"),
    (HEADER + "c1,conv,3,8,8,4,3\ns,add,,,,,\n", "n.csv", "n.csv:3:", "needs 'from'"),
    ("32,32,3,3,3,128,0\n", "ns.csv", "ns.csv:1:18:", "8 integers"),
    ("32,32,3,3,5,128,0,1\n", "ns.csv", "ns.csv:1:11:", "only square kernels"),
    ("32,32,3,3,3,128,2,1\n", "ns.csv", "ns.csv:1:17:", "pool = 2"),
    ('input = [3, 8, 8]\n[[layer]]\ntype = "conv"\nout_ch = [\n', "n.toml", "n.toml:4:", "TOML syntax"),
    ('input = [3, 8, 8]\n[[layer]]\ntype = "conv"\nchannels = 4\n', "n.toml", "n.toml:4:1:",
     "unknown layer key 'channels'"),
    ('input = [3, 8, 8]\n[[layer]]\ntype = "conv"\nout_ch = 4\nkernel = "3"\n', "n.toml", "n.toml:5:10:",
     "kernel = '3' must be an integer"),
    ('input = [3, 8, 8]\n[[layer]]\ntype = "tconv"\nout_ch = 4\nkernel = 4\nstride = 2\n'
     'output_padding = 2\n', "n.toml", "n.toml:7:18:", "must be below stride"),
    ('input = [3, 8, 8]\n[[layer]]\ntype = "conv"\nout_ch = 4\nfrom = "x"\n', "n.toml", "n.toml:5:8:",
     "unknown source layer 'x'"),
    ('input = [3, 8]\n[[layer]]\ntype = "fc"\nout_ch = 4\n', "n.toml", "n.toml:1:9:", "three integers"),
    ('[[layer]]\ntype = "fc"\nout_ch = 4\n', "n.toml", "n.toml:1:1:", "missing input"),
    ('input = [3, 8, 8]\nlayers = 3\n', "n.toml", "n.toml:2:1:", "unknown key 'layers'"),
    ('input = [3, 8, 8]\n[[layer]]\nout_ch = 4\n', "n.toml", "n.toml:2:1:", "has no type"),
    # issue 10: sizes, digits, duplicates, NeuroSim rows, padding, huge integers
    (HEADER + "c1,conv,3,8,8,4,٣\n", "n.csv", "n.csv:2:17:", "kernel = '٣' is not an integer"),
    (HEADER + "c1,conv,3,1000000000,8,4,3\n", "n.csv", "n.csv:2:11:",
     "in_h = 1000000000 is not allowed: from 1 to 1,048,576"),
    (HEADER + "c1,conv,3,8,8,4," + "9" * 5000 + "\n", "n.csv", "n.csv:2:17:", "kernel = '999"),
    (HEADER + "c1,conv,3,8,8,4,3\nc2,conv,,,,4," + "1" * 140_000 + "\n", "n.csv", "n.csv:3:1:",
     "field larger than field limit (131072)"),
    ("name,type,in_ch,type\n", "n.csv", "n.csv:1:17:", "column 'type' appears twice"),
    (HEADER[:-1] + ",padding\nc1,conv,3,8,8,4,3,50\n", "n.csv", "n.csv:2:19:",
     "padding = 50 is not allowed with kernel 3: at most 2"),
    ("32,32,3,3,3,128,0,1,5\n", "ns.csv", "ns.csv:1:21:", "this one has 9"),
    ("32,32,3,3,3,128,0,0\n", "ns.csv", "ns.csv:1:19:", "stride = 0 is not allowed: from 1"),
    ('input = [3, 8, 8]\n[[layer]]\ntype = "conv"\nout_ch = ' + "9" * 400 + "\nkernel = 3\n", "n.toml",
     "n.toml:4:", "out_ch = <an integer of about 400 digits> is not allowed"),
    ('input = [3, 8, 8]\n[[layer]]\ntype = "conv"\nout_ch = ' + "9" * 5000 + "\n", "n.toml",
     "n.toml:4:10:", "an integer of more than 4,300 digits"),
    ('input = [3, 1048576, 1048576]\n[[layer]]\ntype = "tconv"\nout_ch = 4\nkernel = 2\nstride = 2\n',
     "n.toml", "n.toml:", "at most 1,048,576 pixels per side"),
])
def test_malformed_files_name_file_line_column(text, name, where, needle):
    msg = _err(text, name)
    assert msg.startswith(where), msg
    assert needle in msg, msg


def test_files_that_are_not_utf8_name_the_byte(tmp_path):
    f = tmp_path / "n.csv"
    f.write_bytes(b"type,in_ch\nc\xffnv,3\n")
    with pytest.raises(NetworkError, match=r"n.csv:2:2: byte 0xff is not UTF-8"):
        load(f)


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(NetworkError, match="cannot read network file"):
        load(tmp_path / "absent.csv")
    with pytest.raises(NetworkError, match="unknown network"):
        load("absent")
