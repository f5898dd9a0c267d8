"""Memory-object-stream helpers shared by the client and the sweep."""

from __future__ import annotations

from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

__all__ = ["receive_next"]

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
