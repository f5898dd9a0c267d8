"""The transport seam: what the fetch loop needs from HTTP, in the project's own types.

A :class:`Transport` sends ``GET path?query`` and returns a :class:`Response` once the
status and headers are in; the body is then pulled from ``response.body``, a
:class:`BodySource`. Every failure a transport raises, while sending or while reading a
body, is a :mod:`truto_stream.errors` error: foreign exceptions never cross this seam.
The aiohttp implementation is :class:`truto_stream._http.AiohttpTransport` (the only
module that imports aiohttp); tests drive the fetch loop with an in-memory one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from multidict import CIMultiDictProxy

from truto_stream._redact import Redactor

__all__ = ["BodySource", "Response", "Transport"]


class BodySource(Protocol):
    """A response body as a byte source. Reads raise :mod:`truto_stream.errors` errors."""

    @property
    def bytes_read(self) -> int:
        """Body bytes handed out so far (decoded, if the body was compressed)."""
        ...

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (``-1``: all), waiting for at least one; ``b""`` at the end."""
        ...

    def read_buffered(self, n: int) -> bytes:
        """What has already arrived, up to ``n`` bytes, without waiting (may be empty)."""
        ...

    def at_eof(self) -> bool:
        """True once the whole body has been read."""
        ...


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True, eq=False)
class Response:
    """A response whose status and headers are in; the body is read from ``body``.

    ``headers`` is case-insensitive. ``content_length`` is the announced length of the
    body as read (None when unknown or when the body is compressed). Call
    :meth:`release` when done: a fully read body hands its connection back to the pool,
    an unread one closes it.
    """

    status: int
    headers: CIMultiDictProxy[str]
    body: BodySource
    content_length: int | None = None
    on_release: Callable[[], None] = field(default=_nothing, repr=False)
    on_close: Callable[[], None] = field(default=_nothing, repr=False)

    def release(self) -> None:
        """Done with the response: reuse the connection if the body was read, else drop it."""
        self.on_release()

    def close(self) -> None:
        """Drop the connection at once, whatever is left of the body."""
        self.on_close()


class Transport(Protocol):
    """Sends list requests to one API with one token."""

    @property
    def redactor(self) -> Redactor:
        """Cleans server text of this transport's token (and of control characters)."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, path: str, query: str) -> Response:
        """``GET path?query`` (``query`` already encoded); returns once headers are in."""
        ...
