"""crosstrain.tb.testbench: the cycle loop, the waits a body awaits, probes and reset (amaranth.sim
over a trivial stream component; the cocotb side runs the same bodies in tests/tb/test_stream.py)."""

import sys
from pathlib import Path

import pytest

from crosstrain.tb.testbench import run_amaranth

sys.path.insert(0, str(Path(__file__).parent))
from stream_bench import RegisterSlice  # noqa: E402


def test_ticks_and_until_resume_in_the_cycle_they_name():
    async def body(tb):
        seen = [tb.cycle]
        await tb.ticks(3)
        seen.append(tb.cycle)
        await tb.ticks(0)                       # already there: no cycle passes
        seen.append(tb.cycle)
        await tb.until(lambda: tb.cycle >= 10)
        seen.append(tb.cycle)
        return seen

    assert run_amaranth(RegisterSlice(), body) == [0, 3, 3, 10]


def test_a_stuck_wait_fails_with_what_it_waited_for():
    async def body(tb):
        await tb.until(lambda: False, timeout=5, what="an output that never comes")

    with pytest.raises(AssertionError, match=r"stuck: an output that never comes \(cycle 5\)"):
        run_amaranth(RegisterSlice(), body)


def test_a_body_may_await_only_bench_waits():
    import asyncio

    async def body(tb):
        await asyncio.sleep(0)

    with pytest.raises(TypeError, match="await only the waits of crosstrain.tb.testbench"):
        run_amaranth(RegisterSlice(), body)


def test_probes_see_the_values_of_the_last_edge_and_reset_holds_rst():
    """A probe on ``i__ready`` reads what the edge saw: low in both reset cycles (the slice keeps
    the reset rule), high after; it counts and stamps the high cycles."""
    async def body(tb):
        ready = tb.probe("i__ready", trace=True)
        rst = tb.probe("rst", trace=True)
        tb.set("o__ready", 1)
        await tb.ticks(2)
        await tb.reset(2)
        await tb.ticks(2)
        return ready, rst

    ready, rst = run_amaranth(RegisterSlice(), body)
    assert rst.values == [0, 0, 1, 1, 0, 0]
    assert ready.values == [1, 1, 0, 0, 1, 1]
    assert (ready.high, ready.first, ready.last) == (4, 0, 5)


def test_a_body_error_propagates_with_its_message():
    async def body(tb):
        await tb.ticks(2)
        raise ValueError("from the body")

    with pytest.raises(ValueError, match="from the body"):
        run_amaranth(RegisterSlice(), body)


def test_a_stuck_message_says_what_was_missing_when_it_gave_up():
    from crosstrain.tb.stream import StreamSink

    async def body(tb):
        sink = tb.add(StreamSink(tb, "o"))
        await sink.wait(3, timeout=7)

    with pytest.raises(AssertionError, match=r"stuck: 0 of 3 transfers on o \(cycle 7\)"):
        run_amaranth(RegisterSlice(), body)


def test_a_free_run_resumes_where_until_does():
    """``i`` offered in cycle 3 is taken at its end, ``o__valid`` is high in cycle 4: free_until
    and until on a probe both resume in cycle 5's drive phase; a free run that never sees its port fails at its
    timeout; agents may not run during one."""
    async def body(tb, free):
        await tb.ticks(3)
        tb.set("i__valid", 1)
        if free:
            await tb.free_until("o__valid", timeout=10)
        else:
            valid = tb.probe("o__valid")
            await tb.until(lambda: valid.value, timeout=10)
        return tb.cycle

    assert run_amaranth(RegisterSlice(), lambda tb: body(tb, True)) == 5
    assert run_amaranth(RegisterSlice(), lambda tb: body(tb, False)) == 5

    async def never(tb):
        await tb.free_until("o__valid", timeout=6, what="an output")

    with pytest.raises(AssertionError, match=r"stuck: an output \(cycle 6\)"):
        run_amaranth(RegisterSlice(), never)

    async def with_probe(tb):
        tb.probe("o__valid")
        await tb.free_until("o__valid", timeout=6)

    with pytest.raises(RuntimeError, match=r"free_until\('o__valid'\) with agents scheduled: \['Probe'\]"):
        run_amaranth(RegisterSlice(), with_probe)
