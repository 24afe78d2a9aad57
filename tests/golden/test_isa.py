import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosstrain.golden import isa
from crosstrain.golden.config import ConfigError

tiles = st.builds(isa.TileParams, units=st.integers(1, isa.MAX_UNITS),
                  buffer_depth=st.integers(2, isa.MAX_BUFFER_DEPTH),
                  max_length=st.integers(1, isa.MAX_LENGTH))


@st.composite
def programs(draw):
    """A tile and a valid instruction on it, every field drawn over its whole legal range."""
    tile = draw(tiles)
    op = draw(st.sampled_from(isa.OPCODES))
    length = draw(st.integers(1, min(tile.max_length, tile.buffer_depth)))
    values = {
        "unit": st.integers(0, tile.units - 1), "reg": st.integers(0, 1), "acc": st.integers(0, 1),
        "offset": st.integers(0, tile.max_length - length), "row": st.integers(0, tile.max_length - 1),
        "addr": st.integers(0, tile.buffer_depth - length), "length": st.just(length),
        "mask": st.integers(1, (1 << tile.units) - 1), "count": st.integers(1, 65535),
        "body": st.integers(1, 255), "stride": st.integers(0, (1 << tile.addr_bits) - 1),
        "layer": st.integers(0, 255), "phase": st.integers(0, len(isa.PHASE_NAMES) - 1)}
    fields = tuple((name, draw(values[name])) for name, _ in tile.layout(op))
    return tile, isa.Instr(op, fields)


@settings(max_examples=400, deadline=None)
@given(programs())
def test_encode_decode_round_trip(case):
    tile, instr = case
    word = isa.encode(instr, tile)
    assert 0 <= word < 1 << 64
    assert word >> 60 == isa.OPCODES.index(instr.op)
    assert isa.decode(word, tile) == instr


@settings(max_examples=100, deadline=None)
@given(programs())
def test_assemble_round_trip(case):
    tile, instr = case
    data = isa.assemble([instr, isa.Instr("HALT")], tile)
    assert len(data) == 16 and data[15] >> 4 == isa.OPCODES.index("HALT")   # little-endian words
    assert isa.disassemble(data, tile) == [instr, isa.Instr("HALT")]


def test_fields_are_packed_from_bit_59_down():
    """A LOAD on an 8-unit tile with 1,024 values and 128-value vectors, packed by hand."""
    tile = isa.TileParams(units=8, buffer_depth=1024, max_length=128)
    assert (tile.unit_bits, tile.addr_bits, tile.offset_bits, tile.length_bits) == (3, 10, 7, 8)
    word = isa.encode(isa.Instr.make("LOAD", unit=5, reg=1, offset=3, addr=700, length=64), tile)
    # opcode 1 | unit 101 | reg 1 | offset 0000011 | addr 1010111100 | length 01000000 | 31 zeros
    assert word == int("0001" "101" "1" "0000011" "1010111100" "01000000", 2) << 31


@pytest.mark.parametrize("word, match", [
    (0xF << 60, r"word 0xf000000000000000: field opcode = 15 is not an opcode"),
    ((3 << 60) | (3 << 58),
     r"word 0x3c00000000000000 \(MVM\): field unit = 3 is not below tile.units = 3"),
    ((3 << 60) | 1, r"\(MVM\): unused bits 57..0 are not zero"),
    ((8 << 60), r"\(SYNC\): field mask = 0 names no unit"),
    ((9 << 60), r"\(LOOP\): field count = 0 must be at least 1"),
    ((10 << 60) | (7 << 49), r"\(MARK\): field phase = 7 is not a phase"),
    ((1 << 60) | (5 << 48), r"\(LOAD\): field length = 5 is not from 1 to max_length = 4"),
    ((1 << 60) | (15 << 51) | (2 << 48), r"\(LOAD\): field addr = 15 \+ length 2 runs past buffer_depth = 16"),
    ((2 << 60) | (3 << 55) | (2 << 48), r"\(STORE\): field offset = 3 runs past max_length = 4"),
    (1 << 64, r"word 18446744073709551616 is not a 64-bit unsigned integer"),
])
def test_decoder_rejects_malformed_words_in_one_line(word, match):
    """Tile of 3 units, 16 values, 4-value vectors: unit 2 bits, addr 4, offset 2, length 3; a
    LOAD is unit 59..58, reg 57, offset 56..55, addr 54..51, length 50..48."""
    tile = isa.TileParams(units=3, buffer_depth=16, max_length=4)
    with pytest.raises(isa.IsaError, match=match) as e:
        isa.decode(word, tile)
    assert "\n" not in str(e.value) and isinstance(e.value, ConfigError)


@pytest.mark.parametrize("kw, match", [
    ({"units": 0}, r"tile.units = 0 is not allowed: an integer from 1 to 60"),
    ({"units": 61}, r"tile.units = 61"),
    ({"buffer_depth": 1}, r"tile.buffer_depth = 1 is not allowed"),
    ({"max_length": 4097}, r"tile.max_length = 4097"),
    ({"units": True}, r"tile.units = True"),
])
def test_tile_parameters_are_validated_eagerly(kw, match):
    with pytest.raises(isa.IsaError, match=match):
        isa.TileParams(**{"units": 4, "buffer_depth": 16, "max_length": 4, **kw})


def test_encoder_rejects_bad_instructions():
    tile = isa.TileParams(units=4, buffer_depth=16, max_length=4)
    with pytest.raises(isa.IsaError, match=r"unknown instruction 'JUMP'"):
        isa.encode(isa.Instr.make("JUMP"), tile)
    with pytest.raises(isa.IsaError, match=r"MVM takes the fields unit"):
        isa.encode(isa.Instr.make("MVM", unit=1, addr=2), tile)
    with pytest.raises(isa.IsaError, match=r"field unit = 4 does not fit 2 bits"):
        isa.encode(isa.Instr.make("MVM", unit=4), tile)
    with pytest.raises(isa.IsaError, match=r"field addr = 15 \+ length 4 runs past"):
        isa.encode(isa.Instr.make("LOAD", unit=1, reg=0, offset=0, addr=15, length=4), tile)
    with pytest.raises(isa.IsaError, match=r"not a whole number of 8-byte words"):
        isa.disassemble(b"\0" * 9, tile)


def test_loop_shifts_only_addresses():
    load = isa.Instr.make("LOAD", unit=1, reg=0, offset=2, addr=5, length=2)
    assert load.shifted(7)["addr"] == 12 and load.shifted(7)["offset"] == 2
    assert isa.Instr.make("MVM", unit=1).shifted(7) == isa.Instr.make("MVM", unit=1)


def test_executed_counts_expand_loops_up_to_halt():
    I = isa.Instr.make
    prog = [I("MVM", unit=0), I("LOOP", count=5, body=2, stride=1), I("MVM", unit=0), I("OPA", unit=1),
            I("HALT"), I("CRS", unit=0)]
    assert isa.executed(prog) == {"MVM": 6, "LOOP": 1, "OPA": 5, "HALT": 1}
