"""Walks about to start a unit go in batches while others wait to decode (sans-IO).

One request at a time wakes a server asleep on the same machine for each (the kernel runs
it on the sender's CPU, then and there); a batch of requests wakes it once. A walk waits
to make up a batch only while there is decoding to do first, on a process with no time
to spare, and never past the moment nobody waits to decode.
"""

from __future__ import annotations

import asyncio

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from tests.unit.test_gate import walk
from truto_stream._gate import RecordGate


async def _full_gate_with_a_walk_waiting(
    tg: anyio.abc.TaskGroup, start_batch: int, decoded: list[str]
) -> RecordGate:
    """A gate whose buffer is full and one walk waits in it to decode."""
    gate = RecordGate(10, start_batch=start_batch)
    await gate.reserve(10)
    tg.start_soon(walk, gate, decoded, "decoder")
    await wait_all_tasks_blocked()
    assert decoded == []
    return gate


async def _starts(gate: RecordGate, started: list[int], name: int) -> None:
    await gate.start()
    started.append(name)


@pytest.mark.anyio
async def test_with_nobody_waiting_to_decode_a_walk_starts_at_once() -> None:
    gate = RecordGate(10, start_batch=8)
    with anyio.fail_after(5):
        await gate.start()


@pytest.mark.anyio
async def test_starts_wait_behind_decoding_and_go_as_a_batch() -> None:
    decoded: list[str] = []
    started: list[int] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate_with_a_walk_waiting(tg, 3, decoded)
        for name in range(2):
            tg.start_soon(_starts, gate, started, name)
        await wait_all_tasks_blocked()
        assert started == []  # two of a batch of three: they wait
        tg.start_soon(_starts, gate, started, 2)  # the third: all three go
        await wait_all_tasks_blocked()
        assert sorted(started) == [0, 1, 2]
        gate.release(10)
    assert decoded == ["decoder"]


@pytest.mark.anyio
async def test_starts_go_once_nobody_waits_to_decode() -> None:
    """The last walk waiting to decode passes: the starts waiting behind it go, short of
    a batch (nothing else would let them go)."""
    decoded: list[str] = []
    started: list[int] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate_with_a_walk_waiting(tg, 8, decoded)
        tg.start_soon(_starts, gate, started, 0)
        await wait_all_tasks_blocked()
        assert started == []
        gate.release(10)  # the decoder passes
        await wait_all_tasks_blocked()
        assert decoded == ["decoder"] and started == [0]


@pytest.mark.anyio
async def test_a_process_with_time_to_spare_starts_at_once() -> None:
    decoded: list[str] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate_with_a_walk_waiting(tg, 8, decoded)
        gate.ahead = True
        with anyio.fail_after(5):
            await gate.start()
        gate.release(10)


@pytest.mark.anyio
async def test_a_walk_ending_lets_the_waiting_starts_go() -> None:
    decoded: list[str] = []
    started: list[int] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate_with_a_walk_waiting(tg, 8, decoded)
        tg.start_soon(_starts, gate, started, 0)
        await wait_all_tasks_blocked()
        gate.send_starts()
        await wait_all_tasks_blocked()
        assert started == [0]
        gate.release(10)


@pytest.mark.anyio
async def test_a_start_cancelled_while_waiting_leaves_the_batch() -> None:
    decoded: list[str] = []
    started: list[int] = []
    async with anyio.create_task_group() as tg:
        gate = await _full_gate_with_a_walk_waiting(tg, 3, decoded)
        first = asyncio.create_task(_starts(gate, started, 0))
        await wait_all_tasks_blocked()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        for name in (1, 2):
            tg.start_soon(_starts, gate, started, name)
        await wait_all_tasks_blocked()
        assert started == []  # the cancelled one does not count towards the batch
        tg.start_soon(_starts, gate, started, 3)
        await wait_all_tasks_blocked()
        assert sorted(started) == [1, 2, 3]
        gate.release(10)


def test_a_batch_of_one_never_waits() -> None:
    """The default (and a sweep of two or three walks): every start goes at once."""
    assert RecordGate(10).start_batch == 1
