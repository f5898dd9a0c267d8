"""Memory-object-stream helpers shared by the client and the sweep."""

from __future__ import annotations

from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["receive_next", "send_next"]

T = TypeVar("T")


async def receive_next(receive: MemoryObjectReceiveStream[T]) -> T | None:
    """The next item (None at the end), taking a buffered one without a scheduling point.

    ``receive()`` yields to the event loop on every item; with many producers ready, the
    consumer gets one turn in many and the buffer sits full: more live objects and far
    more garbage-collector work (measured: a 1,000-account sweep spent 40% of its CPU in
    the collector). Taking what is already there keeps the buffer short.
    """
    try:
        return receive.receive_nowait()
    except anyio.WouldBlock:
        try:
            return await receive.receive()
        except anyio.EndOfStream:
            return None
    except anyio.EndOfStream:
        return None


async def send_next(send: MemoryObjectSendStream[T], item: T) -> None:
    """Send ``item``, without a scheduling point while the stream has room.

    ``send()`` always yields to the event loop: a producer then costs a trip through
    the loop per item, and a turn that parses pages is long (measured: a sweep handing
    out units that way kept 3 requests in flight of 64).
    """
    try:
        send.send_nowait(item)
    except anyio.WouldBlock:
        await send.send(item)
