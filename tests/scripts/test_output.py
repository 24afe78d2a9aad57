"""``--json`` output is strict JSON: a non-finite number is one error line naming its key."""

import argparse
import json
import math

import numpy as np
import pytest

from crosstrain.errors import UserError
from crosstrain.output import emit, strict_json


@pytest.mark.parametrize("obj, key, shown", [
    ({"a": 1.0, "b": [0.5, math.nan]}, "b[1]", "nan"),
    ({"systems": [{"name": "x"}, {"phases": {"forward": {"energy_j": -math.inf}}}]},
     "systems[1].phases.forward.energy_j", "-inf"),
    ({"ratios": np.array([1.0, np.inf])}, "ratios[1]", "inf"),
    ({"ratio": np.float32("nan")}, "ratio", "nan"),
    ([1.0, math.inf], "[1]", "inf"),
])
def test_non_finite_number_is_one_line_naming_its_key(obj, key, shown):
    with pytest.raises(UserError) as e:
        strict_json(obj)
    msg = str(e.value)
    assert f"{key} = {shown} is not a finite number" in msg and "\n" not in msg


def test_finite_values_round_trip_exactly():
    obj = {"x": [0.1, 1e308, -5e-324, 3], "n": np.arange(3), "f": np.float64(2.5), "s": None}
    assert json.loads(strict_json(obj)) == {"x": [0.1, 1e308, -5e-324, 3], "n": [0, 1, 2], "f": 2.5, "s": None}


def test_emit_prints_nothing_when_a_number_is_not_finite(capsys):
    args = argparse.Namespace(json=True)
    with pytest.raises(UserError):
        emit(args, {"ok": 1.0, "bad": math.nan}, "table")
    assert capsys.readouterr().out == ""
    emit(args, {"ok": 1.0}, "table")
    assert json.loads(capsys.readouterr().out) == {"ok": 1.0}
    emit(argparse.Namespace(json=False), {"bad": math.nan}, "table")
    assert capsys.readouterr().out == "table\n"


def test_other_serialization_errors_are_not_hidden():
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        strict_json(loop)
