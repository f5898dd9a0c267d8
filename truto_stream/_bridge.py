"""An async producer on a private event loop in a thread, consumed as a plain generator.

For synchronous hosts (dlt resources, engines' workers): ``produce(put)`` runs under
``anyio.run`` in a daemon thread and hands items over with ``await put(item)``; the
caller's generator yields them. At most ``queue_items`` items wait (backpressure: the
producer waits while the caller is behind). Closing the generator early stops the
producer and waits for its thread; an exception in the producer is raised in the caller.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

__all__ = ["iterate_in_thread"]

T = TypeVar("T")
Put = Callable[[T], Awaitable[None]]

_DONE = object()


class Stopped(Exception):
    """Raised inside the producer by ``put`` once the caller has stopped listening."""


def iterate_in_thread(
    produce: Callable[[Put[T]], Awaitable[None]],
    *,
    queue_items: int = 2,
    name: str = "truto-stream producer",
) -> Generator[T, None, None]:
    """Yield what ``produce`` puts, produced on an event loop of its own in a thread."""
    items: queue.Queue[Any] = queue.Queue(maxsize=queue_items)
    stop = threading.Event()

    async def put(item: T) -> None:
        if stop.is_set():
            raise Stopped
        # Blocks a worker thread (not the loop) while the caller is behind.
        await anyio.to_thread.run_sync(items.put, item)

    running: list[tuple[anyio.CancelScope, Any]] = []

    async def main() -> None:
        with anyio.CancelScope() as scope, contextlib.suppress(Stopped):
            running.append((scope, anyio.lowlevel.current_token()))
            if not stop.is_set():
                await produce(put)

    def cancel() -> None:
        # Stop a producer that is waiting on the network, not only one blocked on put.
        for scope, token in running:
            with contextlib.suppress(RuntimeError):  # its loop has ended already
                anyio.from_thread.run_sync(scope.cancel, token=token)

    def target() -> None:
        try:
            anyio.run(main, backend="asyncio")
        except BaseException as exc:  # handed to the caller's thread
            items.put(exc)
        finally:
            items.put(_DONE)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        if thread.is_alive():
            cancel()
        # Drain, so a producer blocked on a full queue sees ``stop`` and ends.
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                items.get(timeout=0.05)
        thread.join()
