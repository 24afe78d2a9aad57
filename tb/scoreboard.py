"""Scoreboard: observed transfers against golden values and golden cycle stamps.

A bench states what it expects (:meth:`Scoreboard.expect`: the value from the golden model and,
where the schedule is fixed, the cycle from :mod:`crosstrain.golden.cycles`) and hands the
scoreboard the :class:`crosstrain.tb.stream.Transfer` s a monitor stamped
(:meth:`Scoreboard.check`). The first mismatch fails with a message naming the transfer, the
first differing element and the bench's note (seed, parameters).
"""

from __future__ import annotations

import numpy as np


def describe_difference(got, want) -> str | None:
    """None when ``got`` equals ``want`` (arrays element by element, dicts field by field),
    else where they first differ."""
    if isinstance(want, dict):
        for key, w in want.items():
            d = describe_difference(got.get(key) if isinstance(got, dict) else None, w)
            if d is not None:
                return f"{key}: {d}"
        return None
    if isinstance(want, np.ndarray) or isinstance(got, np.ndarray):
        g, w = np.asarray(got), np.asarray(want)
        if g.shape != w.shape:
            return f"shape {g.shape}, golden {w.shape}"
        bad = np.argwhere(g != w)
        if not len(bad):
            return None
        at = tuple(int(k) for k in bad[0])
        at = at[0] if len(at) == 1 else at
        return f"element {at} is {g[tuple(bad[0])]}, golden {w[tuple(bad[0])]} ({len(bad)} differ)"
    return None if got == want else f"{got!r}, golden {want!r}"


class Scoreboard:
    """Expected transfers of one stream, in order.

    Parameters
    ----------
    what : str
        The stream, for messages (``"output"``).
    note : str
        Appended to every failure (seed, parameters).
    """

    def __init__(self, what: str, *, note: str = ""):
        self.what, self.note = what, note
        self.expected: list[tuple[object, int | None]] = []

    def expect(self, value, *, cycle: int | None = None) -> None:
        """The next transfer carries ``value`` (compared with :func:`describe_difference`) and,
        unless ``cycle`` is None, completes in that cycle."""
        self.expected.append((value, cycle))

    def check(self, transfers) -> None:
        """Every expected transfer happened, in order, with its value and cycle, and no other."""
        note = f" ({self.note})" if self.note else ""
        assert len(transfers) == len(self.expected), \
            f"{len(transfers)} {self.what} transfers, golden {len(self.expected)}{note}"
        for k, (t, (value, cycle)) in enumerate(zip(transfers, self.expected)):
            d = describe_difference(t.value, value)
            assert d is None, f"{self.what} {k}: {d}{note}"
            assert cycle is None or t.cycle == cycle, \
                f"{self.what} {k}: cycle {t.cycle}, golden {cycle} ({t.cycle - cycle:+d}){note}"
