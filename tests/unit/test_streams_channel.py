"""The channel between a sweep's tasks (sans-IO, on asyncio): order, bounds, ends, wakes.

It stands in for anyio's memory object streams on the sweep's per-request paths, so it
keeps their surface and errors; what it changes is the cost of a wait: an item that is
there is taken with no trip through the event loop, a wait is one future, and a sender
waiting for room is woken at half the capacity, not per item taken.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import Any

import anyio
import pytest
from anyio import (
    BrokenResourceError,
    ClosedResourceError,
    EndOfStream,
    WouldBlock,
    wait_all_tasks_blocked,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_gate import CountingLoop, run_counting
from truto_stream._streams import ChannelReceiver, ChannelSender, channel

pytestmark = pytest.mark.anyio


def test_items_come_out_in_order_and_the_bound_holds() -> None:
    send: ChannelSender[int]
    receive: ChannelReceiver[int]
    send, receive = channel(3)
    for i in range(3):
        send.send_nowait(i)
    with pytest.raises(WouldBlock):
        send.send_nowait(3)
    assert receive.statistics().current_buffer_used == receive.queued == 3
    assert [receive.receive_nowait() for _ in range(3)] == [0, 1, 2]
    with pytest.raises(WouldBlock):
        receive.receive_nowait()


def test_the_end_is_when_every_sender_is_closed_and_the_queue_is_empty() -> None:
    send: ChannelSender[int]
    receive: ChannelReceiver[int]
    send, receive = channel(math.inf)
    other = send.clone()
    send.send_nowait(1)
    send.close()
    assert not receive.drained
    other.send_nowait(2)
    other.close()
    assert receive.statistics().open_send_streams == 0
    assert not receive.drained  # two items still queued
    assert [receive.receive_nowait(), receive.receive_nowait()] == [1, 2]
    assert receive.drained
    with pytest.raises(EndOfStream):
        receive.receive_nowait()


def test_closed_ends_refuse_and_a_channel_without_receivers_is_broken() -> None:
    send: ChannelSender[int]
    receive: ChannelReceiver[int]
    send, receive = channel(2)
    send.send_nowait(1)
    receive.close()
    receive.close()  # closing twice is harmless
    with pytest.raises(ClosedResourceError):
        receive.receive_nowait()
    with pytest.raises(ClosedResourceError):
        receive.clone()
    with pytest.raises(BrokenResourceError):
        send.send_nowait(2)
    assert receive.statistics().current_buffer_used == 0  # let go with the receivers
    send.close()
    with pytest.raises(ClosedResourceError):
        send.send_nowait(3)
    with pytest.raises(ClosedResourceError):
        send.clone()


def test_a_channel_holds_at_least_one_item() -> None:
    with pytest.raises(ValueError, match="at least one"):
        channel(0)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 5),
    ops=st.lists(st.sampled_from(["send", "receive"]), max_size=40),
)
def test_nowait_operations_are_a_bounded_fifo(capacity: int, ops: list[str]) -> None:
    send: ChannelSender[int]
    receive: ChannelReceiver[int]
    send, receive = channel(capacity)
    model: deque[int] = deque()
    for n, op in enumerate(ops):
        if op == "send":
            if len(model) >= capacity:
                with pytest.raises(WouldBlock):
                    send.send_nowait(n)
            else:
                send.send_nowait(n)
                model.append(n)
        elif model:
            assert receive.receive_nowait() == model.popleft()
        else:
            with pytest.raises(WouldBlock):
                receive.receive_nowait()
    assert receive.queued == len(model)


async def test_a_queued_item_is_taken_without_a_scheduling_point() -> None:
    send: ChannelSender[int]
    receive: ChannelReceiver[int]
    send, receive = channel(math.inf)
    send.send_nowait(7)
    with anyio.CancelScope() as scope:
        scope.cancel()  # any scheduling point would raise here
        assert await receive.next() == 7
        await send.send(8)  # room: no scheduling point either
        assert await receive.receive() == 8


async def test_waiting_receivers_are_served_in_order_and_see_the_end() -> None:
    send: ChannelSender[str]
    receive: ChannelReceiver[str]
    send, receive = channel(math.inf)
    got: list[tuple[int, str | None]] = []

    async def take(name: int, end: ChannelReceiver[str]) -> None:
        async with end:
            got.append((name, await end.next()))

    async with anyio.create_task_group() as tg:
        for name in range(3):
            tg.start_soon(take, name, receive.clone())
            await wait_all_tasks_blocked()
        send.send_nowait("a")
        send.send_nowait("b")
        await wait_all_tasks_blocked()
        send.close()  # the third one sees the end
    assert got == [(0, "a"), (1, "b"), (2, None)]
    with pytest.raises(EndOfStream):
        await receive.receive()


async def test_a_woken_receiver_cancelled_passes_its_item_on() -> None:
    send: ChannelSender[int]
    receive: ChannelReceiver[int]
    send, receive = channel(math.inf)
    got: list[int | None] = []

    async def take() -> None:
        got.append(await receive.next())

    first = asyncio.ensure_future(take())
    await wait_all_tasks_blocked()
    second = asyncio.ensure_future(take())
    await wait_all_tasks_blocked()
    send.send_nowait(1)  # wakes the first in line ...
    first.cancel()  # ... which is cancelled before it runs
    await wait_all_tasks_blocked()
    assert first.cancelled()
    assert got == [1]  # the second one has it
    await second


async def test_a_receiver_cancelled_while_waiting_leaves_the_line() -> None:
    send: ChannelSender[int]
    receive: ChannelReceiver[int]
    send, receive = channel(math.inf)
    with anyio.move_on_after(0.01):
        await receive.next()
    send.send_nowait(1)
    assert await receive.next() == 1


async def test_a_full_channel_wakes_its_sender_at_half_capacity() -> None:
    send: ChannelSender[int]
    receive: ChannelReceiver[int]
    send, receive = channel(4)
    sent: list[int] = []

    async def feed() -> None:
        for n in range(8):
            await send.send(n)
            sent.append(n)

    async with anyio.create_task_group() as tg:
        tg.start_soon(feed)
        await wait_all_tasks_blocked()
        assert sent == [0, 1, 2, 3]
        receive.receive_nowait()
        await wait_all_tasks_blocked()
        assert sent == [0, 1, 2, 3]  # 3 queued: more than half, the feeder still waits
        receive.receive_nowait()
        await wait_all_tasks_blocked()
        assert sent == [0, 1, 2, 3, 4, 5]  # woken at 2: topped up to 4 in one turn
        assert [await receive.next() for _ in range(6)] == [2, 3, 4, 5, 6, 7]


async def test_a_sender_waiting_for_room_is_told_the_receivers_are_gone() -> None:
    send: ChannelSender[int]
    receive: ChannelReceiver[int]
    send, receive = channel(1)
    send.send_nowait(0)
    failed: list[BaseException] = []

    async def feed() -> None:
        try:
            await send.send(1)
        except BrokenResourceError as exc:
            failed.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(feed)
        await wait_all_tasks_blocked()
        receive.close()
    assert len(failed) == 1


def test_topping_up_costs_one_wakeup_per_half_capacity_not_one_per_item() -> None:
    """A feeder of 64 items through a channel of 8 taken one by one: woken once per 4
    items taken (the first version, anyio's stream: once per item, plus a loop turn)."""
    counted: list[int] = []

    async def main() -> None:
        send: ChannelSender[int]
        receive: ChannelReceiver[int]
        send, receive = channel(8)
        loop = asyncio.get_running_loop()
        assert isinstance(loop, CountingLoop)

        async def feed() -> None:
            async with send:
                for n in range(64):
                    await send.send(n)

        async with anyio.create_task_group() as tg:
            tg.start_soon(feed)
            await wait_all_tasks_blocked()
            loop.watcher = asyncio.current_task()
            before = loop.wakeups
            taken: list[Any] = []
            while (item := receive.receive_nowait() if receive.queued else None) is not None:
                taken.append(item)
                await wait_all_tasks_blocked()
            counted.append(loop.wakeups - before)
            loop.watcher = None
            assert taken == list(range(64))

    run_counting(main)
    assert counted[0] <= 64 // 4 + 1
