"""A small HTTP/1.1 server on raw asyncio sockets, for answers the emulator never gives."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

__all__ = ["Reply", "raw_server"]

#: (status, headers, body)
Reply = tuple[int, dict[str, str], bytes]
Route = Callable[[str, str], Reply | Awaitable[Reply]]


@asynccontextmanager
async def raw_server(route: Route) -> AsyncIterator[str]:
    """Serve on 127.0.0.1:0 until the block ends; ``route(path, query)`` answers each
    request (it may be a coroutine function). Yields the base URL."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                target = head.split(b" ", 2)[1].decode()
                path, _, query = target.partition("?")
                reply = route(path, query)
                status, headers, body = await reply if inspect.isawaitable(reply) else reply
                lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
                lines += [f"{k}: {v}" for k, v in headers.items()]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()
