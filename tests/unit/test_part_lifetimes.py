"""A part's records are let go before the next part is decoded.

Records kept alive while the next read is decoded survive the garbage collector's young
collections, are promoted, and are scanned again by the full ones (a 250,000-user stream
through ``client.list``: 22 full collections, 16 once parts are let go). Here a record of
an early part is kept by the test alone; each later read (which comes just before a
decode) counts the references to it: only the test's own may be left.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import anyio
import orjson
import pytest

from truto_stream._fetch import Fetcher, ListRequest
from truto_stream._parse import parse_body
from truto_stream._retry import RetryPolicy
from truto_stream._runtime import Runtime
from truto_stream._transport import BodySource, Response
from truto_stream.page import Page

from .fake_transport import FakeTransport, Reply, Sent

#: The test's list, and getrefcount's own argument.
ONLY_OURS = 2


def body(users: int) -> bytes:
    records = [{"id": f"u{i:05d}", "emails": [{"email": f"{i}@x.example"}]} for i in range(users)]
    return orjson.dumps({"result": records, "next_cursor": None})


class Probe:
    """A byte source that counts the references to ``held[0]`` at each read."""

    def __init__(self, inner: BodySource, held: list[Any], counts: list[int]) -> None:
        self._inner = inner
        self._held = held
        self._counts = counts

    @property
    def bytes_read(self) -> int:
        return self._inner.bytes_read

    async def read(self, n: int = -1) -> bytes:
        if self._held:
            self._counts.append(sys.getrefcount(self._held[0]))
        return await self._inner.read(n)

    def read_buffered(self, n: int) -> bytes:
        return self._inner.read_buffered(n)

    def at_eof(self) -> bool:
        return self._inner.at_eof()


@pytest.mark.anyio
async def test_parse_body_keeps_no_part_it_handed_on() -> None:
    data = body(2_000)
    held: list[Any] = []
    counts: list[int] = []

    class Chunks:
        def __init__(self) -> None:
            self.at = 0
            self.bytes_read = 0

        async def read(self, n: int = -1) -> bytes:
            chunk = data[self.at : self.at + 4096]
            self.at += len(chunk)
            self.bytes_read += len(chunk)
            return chunk

        def read_buffered(self, n: int) -> bytes:
            return b""

        def at_eof(self) -> bool:
            return self.at >= len(data)

    async def emit(records: list[Any]) -> None:
        if not held:
            held.append(records[0])

    meta = await parse_body(
        Probe(Chunks(), held, counts),
        content_type="application/json",
        content_length=None,
        emit=emit,
        read_bytes=4096,
    )
    assert meta.next_cursor is None
    assert len(counts) > 10
    assert max(counts) == ONLY_OURS


@pytest.mark.anyio
async def test_a_walk_keeps_no_part_its_consumer_is_done_with() -> None:
    data = body(2_000)
    held: list[Any] = []
    counts: list[int] = []

    class ProbingTransport(FakeTransport):
        async def send(self, path: str, query: str, *, read_bytes: int | None = None) -> Response:
            response = await super().send(path, query, read_bytes=read_bytes)
            return Response(
                status=response.status,
                headers=response.headers,
                body=Probe(response.body, held, counts),
                on_release=response.release,
            )

    def answer(_sent: Sent, _index: int) -> Reply:
        return Reply(chunks=[data[i : i + 4096] for i in range(0, len(data), 4096)])

    retry = RetryPolicy(max_attempts=1)
    runtime = Runtime(
        Fetcher(ProbingTransport(answer), retry=retry, budget=None),
        base_url="http://127.0.0.1",
        prefetch=2,
        stop_timeout=5.0,
    )
    request = ListRequest.unified(
        "usage-metering", "users", account_id="acc-1", mode="stream", read_bytes=4096
    )
    seen = 0
    async with anyio.create_task_group() as group:
        runtime.attach(group)
        async with contextlib.aclosing(runtime.walk(request)) as pages:
            while True:  # not `async for`: its variable would hold the last part
                try:
                    page: Page = await anext(pages)
                except StopAsyncIteration:
                    break
                if not held:
                    held.append(page.records[0])
                seen += len(page.records)
                del page
        runtime.attach(None)
    assert seen == 2_000
    assert len(counts) > 10
    assert max(counts) == ONLY_OURS
