"""A raw HTTP server on loopback for bodies the emulator would never send (tests only).

The server runs its own event loop in a thread, as a remote server would: bytes keep
arriving while the client parses. ``python -m tests.client.hostile URL`` lists one
account from ``URL`` in a fresh process and prints ``error records peak_kib seconds``
(peak RSS measured as in :mod:`tests.client.rss_probe`), for memory measured apart from
the server and the test process.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final, Self

import anyio

from tests.support import TOKEN
from truto_stream import Client, RetryPolicy, TrutoError

#: One attempt: a hostile body fails the page at once (the verdict is what is tested).
ONE_ATTEMPT: Final = RetryPolicy(max_attempts=1)


class RawServer:
    """``with RawServer(body) as url``: every request gets ``body``, then the connection
    closes. ``chunked`` sends it with chunked encoding (no length), else with a
    Content-Length; ``piece`` bytes per write, ``pause`` seconds between writes."""

    def __init__(
        self,
        body: bytes,
        *,
        chunked: bool = True,
        piece: int = 2**16,
        pause: float = 0.0,
        content_type: str = "application/json",
    ) -> None:
        self.body = body
        self.requests = 0
        #: Body bytes written so far (all requests): where the transfer is.
        self.sent = 0
        self._chunked = chunked
        self._piece = piece
        self._pause = pause
        self._content_type = content_type
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self.url = ""

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the raw server did not start")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            framing = (
                b"Transfer-Encoding: chunked"
                if self._chunked
                else b"Content-Length: %d" % len(self.body)
            )
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: "
                + self._content_type.encode()
                + b"\r\nConnection: close\r\n"
                + framing
                + b"\r\n\r\n"
            )
            for at in range(0, len(self.body), self._piece):
                piece = self.body[at : at + self._piece]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if self._chunked else piece)
                await writer.drain()
                self.sent += len(piece)
                if self._pause:
                    await asyncio.sleep(self._pause)
            if self._chunked:
                writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def list_all(
    url: str, *, mode: str = "stream", params: dict[str, str] | None = None
) -> list[object]:
    """Every record of one account's list through the public client, one attempt."""
    out: list[object] = []
    async with Client(token=TOKEN, base_url=url, retry=ONE_ATTEMPT) as client:
        async for record in client.list(
            "usage-metering",
            "users",
            account="acc1",
            mode=mode,  # type: ignore[arg-type]
            params=params,
        ):
            out.append(record)
    return out


def big_record(size: int) -> bytes:
    """One valid nested record of about ``size`` bytes, user-like items (dense in objects)."""
    item = (
        b'{"id":"u_0123456789","name":"Ada L\\u00f6velace","emails":[{"email":"ada@example.com",'
        b'"is_primary":true}],"status":"active","metrics":{"messages":85,"lines":{"added":727,'
        b'"removed":84}},"tags":["a","},{\\"id\\":","]"]}'
    )
    count = max(size // (len(item) + 1), 1)
    return b'{"id":"big","remote_data":{"members":[' + b",".join([item] * count) + b"]}}"


def history_record(size: int) -> bytes:
    """One valid nested record of about ``size`` bytes: a user with a long activity log.

    Decoded it takes about 3x its size in Python objects (a user-like record takes ~10x),
    so a 16 MB one leaves room to see what the parser itself holds.
    """
    text = b"Summarised the quarterly usage report for the team; " * 3
    item = b'{"at":"2026-04-20T12:09:51Z","kind":"message","text":"' + text + b'","tokens":512}'
    count = max(size // (len(item) + 1), 1)
    return (
        b'{"id":"u_big","name":"Ada","activity":{"log":['
        + b",".join([item] * count)
        + b'],"total":1}}'
    )


def large_record(
    size: int, record: Callable[[int], bytes] = big_record, *, pause: float = 0.0
) -> RawServer:
    """A small record, one of ``size`` bytes, another small one (``pause`` between writes)."""
    body = b'{"result":[{"id":"a"},' + record(size) + b',{"id":"z"}],"next_cursor":null}'
    return RawServer(body, pause=pause)


def peak_rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


async def count_records(url: str) -> int:
    """Like :func:`list_all`, keeping nothing: the count of records."""
    count = 0
    async with Client(token=TOKEN, base_url=url, retry=ONE_ATTEMPT) as client:
        async for _record in client.list("usage-metering", "users", account="acc1", mode="stream"):
            count += 1
    return count


def main(url: str) -> None:
    start = time.monotonic()
    error = "none"
    count = 0
    try:
        count = anyio.run(count_records, url, backend="asyncio")
    except TrutoError as err:
        error = type(err).__name__
    print(error, count, peak_rss_kib(), f"{time.monotonic() - start:.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
