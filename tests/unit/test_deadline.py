"""One timer for every request's header wait (asyncio): each deadline kept, one timer.

Real asyncio loops and tasks; the loop used counts the timers scheduled on it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from truto_stream._deadline import Deadlines

BOUND = 0.1


class CountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts the timers scheduled on it."""

    def __init__(self) -> None:
        super().__init__()
        self.timers = 0

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:  # type: ignore[override]  # counts, then asyncio's
        self.timers += 1
        return super().call_at(when, callback, *args, context=context)


def run(main: Any) -> Any:
    with asyncio.Runner(loop_factory=CountingLoop) as runner:
        return runner.run(main())


async def request(deadlines: Deadlines, seconds: float) -> tuple[str, float]:
    """What a transport does: start the deadline, wait ``seconds``, end it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = deadlines.start()
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if deadline.end():
            return "timed out", loop.time() - started
        raise
    deadline.end()
    return "answered", loop.time() - started


def test_a_wait_past_its_bound_is_cut_at_the_deadline() -> None:
    async def main() -> None:
        outcome, took = await request(Deadlines(BOUND), 10.0)
        assert outcome == "timed out"
        assert BOUND - 0.01 <= took < BOUND + 0.1

    run(main)


def test_each_request_gets_its_own_deadline_and_the_quick_ones_are_left_alone() -> None:
    async def main() -> None:
        deadlines = Deadlines(BOUND)
        tasks = []
        for i in range(12):
            # every third one hangs; starts staggered over more than a bound
            tasks.append(asyncio.create_task(request(deadlines, 10.0 if i % 3 == 0 else 0.01)))
            await asyncio.sleep(0.02)
        results = await asyncio.gather(*tasks)
        for i, (outcome, took) in enumerate(results):
            if i % 3 == 0:
                assert outcome == "timed out"
                assert BOUND - 0.01 <= took < BOUND + 0.1, (i, took)
            else:
                assert outcome == "answered"

    run(main)


def test_one_timer_serves_many_requests() -> None:
    async def main() -> int:
        deadlines = Deadlines(BOUND)
        loop = asyncio.get_running_loop()
        assert isinstance(loop, CountingLoop)
        before = loop.timers
        results = await asyncio.gather(*(request(deadlines, 0.0) for _ in range(200)))
        assert {outcome for outcome, _ in results} == {"answered"}
        for _ in range(100):  # one after the other too
            await request(deadlines, 0.0)
        return loop.timers - before

    # asyncio.timeout: one timer per request (300); here, the first only (then it would
    # fire at its deadline, once, and find nothing live).
    assert run(main) <= 2


def test_a_cancel_from_outside_is_not_a_timeout() -> None:
    async def main() -> None:
        deadlines = Deadlines(BOUND)
        task = asyncio.create_task(request(deadlines, 10.0))
        await asyncio.sleep(BOUND / 4)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the deadline of a cancelled request does not fire on a later one
        outcome, took = await request(deadlines, BOUND / 2)
        assert outcome == "answered"
        assert took == pytest.approx(BOUND / 2, abs=0.05)

    run(main)


def test_a_cancel_from_outside_at_the_deadline_wins() -> None:
    async def main() -> None:
        deadlines = Deadlines(BOUND)
        outcome: list[str] = []

        async def wait() -> None:
            deadline = deadlines.start()
            try:
                await asyncio.sleep(10.0)
            except asyncio.CancelledError:
                outcome.append("timed out" if deadline.end() else "cancelled")
                raise

        task = asyncio.create_task(wait())
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        # cancelled from outside just as its deadline fires, in the same loop turn
        loop.call_at(deadlines._queue[0].when, task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert outcome == ["cancelled"]

    run(main)


def test_a_new_event_loop_starts_afresh() -> None:
    deadlines = Deadlines(BOUND)

    async def quick() -> tuple[str, float]:
        return await request(deadlines, 0.0)

    async def hangs() -> tuple[str, float]:
        return await request(deadlines, 10.0)

    assert run(quick)[0] == "answered"
    assert run(hangs)[0] == "timed out"


def test_start_needs_a_task() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def outside_a_task() -> None:
            try:
                Deadlines(BOUND).start()
            except RuntimeError as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(None)

        loop.call_soon(outside_a_task)
        with pytest.raises(RuntimeError, match="task"):
            await fut

    run(main)


def test_a_slow_head_does_not_let_the_queue_grow() -> None:
    """Quick requests finishing behind one that waits long are dropped from the queue:
    it stays within a small multiple of the requests waiting, not of those made."""

    async def main() -> None:
        deadlines = Deadlines(10.0)
        slow = asyncio.create_task(request(deadlines, 0.2))
        await asyncio.sleep(0)
        longest = 0
        for _ in range(5_000):
            await request(deadlines, 0.0)
            longest = max(longest, len(deadlines._queue))
        assert longest <= 64
        assert (await slow)[0] == "answered"

    run(main)
