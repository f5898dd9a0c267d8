"""An in-memory :class:`~truto_stream._transport.Transport` for the fetch loop's unit tests.

Each request is answered by a :class:`Reply` from a script: a status, headers and a body
handed out in the given chunks, optionally failing with a project error after them (a cut
connection, a timeout). Requests are recorded so tests can check what was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from truto_stream._redact import Redactor
from truto_stream._transport import Response
from truto_stream.errors import TrutoError


@dataclass
class Reply:
    """One scripted answer. ``fail`` is raised by the read that comes after ``chunks``."""

    status: int = 200
    chunks: list[bytes] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    fail: TrutoError | None = None
    content_length: int | None = None

    @classmethod
    def json(
        cls,
        document: object,
        *,
        status: int = 200,
        split: int = 0,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A JSON body, in chunks of ``split`` bytes (0: one chunk)."""
        data = orjson.dumps(document)
        step = split or len(data) or 1
        chunks = [data[i : i + step] for i in range(0, len(data), step)]
        return cls(status, chunks, {"Content-Type": "application/json", **(headers or {})})


class FakeBody:
    """A body byte source over scripted chunks."""

    def __init__(self, chunks: Iterable[bytes], fail: TrutoError | None) -> None:
        self._chunks = [c for c in chunks if c]
        self._fail = fail
        self.bytes_read = 0

    async def read(self, n: int = -1) -> bytes:
        return self._take(n)

    def read_buffered(self, n: int) -> bytes:
        # Only what "arrived": one chunk at a time, like a socket.
        return self._take(n) if self._chunks else b""

    def at_eof(self) -> bool:
        return not self._chunks and self._fail is None

    def _take(self, n: int) -> bytes:
        if not self._chunks:
            if self._fail is not None:
                fail, self._fail = self._fail, None
                raise fail
            return b""
        chunk = self._chunks[0]
        if 0 < n < len(chunk):
            self._chunks[0] = chunk[n:]
            chunk = chunk[:n]
        else:
            self._chunks.pop(0)
        self.bytes_read += len(chunk)
        return chunk


@dataclass
class Sent:
    path: str
    query: dict[str, list[str]]

    @property
    def cursor(self) -> str | None:
        return self.query.get("next_cursor", [None])[0]


class FakeTransport:
    """Answers each request with ``answer(sent, attempt_index)``; records every request."""

    def __init__(self, answer: Callable[[Sent, int], Reply], token: str = "fake-token") -> None:
        self.redactor = Redactor([token])
        self._answer = answer
        self.sent: list[Sent] = []
        self.read_bytes: list[int | None] = []  # each request's connection buffer size
        self.released = 0
        self.served_bytes = 0

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send(self, path: str, query: str, *, read_bytes: int | None = None) -> Response:
        sent = Sent(path, parse_qs(query))
        self.sent.append(sent)
        self.read_bytes.append(read_bytes)
        reply = self._answer(sent, len(self.sent) - 1)
        self.served_bytes += sum(map(len, reply.chunks))
        return Response(
            status=reply.status,
            headers=CIMultiDictProxy(CIMultiDict(reply.headers)),
            body=FakeBody(reply.chunks, reply.fail),
            content_length=reply.content_length,
            on_release=self._release,
        )

    def _release(self) -> None:
        self.released += 1


def scripted(replies: Iterable[Reply]) -> FakeTransport:
    """A transport that answers the n-th request with the n-th reply."""
    queue = list(replies)
    return FakeTransport(lambda _sent, i: queue[i])
