"""crosstrain.tb.scoreboard: a wrong value, a wrong cycle or a missing transfer fails with a
message that says where."""

import numpy as np
import pytest

from crosstrain.tb.scoreboard import Scoreboard, describe_difference
from crosstrain.tb.stream import Transfer


def board(note="seed=3"):
    sb = Scoreboard("output", note=note)
    sb.expect(np.array([1, 2, 3]), cycle=10)
    sb.expect({"mask": 5, "v": np.array([[1, 2], [3, 4]])}, cycle=12)
    sb.expect(7)                                    # any cycle
    return sb


def good():
    return [Transfer(10, np.array([1, 2, 3])), Transfer(12, {"mask": 5, "v": np.array([[1, 2], [3, 4]])}),
            Transfer(99, 7)]


def test_matching_transfers_pass():
    board().check(good())


def test_a_wrong_value_fails_naming_the_element():
    got = good()
    got[0] = Transfer(10, np.array([1, 9, 3]))
    with pytest.raises(AssertionError, match=r"output 0: element 1 is 9, golden 2 \(1 differ\) \(seed=3\)"):
        board().check(got)
    got = good()
    got[1] = Transfer(12, {"mask": 5, "v": np.array([[1, 2], [3, 0]])})
    with pytest.raises(AssertionError, match=r"output 1: v: element \(1, 1\) is 0, golden 4"):
        board().check(got)


def test_wrong_timing_fails_with_the_offset():
    got = good()
    got[1] = Transfer(13, got[1].value)
    with pytest.raises(AssertionError, match=r"output 1: cycle 13, golden 12 \(\+1\) \(seed=3\)"):
        board().check(got)


def test_a_missing_or_extra_transfer_fails():
    with pytest.raises(AssertionError, match="2 output transfers, golden 3"):
        board().check(good()[:2])
    with pytest.raises(AssertionError, match="4 output transfers, golden 3"):
        board().check(good() + [Transfer(100, 1)])


def test_describe_difference():
    assert describe_difference(np.array([1, 2]), np.array([1, 2])) is None
    assert describe_difference(np.array([1, 2]), np.array([1, 2, 3])) == "shape (2,), golden (3,)"
    assert describe_difference(3, 4) == "3, golden 4"
