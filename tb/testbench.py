"""One clocked test bench over amaranth.sim or cocotb (Icarus, Verilator): the same bench body
runs on both.

A bench body is ``async def body(tb)``; it only awaits what :class:`Testbench` gives it
(:meth:`Testbench.ticks`, :meth:`Testbench.until`, :meth:`Testbench.reset`, and the agents'
waits built on them). :func:`run_amaranth` and :func:`run_cocotb` run it. Ports are named as the
exported Verilog names them (``i__valid``, ``xbar__codes``, ``rst``): in cocotb the handle of
that name, in amaranth.sim the member at that path of the component (``i.valid``; a
``data``-layout member as its whole word). Every value is an unsigned ``int``.

**One edge discipline.** Each clock cycle has two phases, run by a single loop (one
``RisingEdge`` and one ``ReadOnly`` per cycle in cocotb, one ``ctx.tick()`` in amaranth.sim):

1. *drive* (right after the edge that starts the cycle): the body resumes if what it waits for
   holds, then every agent writes the inputs it drives for this cycle;
2. *sample* (values settled, as the next edge will see them): every agent reads what it
   watches. A stream transfer seen here is stamped with :attr:`Testbench.cycle`, the index of
   the cycle whose closing edge completes it.

So agents and bodies never read a register mid-update, whatever the simulator.

**Free runs.** :meth:`Testbench.free_until` lets the clock run with no Python per cycle until a
port is high (cocotb: the C-side clock and a ``RisingEdge`` of the port, bounded by a ``Timer``;
amaranth.sim: its own loop, as Python as the rest of it): for long stretches in which the bench
has nothing to drive, e.g. a program running on the tile. No agent may be scheduled then. Agents are
objects with ``drive()``, ``sample()`` and ``reset()`` (:class:`Agent`), added with
:meth:`Testbench.add`; they are the background processes of the bench, scheduled by the one
loop rather than by a coroutine each (one trigger per edge instead of one per agent keeps the
per-cycle Python small).

**Reset.** :meth:`Testbench.reset` holds ``rst`` high for some cycles; agents are told
(``reset()``) when it rises. The stream agents then check the project's reset rule: no
handshake on any stream while ``rst`` is high (docs/rtl.md).
"""

from __future__ import annotations


class Agent:
    """A background participant of a bench: ``drive()`` in the drive phase, ``sample()`` in the
    sample phase of every cycle, ``reset()`` when ``rst`` rises, ``stop()`` when it is removed
    (it leaves its inputs quiet). Subclasses override what they need; :meth:`Testbench.add`
    only schedules the phases an agent defines."""

    def drive(self) -> None:
        pass

    def sample(self) -> None:
        pass

    def reset(self) -> None:
        pass

    def stop(self) -> None:
        pass


class Wait:
    """What a bench body awaits: resume once ``ready()`` holds in a drive phase; at the
    ``deadline`` cycle without it, the body gets an AssertionError naming ``what`` (a string, or
    a callable giving one then)."""

    __slots__ = ("ready", "deadline", "what")

    def __init__(self, ready, deadline: int | None, what: str):
        self.ready, self.deadline, self.what = ready, deadline, what

    def __await__(self):
        yield self


class FreeRun(Wait):
    """A :class:`Wait` for ``port`` to be high that the simulator adapter runs natively
    (:meth:`Testbench.free_until`): ``seen`` is set by the adapter in the sample phase where the
    port is high."""

    __slots__ = ("port", "seen")

    def __init__(self, port, deadline: int, what: str):
        super().__init__(lambda: self.seen, deadline, what)
        self.port, self.seen = port, False


class Probe(Agent):
    """One port sampled every cycle: :attr:`value` is its value in the last sample phase (the
    value the last edge saw). ``high`` counts the cycles it was non-zero, ``first`` / ``last``
    stamp the first and last of them (-1 before any); with ``trace`` every cycle's value is
    kept in :attr:`values`."""

    def __init__(self, tb: Testbench, name: str, *, trace: bool = False):
        self.port = tb.port(name)
        self.value = 0
        self.high, self.first, self.last = 0, -1, -1
        self.values = [] if trace else None
        self._tb = tb

    def sample(self) -> None:
        v = self.value = self.port.get()
        if self.values is not None:
            self.values.append(v)
        if v:
            self.high += 1
            self.last = self._tb.cycle
            if self.first < 0:
                self.first = self.last


class Testbench:
    """The simulator-independent bench: cycle count, agents, ports and the body's waits.

    Attributes
    ----------
    cycle : int
        Clock edges since the bench started (in the sample phase: the cycle being sampled).
    in_reset : bool
        ``rst`` is driven high in this cycle.
    """

    def __init__(self):
        self.cycle = 0
        self.in_reset = False
        self._ports: dict[str, object] = {}
        self._drivers: list[Agent] = []
        self._samplers: list[Agent] = []
        self._agents: list[Agent] = []
        self._body = None
        self._wait: Wait | None = None
        self.done = False
        self._result = None
        self._error: BaseException | None = None

    # ---- ports -------------------------------------------------------------------------------
    def port(self, name: str):
        """The port ``name`` (``get()`` / ``set(int)``), resolved once per bench."""
        if name not in self._ports:
            self._ports[name] = self._resolve(name)
        return self._ports[name]

    def set(self, name: str, value: int) -> None:
        """Drive input ``name`` from this cycle on (call it in the drive phase: from the body)."""
        self.port(name).set(int(value))

    def _resolve(self, name: str):
        raise NotImplementedError

    # ---- agents ------------------------------------------------------------------------------
    def add(self, agent):
        """Schedule ``agent`` from this cycle on; returns it."""
        cls = type(agent)
        if cls.drive is not Agent.drive:
            self._drivers.append(agent)
        if cls.sample is not Agent.sample:
            self._samplers.append(agent)
        self._agents.append(agent)
        return agent

    def remove(self, *agents) -> None:
        """Unschedule ``agents`` (each is stopped: a source stops offering, a sink stops
        taking)."""
        for agent in agents:
            for group in (self._drivers, self._samplers, self._agents):
                if agent in group:
                    group.remove(agent)
            agent.stop()

    def probe(self, name: str, *, trace: bool = False) -> Probe:
        """A :class:`Probe` of ``name``, scheduled."""
        return self.add(Probe(self, name, trace=trace))

    # ---- what a body awaits ------------------------------------------------------------------
    def ticks(self, n: int = 1) -> Wait:
        """Resume ``n`` cycles later (in that cycle's drive phase)."""
        target = self.cycle + n
        return Wait(lambda: self.cycle >= target, None, "")

    def until(self, ready, *, timeout: int | None = None, what="the condition") -> Wait:
        """Resume in the first drive phase where ``ready()`` holds (checked once per cycle, on
        the values of the last sample phase); AssertionError ``stuck: WHAT`` after ``timeout``
        cycles (``what``: a string or a callable that says what was still missing)."""
        return Wait(ready, None if timeout is None else self.cycle + timeout, what)

    def free_until(self, name: str, *, timeout: int, what: str | None = None) -> FreeRun:
        """As :meth:`until` ``(port name high)``: resume in the drive phase after the first sample
        phase where ``name`` is non-zero (the body's inputs hold meanwhile), but run the cycles
        in between without Python per cycle. ``timeout`` cycles without it: AssertionError
        ``stuck: WHAT``. No agent may be scheduled (remove probes and sources first)."""
        if self._agents:
            raise RuntimeError(f"free_until({name!r}) with agents scheduled: "
                               f"{[type(a).__name__ for a in self._agents]}; remove them first")
        return FreeRun(self.port(name), self.cycle + timeout, what or f"{name} high")

    async def reset(self, cycles: int = 2) -> None:
        """Hold ``rst`` high for ``cycles`` clock edges, then release it (synchronous reset)."""
        rst = self.port("rst")
        rst.set(1)
        self.in_reset = True
        for agent in self._agents:
            agent.reset()
        await self.ticks(cycles)
        rst.set(0)
        self.in_reset = False

    # ---- the loop (called by the simulator adapters) -----------------------------------------
    def _start(self, body) -> None:
        self.port("rst").set(0)
        self._body = body(self)
        self._resume(None)

    def _resume(self, error: BaseException | None) -> None:
        while True:
            try:
                wait = self._body.throw(error) if error else self._body.send(None)
            except StopIteration as stop:
                self.done, self._result = True, stop.value
                return
            except Exception as e:              # handed to the simulator adapter, raised there
                self.done, self._error = True, e
                return
            error = None
            if not isinstance(wait, Wait):
                error = TypeError(f"a bench body awaited {wait!r}: await only the waits of "
                                  "crosstrain.tb.testbench (tb.ticks, tb.until, tb.reset, agents)")
            elif not wait.ready():
                self._wait = wait
                return

    def _drive(self) -> None:
        wait = self._wait
        if wait is not None:
            if wait.ready():
                self._wait = None
                self._resume(None)
            elif wait.deadline is not None and self.cycle >= wait.deadline:
                self._wait = None
                what = wait.what() if callable(wait.what) else wait.what
                self._resume(AssertionError(f"stuck: {what} (cycle {self.cycle})"))
        for agent in self._drivers:
            agent.drive()

    def _sample(self) -> None:
        for agent in self._samplers:
            agent.sample()

    def _finish(self):
        if self._error is not None:
            raise self._error
        return self._result


# ---- amaranth.sim -------------------------------------------------------------------------------
class _AmaranthPort:
    __slots__ = ("tb", "signal", "mask", "last")

    def __init__(self, tb, signal):
        self.tb, self.signal, self.last = tb, signal, None
        shape = signal.shape()
        self.mask = (1 << shape.width) - 1 if shape.signed else None

    def get(self) -> int:
        v = self.tb.ctx.get(self.signal)
        return v if self.mask is None else v & self.mask

    def set(self, value: int) -> None:
        if value != self.last:
            self.tb.ctx.set(self.signal, value)
            self.last = value


class AmaranthTestbench(Testbench):
    """The bench over amaranth.sim: ports are members of ``dut`` (``i__payload`` ->
    ``dut.i.payload`` as one word), ``rst`` the reset of the ``sync`` domain."""

    def __init__(self, dut, rst):
        super().__init__()
        self.dut, self.rst, self.ctx = dut, rst, None

    def _resolve(self, name: str):
        from amaranth.hdl import Value

        if name == "rst":
            return _AmaranthPort(self, self.rst)
        obj = self.dut
        for part in name.split("__"):
            obj = getattr(obj, part)
        return _AmaranthPort(self, Value.cast(obj))      # a layout or enum member as its word


def run_amaranth(dut, body, *, vcd: str | None = None):
    """Run ``body`` on ``dut`` (an Amaranth component, ``sync`` domain) in amaranth.sim; returns
    what ``body`` returns. ``vcd`` writes waves there."""
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import Simulator

    top = Module()
    top.domains.sync = cd = ClockDomain()
    top.submodules.dut = dut
    tb = AmaranthTestbench(dut, cd.rst)

    async def loop(ctx):
        tb.ctx = ctx
        tb._start(body)
        while True:
            tb._drive()
            if tb.done:
                return
            wait = tb._wait
            if isinstance(wait, FreeRun):
                while not wait.port.get() and tb.cycle < wait.deadline - 1:
                    await ctx.tick()
                    tb.cycle += 1
                wait.seen = bool(wait.port.get())
            tb._sample()
            await ctx.tick()
            tb.cycle += 1

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(loop)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return tb._finish()


# ---- cocotb -------------------------------------------------------------------------------------
class _CocotbPort:
    """A cocotb handle read as an unsigned int. It reads the simulator's bit string through the
    handle's GPI object when it has one: ``handle.value`` builds a ``Logic`` / ``LogicArray`` per
    read, most of a bench's per-cycle Python in a profile. A value with X or Z bits is read
    again through ``handle.value``, whose conversion then fails naming the value."""

    __slots__ = ("handle", "raw", "wide", "last")

    def __init__(self, handle):
        self.handle, self.wide, self.last = handle, len(handle) > 1, None
        gpi = getattr(handle, "_handle", None)
        self.raw = getattr(gpi, "get_signal_val_binstr", None)

    def get(self) -> int:
        if self.raw is not None:
            try:
                return int(self.raw(), 2)
            except ValueError:
                pass
        v = self.handle.value
        return v.to_unsigned() if self.wide else int(v)

    def set(self, value: int) -> None:
        if value != self.last:
            self.handle.value = value
            self.last = value


class CocotbTestbench(Testbench):
    """The bench over a cocotb top: ports are its handles by name."""

    def __init__(self, dut):
        super().__init__()
        self.dut = dut

    def _resolve(self, name: str):
        return _CocotbPort(getattr(self.dut, name))


async def _free_run(tb: Testbench, wait: FreeRun, period_ns: int) -> None:
    """From the drive phase of ``tb.cycle``: to the sample phase of the first cycle where
    ``wait.port`` is high, or of the cycle before the deadline (the loop's next edge reaches it,
    as for :meth:`Testbench.until`); the clock runs on its own meanwhile."""
    from cocotb.simtime import get_sim_time
    from cocotb.triggers import First, ReadOnly, RisingEdge, Timer

    t0, c0 = get_sim_time("ns"), tb.cycle
    await ReadOnly()
    while not wait.port.get() and tb.cycle < wait.deadline - 1:
        left = (wait.deadline - 1 - tb.cycle) * period_ns
        await First(RisingEdge(wait.port.handle), Timer(left, "ns"))
        tb.cycle = c0 + int((get_sim_time("ns") - t0) // period_ns)   # the edge that started it
        await ReadOnly()
    wait.seen = bool(wait.port.get())


async def run_cocotb(dut, body, *, period_ns: int = 10):
    """Run ``body`` on the cocotb top ``dut`` (ports ``clk``, ``rst``): starts the clock (the
    simulator-side one: a free run needs no Python per cycle), then one ``RisingEdge`` +
    ``ReadOnly`` per cycle; returns what ``body`` returns.

    Under Verilator the clock is written ``Immediate`` (``vpiNoDelay``): cocotb's default,
    ``Deposit``, is an inertial write, which Verilator applies after an evaluation of the model of
    its own, so every clock edge cost two evaluations (the tile bench's free runs: about 1.4
    times the simulated cycles per CPU second with ``Immediate``, docs/rtl.md). Icarus keeps
    ``Deposit``."""
    import cocotb
    from cocotb.clock import Clock
    from cocotb.handle import Deposit, Immediate
    from cocotb.triggers import ReadOnly, RisingEdge

    verilator = cocotb.SIM_NAME.lower().startswith("verilator")
    Clock(dut.clk, period_ns, unit="ns", impl="gpi", set_action=Immediate if verilator else Deposit).start()
    tb = CocotbTestbench(dut)
    edge, settled = RisingEdge(dut.clk), ReadOnly()
    await edge
    tb._start(body)
    while True:
        tb._drive()
        if tb.done:
            break
        if isinstance(tb._wait, FreeRun):
            await _free_run(tb, tb._wait, period_ns)
        else:
            await settled
        tb._sample()
        await edge
        tb.cycle += 1
    return tb._finish()
