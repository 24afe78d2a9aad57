"""crosstrain.tb.words: pack / unpack and the Codec of the RTL's own layouts, checked against
words built bit by bit from the layout's field offsets."""

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib import data

from crosstrain.golden.periphery import periphery_params
from crosstrain.rtl.crossbar_unit import Op, command_layout
from crosstrain.rtl.opa_driver import pieces_layout
from crosstrain.tb.words import Codec, pack, unpack


def bitwise(values, width):
    """The reference word: field k at bits [k*width, (k+1)*width), two's complement."""
    return sum((int(v) & ((1 << width) - 1)) << (k * width) for k, v in enumerate(values))


@pytest.mark.parametrize("width", [1, 3, 8, 17, 62])
def test_pack_and_unpack_against_the_bitwise_word(width):
    rng = np.random.default_rng(width)
    v = rng.integers(-(1 << (width - 1)) if width > 1 else 0, 1 << (width - 1) if width > 1 else 2, 40)
    word = pack(v, width)
    assert word == bitwise(v, width)
    assert np.array_equal(unpack(word, 40, width, signed=width > 1), v)


def test_a_struct_of_enum_and_signed_arrays():
    p = periphery_params({"crossbar.rows": 4, "crossbar.cols": 3, "precision.input_bits": 6,
                          "precision.error_bits": 5})
    layout = command_layout(p)
    c = Codec(layout)
    x, d = np.array([-32, 31, -1]), np.array([-16, 0, 15])           # x shorter than 4 lines
    word = c.pack({"op": Op.OPA, "x": x, "d": d})
    want = (Op.OPA.value << layout["op"].offset) | (bitwise(x, 6) << layout["x"].offset) \
        | (bitwise(d, 5) << layout["d"].offset)
    assert word == want and word < 1 << c.width
    got = c.unpack(word)
    assert got["op"] is Op.OPA
    assert np.array_equal(got["x"], [-32, 31, -1, 0]) and np.array_equal(got["d"], d)
    crs = c.unpack(c.pack({"op": Op.CRS, "x": None}))              # no operand: zeros
    assert crs["op"] is Op.CRS and not crs["x"].any() and not crs["d"].any()


def test_nested_arrays_keep_their_dimensions():
    p = periphery_params({"crossbar.rows": 4, "crossbar.cols": 3})
    c = Codec(pieces_layout(p))                    # [slice][column] of bits_per_cell bits
    v = np.arange(p.update_slices * 3).reshape(p.update_slices, 3) % (1 << p.bits_per_cell)
    word = c.pack(v)
    assert word == bitwise(v.ravel(), p.bits_per_cell)
    assert np.array_equal(c.unpack(word), v)


def test_plain_and_signed_scalars():
    s = Codec(data.StructLayout({"a": signed(4), "b": 3}))
    assert s.unpack(s.pack({"a": -3, "b": 5})) == {"a": -3, "b": 5}


def test_bad_values_name_the_problem():
    p = periphery_params({"crossbar.rows": 4, "crossbar.cols": 3})
    c = Codec(command_layout(p))
    with pytest.raises(KeyError, match="no field 'y'"):
        c.pack({"op": 0, "y": 1})
    with pytest.raises(ValueError, match="5 values for 4 elements"):
        c.pack({"x": [1, 2, 3, 4, 5]})
