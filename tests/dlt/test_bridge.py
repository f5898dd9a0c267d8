"""The thread bridge: an async producer consumed as a plain generator, closed early."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import pytest

from truto_stream._bridge import iterate_in_thread

pytestmark = pytest.mark.timeout(20)


def test_items_arrive_in_order_with_backpressure() -> None:
    produced: list[int] = []

    async def produce(put: Callable[[int], Awaitable[None]]) -> None:
        for i in range(50):
            produced.append(i)
            await put(i)

    got = []
    for item in iterate_in_thread(produce, queue_items=2):
        got.append(item)
        assert len(produced) - len(got) <= 3  # the queue, plus one in hand
    assert got == list(range(50))


def test_closing_early_cancels_a_producer_waiting_on_io() -> None:
    async def produce(put: Callable[[str], Awaitable[None]]) -> None:
        await put("first")
        await anyio.sleep(3600)  # e.g. a slow server: never woken by a put

    items = iterate_in_thread(produce)
    assert next(items) == "first"
    started = time.monotonic()
    items.close()
    assert time.monotonic() - started < 5


def test_a_producer_error_is_raised_in_the_caller() -> None:
    async def produce(put: Callable[[int], Awaitable[None]]) -> None:
        await put(1)
        raise ValueError("boom")

    items = iterate_in_thread(produce)
    assert next(items) == 1
    with pytest.raises(ValueError, match="boom"):
        next(items)
