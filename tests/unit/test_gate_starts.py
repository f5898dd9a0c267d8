"""Walks about to start a unit go in batches while others wait to decode (sans-IO).

One request at a time wakes a server asleep on the same machine for each (the kernel runs
it on the sender's CPU, then and there); a batch of requests wakes it once. A walk waits
to make up a batch only while more walks wait to decode than to start, on a process with
no time to spare.
"""

from __future__ import annotations

import asyncio

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from tests.unit.test_gate import walk
from truto_stream._gate import RecordGate


async def _full_gate(
    tg: anyio.abc.TaskGroup, start_batch: int, decoded: list[int], decoders: int
) -> RecordGate:
    """A gate whose buffer is full and ``decoders`` walks wait in it to decode."""
    gate = RecordGate(10, start_batch=start_batch)
    await gate.reserve(10)
    for name in range(decoders):
        tg.start_soon(walk, gate, decoded, name, 0)
    await wait_all_tasks_blocked()
    assert decoded == []
    return gate


async def _starts(gate: RecordGate, started: list[int], name: int) -> None:
    await gate.start()
    started.append(name)


async def _start_all(
    tg: anyio.abc.TaskGroup, gate: RecordGate, started: list[int], *names: int
) -> None:
    for name in names:
        tg.start_soon(_starts, gate, started, name)
    await wait_all_tasks_blocked()


@pytest.mark.anyio
async def test_with_nobody_waiting_to_decode_a_walk_starts_at_once() -> None:
    gate = RecordGate(10, start_batch=8)
    with anyio.fail_after(5):
        await gate.start()


@pytest.mark.anyio
async def test_starts_wait_behind_decoding_and_go_as_a_batch() -> None:
    decoded: list[int] = []
    started: list[int] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate(tg, 3, decoded, decoders=10)
        await _start_all(tg, gate, started, 0, 1)
        assert started == []  # two of a batch of three: they wait
        await _start_all(tg, gate, started, 2)  # the third: all three go
        assert sorted(started) == [0, 1, 2]
        gate.release(10)


@pytest.mark.anyio
async def test_starts_go_once_no_more_walks_wait_to_decode_than_to_start() -> None:
    """Parts are decoded, one by one: once those left to decode are no more than the walks
    waiting to start, the starts go, short of a batch."""
    decoded: list[int] = []
    started: list[int] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate(tg, 8, decoded, decoders=4)
        await _start_all(tg, gate, started, 100, 101)
        assert started == []  # 4 to decode, 2 to start
        gate.release(10)  # the decoders pass in turn (none of them decodes records)
        await wait_all_tasks_blocked()
        assert decoded == [0, 1, 2, 3] and sorted(started) == [100, 101]


@pytest.mark.anyio
async def test_a_lone_start_behind_as_many_decoders_goes_at_once() -> None:
    decoded: list[int] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate(tg, 8, decoded, decoders=1)
        with anyio.fail_after(5):
            await gate.start()
        gate.release(10)


@pytest.mark.anyio
async def test_a_process_with_time_to_spare_starts_at_once() -> None:
    decoded: list[int] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate(tg, 8, decoded, decoders=4)
        gate.ahead = True
        with anyio.fail_after(5):
            await gate.start()
        gate.release(10)


@pytest.mark.anyio
async def test_a_walk_ending_lets_the_waiting_starts_go() -> None:
    decoded: list[int] = []
    started: list[int] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate(tg, 8, decoded, decoders=4)
        await _start_all(tg, gate, started, 0)
        assert started == []
        gate.send_starts()
        await wait_all_tasks_blocked()
        assert started == [0]
        gate.release(10)


@pytest.mark.anyio
async def test_a_start_cancelled_while_waiting_leaves_the_batch() -> None:
    decoded: list[int] = []
    started: list[int] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate(tg, 3, decoded, decoders=10)
        first = asyncio.create_task(_starts(gate, started, 0))
        await wait_all_tasks_blocked()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await _start_all(tg, gate, started, 1, 2)
        assert started == []  # the cancelled one does not count towards the batch
        await _start_all(tg, gate, started, 3)
        assert sorted(started) == [1, 2, 3]
        gate.release(10)


def test_a_batch_of_one_never_waits() -> None:
    """The default (a stream sweep's, and one of two or three walks): every start goes
    at once."""
    assert RecordGate(10).start_batch == 1


@pytest.mark.anyio
async def test_a_decoder_cancelled_while_waiting_lets_the_starts_go() -> None:
    """A walk waiting to decode is cancelled: one part fewer to decode, and the starts
    waiting behind it are no longer behind more."""
    decoded: list[int] = []
    started: list[int] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate(tg, 8, decoded, decoders=1)
        second = asyncio.create_task(walk(gate, decoded, 1, 0))
        await wait_all_tasks_blocked()
        await _start_all(tg, gate, started, 100)
        assert started == []  # 2 to decode, 1 to start
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        await wait_all_tasks_blocked()
        assert started == [100] and decoded == []
        gate.release(10)
