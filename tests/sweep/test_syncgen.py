"""The private-loop generator behind run_shard and the Ray read tasks (sans-IO: no sockets)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from truto_stream._syncgen import Put, iterate_on_loop


def test_items_arrive_in_order_and_the_return_value_is_the_generators() -> None:
    async def produce(put: Put[int]) -> str:
        for i in range(10):
            await put(i)
            await asyncio.sleep(0)
        return "done"

    got: list[int] = []
    gen = iterate_on_loop(produce, ahead=3)
    with pytest.raises(StopIteration) as stop:
        while True:
            got.append(next(gen))
    assert got == list(range(10))
    assert stop.value.value == "done"


def test_the_producer_runs_in_the_callers_thread_only_while_it_waits() -> None:
    seen: list[int] = []
    made = 0

    async def produce(put: Put[int]) -> None:
        nonlocal made
        for i in range(20):
            seen.append(threading.get_ident())
            made += 1
            await put(i)

    threads_before = threading.active_count()
    gen = iterate_on_loop(produce, ahead=2)
    taken = 0
    for _ in gen:
        taken += 1
        # Backpressure: at most `ahead` items are made beyond those taken (+1 in hand).
        assert made - taken <= 2
        assert threading.active_count() == threads_before
    assert taken == 20
    assert set(seen) == {threading.get_ident()}


def test_closing_early_cancels_the_producer_and_runs_its_cleanup() -> None:
    events: list[str] = []

    async def produce(put: Put[int]) -> None:
        try:
            await put(1)
            await asyncio.sleep(3600)  # waiting on I/O that never comes
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        finally:
            await asyncio.sleep(0)  # cleanup may still await (closing connections)
            events.append("cleaned up")

    gen = iterate_on_loop(produce)
    assert next(gen) == 1
    gen.close()
    assert events == ["cancelled", "cleaned up"]


def test_the_producers_error_reaches_the_caller_after_its_items() -> None:
    async def produce(put: Put[int]) -> None:
        await put(1)
        raise LookupError("boom")

    gen = iterate_on_loop(produce)
    assert next(gen) == 1
    with pytest.raises(LookupError, match="boom"):
        next(gen)


def test_ahead_must_be_positive() -> None:
    async def produce(put: Put[int]) -> None:
        return None

    with pytest.raises(ValueError, match="ahead"):
        next(iterate_on_loop(produce, ahead=0))


def _buffer_found_full(ahead: int, producers: int = 8, turns: int = 30) -> int:
    """How often ``producers`` tasks, each handing on one item per turn of the loop into a
    buffer of ``producers`` items (a sweep's walks and its record buffer), found it full,
    with a caller that takes every item as soon as it is handed over."""

    async def produce(put: Put[int]) -> int:
        buffer: asyncio.Queue[int] = asyncio.Queue(maxsize=producers)
        full = 0

        async def walk() -> None:
            nonlocal full
            for turn in range(turns):
                full += buffer.full()
                await buffer.put(turn)
                await asyncio.sleep(0)

        walks = [asyncio.create_task(walk()) for _ in range(producers)]
        for _ in range(producers * turns):
            await put(await buffer.get())
        await asyncio.gather(*walks)
        return full

    gen = iterate_on_loop(produce, ahead=ahead)
    with pytest.raises(StopIteration) as stop:
        while True:
            next(gen)
    found_full: int = stop.value.value
    return found_full


def test_a_hand_off_of_one_item_per_producer_keeps_up_with_a_turn() -> None:
    # The loop runs only while the caller waits, and stops once an item is ready: a
    # hand-off of fewer items than the producers make in a turn lets the buffer behind it
    # fill, and the producers wait on it even though the caller keeps up (run_shard at
    # two batches for 64 walks: issue #15). One item per producer keeps up.
    assert _buffer_found_full(ahead=2) > 0
    assert _buffer_found_full(ahead=8) == 0
