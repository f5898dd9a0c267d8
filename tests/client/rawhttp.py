"""A small raw-socket HTTP/1.1 server for answers the emulator would never send.

``async with raw_server(handler) as url:`` serves on 127.0.0.1 with a free port; for each
request, ``handler(request, writer)`` writes whatever bytes it likes (a bad status line,
a body trickling in, a gzip bomb...). Connections are kept alive while the handler
leaves them open; everything is closed when the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import orjson


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


def response_head(
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    reason: str = "X",
    length: int | None = None,
) -> bytes:
    """A status line and headers; ``length`` None means close-delimited (no length)."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    merged = {"Content-Type": "application/json", **(headers or {})}
    if length is not None:
        merged["Content-Length"] = str(length)
    else:
        merged["Connection"] = "close"
    lines += [f"{k}: {v}" for k, v in merged.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


async def send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes | object,
    headers: Mapping[str, str] | None = None,
    *,
    reason: str = "X",
) -> None:
    """A whole response with a Content-Length (``body`` bytes as is, else JSON)."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    writer.write(response_head(status, headers, reason=reason, length=len(data)) + data)
    await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    parts = urlsplit(target)
    return Request(method, parts.path, parse_qs(parts.query), headers)


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` on 127.0.0.1:<free port>; yields the base URL."""
    tasks: set[asyncio.Task[None]] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            while not writer.is_closing():
                request = await _read_request(reader)
                if request is None:
                    break
                await handler(request, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            tasks.discard(task)
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)
