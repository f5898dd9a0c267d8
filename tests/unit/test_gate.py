"""The sweep's record gate (sans-IO, on asyncio): bound, order, and wakes.

A release wakes one walk waiting for room, not every one: with all of them woken on each
release, 64 waiting walks cost 64 task switches per part consumed (issue #15, the paged
rows' CPU). The wakes are counted by the event loop's own scheduling of task wake-ups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio import wait_all_tasks_blocked

from truto_stream._gate import RecordGate


class CountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts the task wake-ups it schedules (but the watcher's own)."""

    def __init__(self) -> None:
        super().__init__()
        self.wakeups = 0
        self.watcher: asyncio.Task[Any] | None = None

    def call_soon(  # type: ignore[override]  # counts, then defers to asyncio's
        self, callback: Any, *args: Any, context: Any = None
    ) -> asyncio.Handle:
        task = getattr(callback, "__self__", None)
        if isinstance(task, asyncio.Task) and task is not self.watcher:
            self.wakeups += 1
        return super().call_soon(callback, *args, context=context)


def run_counting(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main`` on a :class:`CountingLoop`."""
    with asyncio.Runner(loop_factory=CountingLoop) as runner:
        runner.run(main())


async def walk(gate: RecordGate, through: list[Any], name: Any, records: int = 1) -> None:
    """What a walk does with the gate: wait for room, decode (noted in ``through``), then
    take room for ``records`` records (0: the read completed none)."""
    await gate.room()
    through.append(name)
    if records:
        await gate.reserve(records)


async def _wakeups_of_releases(walks: int, releases: int) -> int:
    """``walks`` walks wait for room in a full gate; the caller releases one record
    ``releases`` times. The task wake-ups scheduled by the releases' waits."""
    gate = RecordGate(10)
    await gate.reserve(10)
    loop = asyncio.get_running_loop()
    assert isinstance(loop, CountingLoop)

    async with anyio.create_task_group() as tg:
        for name in range(walks):
            tg.start_soon(walk, gate, [], name)
        await wait_all_tasks_blocked()
        loop.watcher = asyncio.current_task()
        before = loop.wakeups
        for _ in range(releases):
            gate.release(1)
            for _ in range(10):  # the woken walks run (a few loop turns)
                await asyncio.sleep(0)
        counted = loop.wakeups - before
        loop.watcher = None
        tg.cancel_scope.cancel()  # the walks still waiting
    return counted


def test_a_release_wakes_one_waiting_walk_not_all() -> None:
    def wakeups(walks: int) -> int:
        counted: list[int] = []

        async def main() -> None:
            counted.append(await _wakeups_of_releases(walks, releases=20))

        run_counting(main)
        return counted[0]

    few, many = wakeups(21), wakeups(200)
    # Per release: the walk that takes the room, and at most one that looks and waits
    # again. Not one per waiting walk (the first version: ~200 per release).
    assert many <= 2 * 20, many
    assert many <= few + 5, (few, many)


@pytest.mark.anyio
async def test_a_walk_decodes_only_when_the_buffer_has_room() -> None:
    """Walks wait with their reads undecoded; at most one decoded part waits for room."""
    gate = RecordGate(10)
    await gate.reserve(10)
    decoded: list[int] = []
    waiting: list[int] = []  # decoded parts not yet in the buffer
    most_waiting = 0

    async def walk(name: int) -> None:
        nonlocal most_waiting
        await gate.room()
        decoded.append(name)  # what a walk does between room() and reserve(): no await
        waiting.append(name)
        most_waiting = max(most_waiting, len(waiting))
        await gate.reserve(6)
        waiting.remove(name)

    async with anyio.create_task_group() as tg:
        for name in range(5):
            tg.start_soon(walk, name)
        await wait_all_tasks_blocked()
        assert decoded == []  # the buffer is full: every read is still bytes
        for _ in range(6):
            gate.release(gate.buffered)  # the caller takes everything buffered
            await wait_all_tasks_blocked()
    assert sorted(decoded) == list(range(5)) and not waiting
    assert most_waiting == 1


@pytest.mark.anyio
async def test_walks_wait_for_room_in_turn() -> None:
    gate = RecordGate(3)
    await gate.reserve(3)
    order: list[int] = []
    async with anyio.create_task_group() as tg:
        for name in range(6):
            tg.start_soon(walk, gate, order, name)
            await wait_all_tasks_blocked()  # they queue in this order
        for _ in range(6):
            gate.release(1)
            await wait_all_tasks_blocked()
    assert order == list(range(6))
    assert gate.peak == 3


@pytest.mark.anyio
async def test_a_walk_that_decodes_nothing_does_not_stall_the_others() -> None:
    """A walk let through may hand nothing on (a read that ends mid-record): the walks
    behind it go on while there is room, with nothing more released."""
    gate = RecordGate(10)
    await gate.reserve(10)
    through: list[int] = []
    async with anyio.create_task_group() as tg:
        for name in range(4):
            tg.start_soon(walk, gate, through, name, 0)
        await wait_all_tasks_blocked()
        gate.release(10)  # the buffer is empty now: nothing else will be released
        with anyio.fail_after(5):
            while len(through) < 4:
                await anyio.lowlevel.checkpoint()
    assert sorted(through) == [0, 1, 2, 3]


@pytest.mark.anyio
async def test_a_walk_cancelled_while_waiting_leaves_the_line() -> None:
    gate = RecordGate(1)
    await gate.reserve(1)
    through: list[str] = []
    async with anyio.create_task_group() as tg:
        first = anyio.CancelScope()
        tg.start_soon(_in_scope, first, gate, through, "first")
        await wait_all_tasks_blocked()
        tg.start_soon(walk, gate, through, "second")
        await wait_all_tasks_blocked()
        first.cancel()
        await wait_all_tasks_blocked()
        gate.release(1)
    assert through == ["second"]
    assert gate.buffered == 1


async def _in_scope(
    scope: anyio.CancelScope, gate: RecordGate, through: list[Any], name: str
) -> None:
    with scope:
        await walk(gate, through, name)


@pytest.mark.anyio
async def test_a_walk_cancelled_after_its_wake_passes_it_on() -> None:
    """asyncio's own cancellation (a timeout in the caller's code) can land on a walk
    already woken: the wake goes to the next walk, not lost."""
    gate = RecordGate(1)
    await gate.reserve(1)
    through: list[str] = []
    first = asyncio.create_task(walk(gate, through, "first"))
    await wait_all_tasks_blocked()
    second = asyncio.create_task(walk(gate, through, "second"))
    await wait_all_tasks_blocked()
    gate.release(1)  # wakes "first"...
    first.cancel()  # ...whose wake-up raises CancelledError instead
    await asyncio.wait_for(second, 5)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert through == ["second"]


@pytest.mark.anyio
async def test_a_part_larger_than_the_buffer_passes_alone() -> None:
    gate = RecordGate(5)
    await gate.reserve(50)
    assert gate.buffered == 50 and gate.peak == 50
    gate.release(50)
    await gate.reserve(5)
    assert gate.buffered == 5


@pytest.mark.anyio
async def test_a_release_with_nobody_waiting_makes_no_event() -> None:
    """The usual release finds no reservation waiting: it allocates nothing (an anyio
    Event per release was ~5 µs of a request's CPU)."""
    gate = RecordGate(10)
    for _ in range(3):
        await gate.reserve(4)
        gate.release(4)
    assert gate._freed is None


@pytest.mark.anyio
async def test_a_waiting_reservation_is_woken_by_each_release_until_it_fits() -> None:
    gate = RecordGate(10)
    await gate.reserve(10)
    done: list[int] = []

    async def reserve(n: int) -> None:
        await gate.reserve(n)
        done.append(n)

    async with anyio.create_task_group() as tg:
        tg.start_soon(reserve, 6)
        await wait_all_tasks_blocked()
        gate.release(3)  # 7 buffered: 6 more do not fit yet
        await wait_all_tasks_blocked()
        assert done == []
        gate.release(3)  # 4 buffered: they fit
        await wait_all_tasks_blocked()
        assert done == [6]
    assert gate.buffered == 10
    assert gate._freed is None or not gate._freed.done()


@pytest.mark.anyio
async def test_a_reservation_cancelled_while_waiting_leaves_the_next_one_waiting() -> None:
    """The wait is a plain future, cancelled with its walk: the next reservation waits
    on a fresh one (not the cancelled one) and a release still wakes it."""
    gate = RecordGate(10)
    await gate.reserve(10)
    first = asyncio.create_task(gate.reserve(5))
    await wait_all_tasks_blocked()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    second = asyncio.create_task(gate.reserve(5))
    await wait_all_tasks_blocked()
    assert not second.done()
    gate.release(5)
    await asyncio.wait_for(second, 5)
    assert gate.buffered == 10


async def _walks_behind_a_waiting_caller(
    tg: anyio.abc.TaskGroup, gate: RecordGate, decoded: list[int]
) -> None:
    """Four walks of 5-record parts start behind a caller waiting on ``gate``: the first
    decodes, the others wait for room."""
    gate.set_caller_waiting(True)
    for name in range(4):
        tg.start_soon(walk, gate, decoded, name, 5)
    await wait_all_tasks_blocked()
    assert decoded == [0]


@pytest.mark.anyio
async def test_a_waiting_caller_has_one_part_decoded_ahead() -> None:
    """While the caller waits, the walks stop at one decoded part; it runs next, on the
    same thread, so more would come no sooner and only live longer."""
    gate, decoded = RecordGate(1_000), list[int]()
    async with anyio.create_task_group() as tg:
        await _walks_behind_a_waiting_caller(tg, gate, decoded)
        assert gate.buffered == 5
        gate.release(5)  # the caller pulled past it (and waits again)
        await wait_all_tasks_blocked()
        assert decoded == [0, 1] and gate.buffered == 5
        gate.release(5)
        gate.set_caller_waiting(False)  # the caller away: the walks decode ahead
        await wait_all_tasks_blocked()
    assert decoded == [0, 1, 2, 3] and gate.buffered == 10


@pytest.mark.anyio
async def test_a_caller_going_away_wakes_the_walks_waiting() -> None:
    """The caller takes its part and goes off on its own I/O: the walks that waited
    while it waited decode ahead of it, up to the capacity."""
    gate, decoded = RecordGate(12), list[int]()
    async with anyio.create_task_group() as tg:
        await _walks_behind_a_waiting_caller(tg, gate, decoded)
        gate.set_caller_waiting(False)  # it runs, with part 0 in hand, not released
        await wait_all_tasks_blocked()
        # Up to the capacity: the third part waits, decoded, for room (one part may).
        assert decoded == [0, 1, 2] and gate.buffered == 10
        gate.release(10)
    assert decoded == [0, 1, 2, 3]


@pytest.mark.anyio
async def test_a_waiting_caller_still_gets_a_part_from_an_empty_gate() -> None:
    gate = RecordGate(10)
    gate.set_caller_waiting(True)
    decoded: list[int] = []
    await walk(gate, decoded, 0, 3)
    assert decoded == [0] and gate.buffered == 3
