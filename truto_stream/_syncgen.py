"""An async producer consumed as a plain generator, on a private event loop in the caller's
own thread.

For synchronous hosts that call us for one item at a time (``run_shard``, a Ray read
task, a shard process): ``produce(put)`` runs as one task of a private asyncio loop, and
the loop runs only while the caller waits for its next item. No thread, no queue lock, no
thread hop per item: the thread-and-queue bridge this replaces spent 18% of a shard's
samples handing batches over, and a shard process then needed 1.6x the CPU of an
in-process sweep (issue #15). While the caller works on an item the loop is paused; the
kernel's socket buffers keep receiving meanwhile, and up to ``ahead`` items wait
(backpressure: ``put`` waits while that many are ready). A run of the loop ends with the
turn in which the first item was put (``loop.stop()``, no future to wait on), so the
caller takes, run after run, what one turn made: ``ahead`` should cover what the
producer can hand on in a turn (run_shard: one batch per walk), or the producer waits on
the caller and whatever feeds it backs up though the caller keeps up.

Closing the generator early cancels the producer and runs the loop until it has ended
(its ``async with`` blocks close their connections); an exception in the producer is
raised in the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

__all__ = ["Put", "iterate_on_loop"]

T = TypeVar("T")
R = TypeVar("R")
Put = Callable[[T], Awaitable[None]]


class _Handoff(Generic[T]):
    """Items the producer made and the caller has not taken yet (at most ``ahead``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ahead: int) -> None:
        self.loop = loop
        self.ahead = ahead
        self.items: deque[T] = deque()
        self._space: asyncio.Future[None] | None = None
        # The caller runs the loop until an item is ready: the first one stops it.
        self.waiting = False

    async def put(self, item: T) -> None:
        while len(self.items) >= self.ahead:
            self._space = self.loop.create_future()
            await self._space
        self.items.append(item)
        self.ready()

    def ready(self) -> None:
        """Something for the caller: the loop stops at the end of this turn."""
        if self.waiting:
            self.waiting = False
            self.loop.stop()

    def take(self) -> T:
        item = self.items.popleft()
        _wake(self._space)
        return item


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


def iterate_on_loop(
    produce: Callable[[Put[T]], Awaitable[R]], *, ahead: int = 2
) -> Generator[T, None, R]:
    """Yield what ``produce`` puts; return what it returns.

    ``produce`` runs on a new asyncio event loop that this generator owns and closes.
    """
    if ahead < 1:
        raise ValueError("ahead must be at least 1")
    loop = asyncio.new_event_loop()
    handoff: _Handoff[T] = _Handoff(loop, ahead)
    task: asyncio.Task[R] = loop.create_task(_run(produce, handoff.put))
    task.add_done_callback(lambda _: handoff.ready())
    try:
        while True:
            if handoff.items:
                yield handoff.take()
                continue
            if task.done():
                return task.result()  # raises the producer's error
            handoff.waiting = True
            loop.run_forever()  # until the turn in which an item is put, or the producer ends
    finally:
        handoff.waiting = False  # nothing stops the loop while _close runs it
        _close(loop, task)


async def _run(produce: Callable[[Put[T]], Awaitable[R]], put: Put[T]) -> R:
    return await produce(put)


def _close(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
    """Cancel the producer if it is still running, let it clean up, close the loop."""
    try:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
