"""What a client lends to the work it runs: its task group, its fetcher and its settings.

A list, a page walk and a sweep each run one *producer*: a task in the client's task group
(never in a generator: anyio's rule) that hands its results to the caller through a
:func:`~truto_stream._streams.channel`. :meth:`Runtime.start` starts one;
:meth:`Producer.stop` cancels it and waits for it to release its connections.
:func:`single_error` is the one policy for the exception groups that task groups raise.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio
from anyio.abc import TaskGroup, TaskStatus

from truto_stream._fetch import Fetcher, ListRequest, WalkStats
from truto_stream._streams import ChannelReceiver, ChannelSender, channel
from truto_stream.errors import ConfigurationError
from truto_stream.page import Page

# anyio imports its asyncio backend on the first task group: ~7 ms of imports that would
# otherwise land in a client's first sweep. aiohttp runs on asyncio only, so every client
# needs this backend: import it with the library. (A private module: a later anyio that
# moves it only brings the cost back.)
with contextlib.suppress(ImportError):
    importlib.import_module("anyio._backends._asyncio")

__all__ = ["Producer", "Runtime", "single_error"]

T = TypeVar("T")

Produce = Callable[[ChannelSender[Any]], Awaitable[None]]


def single_error(exc: BaseException) -> BaseException:
    """The one exception to raise for ``exc``, which may be a (nested) exception group.

    A group's leaves are what happened; callers handle one typed error, not a group. The
    first leaf is chosen, except that an interrupt (``KeyboardInterrupt``, ``SystemExit``:
    not an ``Exception``) wins over ordinary errors; the other leaves are kept as notes on
    the chosen one, so nothing is dropped silently.
    """
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves = list(_leaves(exc))
    if not leaves:  # an empty group cannot be built, but stay total
        return exc
    chosen = next((e for e in leaves if not isinstance(e, Exception)), leaves[0])
    for other in leaves:
        if other is not chosen:
            chosen.add_note(f"raised at the same time: {type(other).__name__}: {other}")
    return chosen


def _leaves(exc: BaseException) -> list[BaseException]:
    if not isinstance(exc, BaseExceptionGroup):
        return [exc]
    return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]


class _Failed:
    """An error raised in a producer task, carried to the consumer to re-raise."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Producer(Generic[T]):
    """A task running in the client's group; its items arrive through :meth:`next`.

    Items are never ``None``: ``None`` marks the end of the stream. An error raised by the
    producer is raised to the consumer after the items sent before it.
    """

    def __init__(
        self,
        receive: ChannelReceiver[Any],
        scope: anyio.CancelScope,
        done: anyio.Event,
        *,
        name: str,
        stop_timeout: float | None,
    ) -> None:
        self._receive = receive
        self._scope = scope
        self._done = done
        self._name = name
        self._stop_timeout = stop_timeout

    async def next(self) -> T | None:
        """The next item, or ``None`` once the producer has ended."""
        item = await self._receive.next()  # no trip through the loop when one is there
        if isinstance(item, _Failed):
            raise item.error
        return item

    @property
    def queued(self) -> int:
        """How many items are there to take without waiting."""
        return self._receive.queued

    async def stop(self) -> None:
        """Cancel the producer and wait until it has ended (it releases its connections).

        The wait is shielded, so a cancelled caller still leaves nothing running, and
        bounded by ``stop_timeout``: a producer that does not end by then is left to the
        client's own close (which cancels and waits for every task it owns), with a
        :class:`RuntimeWarning` naming it.
        """
        self._scope.cancel()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self._stop_timeout) as bounded:
                await self._done.wait()
        self._receive.close()
        if bounded.cancelled_caught:
            warnings.warn(
                f"{self._name} did not stop within {self._stop_timeout} s of being "
                "cancelled; it keeps running until the client closes (Client(stop_timeout=...)"
                " sets this bound)",
                RuntimeWarning,
                stacklevel=2,
            )

    async def wait(self) -> None:
        """Wait until the producer has ended (however it ended)."""
        await self._done.wait()


class Runtime:
    """What a :class:`~truto_stream.Client` lends to its lists and sweeps.

    ``fetcher`` walks accounts under the client's retry policy and rate budgets;
    ``prefetch`` bounds the pages a walk fetches ahead of its caller; ``stop_timeout``
    bounds the wait for a cancelled producer (``None``: no bound). The task group is
    attached while the client is open.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        base_url: str,
        prefetch: int,
        stop_timeout: float | None,
    ) -> None:
        if prefetch < 1:
            raise ConfigurationError("prefetch must be at least 1")
        if stop_timeout is not None and not (stop_timeout > 0 and not math.isnan(stop_timeout)):
            raise ConfigurationError("stop_timeout must be a positive number of seconds or None")
        self.fetcher = fetcher
        self.base_url = base_url
        self.prefetch = prefetch
        self.stop_timeout = stop_timeout
        self._task_group: TaskGroup | None = None

    @property
    def task_group(self) -> TaskGroup | None:
        """The client's task group while the client is open (``None`` otherwise)."""
        return self._task_group

    def attach(self, task_group: TaskGroup | None) -> None:
        """Lend the client's task group (``None`` once the client is closed)."""
        self._task_group = task_group

    async def start(self, produce: Produce, *, buffer: float, name: str) -> Producer[Any]:
        """Start ``produce(send)`` in the client's task group; return its :class:`Producer`.

        ``buffer`` bounds the items waiting for the consumer (backpressure: the producer
        waits when it is full).
        """
        if self._task_group is None:
            raise ConfigurationError("the client is not open: use `async with Client(...)`")
        send: ChannelSender[Any]
        receive: ChannelReceiver[Any]
        send, receive = channel(buffer)
        scope, done = await self._task_group.start(_run_producer, produce, send, name=name)
        return Producer(receive, scope, done, name=name, stop_timeout=self.stop_timeout)

    async def walk(
        self,
        request: ListRequest,
        *,
        cursor: str | None = None,
        stats: WalkStats | None = None,
    ) -> AsyncGenerator[Page, None]:
        """Yield the pages of ``request``, fetched ahead (up to ``prefetch``) in a producer.

        Closing this generator stops the producer and waits for it to release its
        connection.
        """

        async def produce(send: ChannelSender[Page]) -> None:
            async def emit(page: Page) -> None:
                await send.send(page)  # no scheduling point while there is room

            await self.fetcher.walk(request, emit, start_cursor=cursor, stats=stats)

        producer: Producer[Page] = await self.start(
            produce, buffer=self.prefetch, name=f"truto_stream walk {request.path}"
        )
        try:
            while (page := await producer.next()) is not None:
                yield page
                del page  # not held while the next part is fetched and decoded
        finally:
            await producer.stop()


async def _run_producer(
    produce: Produce,
    send: ChannelSender[Any],
    *,
    task_status: TaskStatus[tuple[anyio.CancelScope, anyio.Event]],
) -> None:
    done = anyio.Event()
    try:
        with anyio.CancelScope() as scope:
            task_status.started((scope, done))
            async with send:
                try:
                    await produce(send)
                except Exception as exc:  # handed to the consumer, who re-raises it
                    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                        await send.send(_Failed(single_error(exc)))
    finally:
        done.set()
