"""Stream agents of :mod:`crosstrain.tb.testbench`: source, sink and monitor of an
``amaranth.lib.stream`` port, bound to its prefix (``i`` -> ``i__valid``, ``i__ready``,
``i__payload``; an AXI4-Stream port with ``names=AXIS``: ``s_axis__tvalid``, ``__tready``,
``__tdata``), in the shape of cocotbext-axi's stream classes.

- :class:`StreamSource` offers queued payloads (``send``); a pause generator inserts gaps
  between them (it is consulted only before a new payload is offered: ``valid`` never drops
  before the transfer, the payload holds). ``ready=False`` drives a flow (valid and payload
  only, :class:`crosstrain.rtl.ports.FlowSignature`).
- :class:`StreamSink` drives ``ready`` (low in the cycles its pause generator says) and takes
  every transfer.
- :class:`StreamMonitor` watches a stream it does not drive (``ready=False`` for a flow
  without ``ready``).

Each keeps :attr:`transfers`, a :class:`Transfer` per handshake stamped with the cycle of the
handshake (:attr:`crosstrain.tb.testbench.Testbench.cycle`), and checks the stream rules on the
port: once ``valid`` is high it stays high and the payload holds until the transfer, and no
handshake happens while ``rst`` is high (the reset rule of docs/rtl.md). A violation raises
:class:`ProtocolError`. With a ``codec`` (:class:`crosstrain.tb.words.Codec`) payloads are
packed on ``send`` and unpacked on receipt; without one they are ints.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from crosstrain.tb.testbench import Agent, Testbench


#: The members an agent binds: valid, ready, payload (``amaranth.lib.stream``; AXI4-Stream, whose
#: ``tlast`` a second monitor with ``AXIS_LAST`` reads as its payload).
STREAM = ("valid", "ready", "payload")
AXIS = ("tvalid", "tready", "tdata")
AXIS_LAST = ("tvalid", "tready", "tlast")


class ProtocolError(AssertionError):
    """A stream rule was broken on a port."""


@dataclass(frozen=True)
class Transfer:
    """One handshake: the cycle it completed in and the payload (decoded with the codec)."""

    cycle: int
    value: Any


def random_pauses(rng, probability: float):
    """Pause generator: each cycle paused with ``probability`` (draws from ``rng`` forever)."""
    while True:
        yield rng.random() < probability


def paused_for(cycles: int, then=None):
    """Pause generator: paused for the first ``cycles`` cycles, then ``then`` (never paused if
    None)."""
    for _ in range(cycles):
        yield True
    if then is not None:
        yield from then
    while True:
        yield False


class _StreamAgent(Agent):
    def __init__(self, tb: Testbench, prefix: str, codec=None, names=STREAM):
        self.tb, self.prefix, self.codec = tb, prefix, codec
        self.valid = tb.port(f"{prefix}__{names[0]}")
        self.payload = tb.port(f"{prefix}__{names[2]}")
        self.transfers: list[Transfer] = []

    def _violation(self, rule: str):
        raise ProtocolError(f"{self.prefix}: {rule} (cycle {self.tb.cycle})")

    async def wait(self, count: int, *, timeout: int | None = None) -> list[Transfer]:
        """Wait until ``count`` transfers have happened in all; returns :attr:`transfers`."""
        await self.tb.until(lambda: len(self.transfers) >= count, timeout=timeout,
                            what=lambda: f"{len(self.transfers)} of {count} transfers on {self.prefix}")
        return self.transfers


class StreamMonitor(_StreamAgent):
    """Watches ``PREFIX__valid/ready/payload`` (``ready=False``: a flow without ``ready``,
    every valid cycle is a transfer) and checks the stream rules."""

    def __init__(self, tb: Testbench, prefix: str, *, codec=None, ready: bool = True, names=STREAM):
        super().__init__(tb, prefix, codec, names)
        self.ready = tb.port(f"{prefix}__{names[1]}") if ready else None
        self._held = None           # payload of a valid that was not taken at the last edge

    def _ready_now(self) -> int:
        return self.ready.get()

    def sample(self) -> None:
        valid = self.valid.get()
        held = self._held
        if not valid:
            if held is not None:
                self._violation("valid dropped before the transfer")
            return
        ready = 1 if self.ready is None else self._ready_now()
        if self.tb.in_reset:                        # a flow's word in reset is no transfer
            if ready and self.ready is not None:
                self._violation("handshake while rst is high")
            return
        word = self.payload.get()
        if held is not None and word != held:
            self._violation("payload changed before the transfer")
        if ready:
            self._held = None
            value = word if self.codec is None else self.codec.unpack(word)
            self.transfers.append(Transfer(self.tb.cycle, value))
        else:
            self._held = word

    def reset(self) -> None:
        self._held = None


class StreamSink(StreamMonitor):
    """Takes every transfer of ``PREFIX``: drives ``ready`` high except in the cycles the
    ``pause`` generator yields True."""

    def __init__(self, tb: Testbench, prefix: str, *, codec=None, pause=None, names=STREAM):
        super().__init__(tb, prefix, codec=codec, names=names)
        self.pause = pause
        self._ready = 1
        self.ready.set(1)

    def set_pause(self, pause) -> None:
        """Replace the pause generator (None: always ready)."""
        self.pause = pause
        if pause is None:
            self._ready = 1
            self.ready.set(1)

    def drive(self) -> None:
        if self.pause is not None:
            self._ready = 0 if next(self.pause) else 1
            self.ready.set(self._ready)

    def _ready_now(self) -> int:
        return self._ready

    def stop(self) -> None:
        self.ready.set(0)


class StreamSource(_StreamAgent):
    """Offers the payloads queued with :meth:`send` on ``PREFIX``, one per transfer, back to back
    unless the ``pause`` generator yields True when a new payload would be offered. Payloads are
    kept through a reset (the one on offer is offered again after it). ``ready=False``: a flow
    without ``ready``, each payload is valid for one cycle."""

    def __init__(self, tb: Testbench, prefix: str, *, codec=None, pause=None, ready: bool = True,
                 names=STREAM):
        super().__init__(tb, prefix, codec, names)
        self.ready = tb.port(f"{prefix}__{names[1]}") if ready else None
        self.pause = pause
        self.queue: deque = deque()
        self._offer = None          # (value, word) on the port
        self.valid.set(0)

    def send(self, value) -> None:
        self.queue.append(value)

    def send_all(self, values) -> None:
        self.queue.extend(values)

    @property
    def idle(self) -> bool:
        return self._offer is None and not self.queue

    async def drain(self, *, timeout: int | None = None) -> list[Transfer]:
        """Wait until every queued payload was taken; returns :attr:`transfers`."""
        await self.tb.until(lambda: self.idle, timeout=timeout,
                            what=lambda: f"{len(self.queue) + (self._offer is not None)} payloads "
                                         f"not taken on {self.prefix}")
        return self.transfers

    def drive(self) -> None:
        paused = self.pause is not None and next(self.pause)
        if self._offer is not None:
            return
        if self.queue and not paused and not (self.ready is None and self.tb.in_reset):
            value = self.queue.popleft()
            word = value if self.codec is None else self.codec.pack(value)
            self._offer = (value, word)
            self.payload.set(word)
            self.valid.set(1)
        else:
            self.valid.set(0)

    def stop(self) -> None:
        if self._offer is not None:                 # not taken: back to the front of the queue
            self.queue.appendleft(self._offer[0])
            self._offer = None
        self.valid.set(0)

    def sample(self) -> None:
        if self._offer is None or (self.ready is not None and not self.ready.get()):
            return
        if self.tb.in_reset:
            self._violation("handshake while rst is high")
        self.transfers.append(Transfer(self.tb.cycle, self._offer[0]))
        self._offer = None
