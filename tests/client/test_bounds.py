"""Every body bounded: a trickle, a decompression bomb; healthy slow or long bodies pass.

Raw-socket servers on 127.0.0.1 (tests/client/rawhttp.py) send what the emulator never
would; each test ends within a bounded time (``anyio.fail_after``) with a typed error.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from functools import cache

import aiohttp
import anyio
import orjson
import pytest

from tests.support import TOKEN
from truto_stream import (
    BodyTooLarge,
    Client,
    CompressionLimits,
    RequestTimeout,
    RetryPolicy,
    Timeouts,
    TransferTooSlow,
)

from .rawhttp import Request, raw_server, response_head, send

FAST = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)


def users(n: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {"id": f"u{i:07d}", "name": f"User {i}", "email": f"user{i}@example.com", "role": "user"}
        for i in range(start, start + n)
    ]


async def collect(url: str, **options: object) -> list[str]:
    options.setdefault("retry", FAST)
    async with Client(token=TOKEN, base_url=url, rate_limits=None, **options) as client:  # type: ignore[arg-type]
        return [u["id"] async for u in client.list("usage-metering", "users", account="a")]


# --- a body that trickles in ---------------------------------------------------------------


def trickler(byte_every: float, body: bytes) -> Callable[[Request, asyncio.StreamWriter], object]:
    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(200, length=len(body)))
        for i in range(len(body)):
            writer.write(body[i : i + 1])
            await writer.drain()
            await asyncio.sleep(byte_every)

    return answer


@pytest.mark.anyio
async def test_a_trickling_body_fails_retries_then_fails_typed() -> None:
    # One byte every 20 ms forever (well, 100 KB: 2,000 s); read_idle never fires.
    body = orjson.dumps({"result": users(1000), "next_cursor": None})
    timeouts = Timeouts(read_idle=5.0, min_rate=1_000, rate_window=0.3)
    requests = 0

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        requests += 1
        await trickler(0.02, body)(request, writer)  # type: ignore[misc]

    started = time.monotonic()
    with anyio.fail_after(10):
        async with raw_server(answer) as url:
            with pytest.raises(TransferTooSlow) as info:
                await collect(url, timeouts=timeouts)
    assert requests == FAST.max_attempts  # retried, then given up
    assert time.monotonic() - started < 5
    assert info.value.retryable
    assert "bytes/s" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("request_bound", [None, 1.5], ids=["no-request-bound", "implied"])
@pytest.mark.parametrize("lent", [False, True], ids=["own-session", "lent-session"])
@pytest.mark.parametrize("with_head", [False, True], ids=["before-headers", "mid-body"])
async def test_silence_hits_read_idle_with_no_other_bound(
    with_head: bool, lent: bool, request_bound: float | None
) -> None:
    # No rate floor, and no request bound or one that connect + read_idle imply (its
    # timer is then skipped): read_idle ends a server gone silent, before its headers or
    # part-way through its body, on a session of the client's own (our timers) or one
    # lent to it (aiohttp's).
    body = orjson.dumps({"result": users(100), "next_cursor": None})
    requests = 0

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        requests += 1
        if with_head:
            writer.write(response_head(200, length=len(body)) + body[:100])
            await writer.drain()
        await asyncio.sleep(30)

    timeouts = Timeouts(connect=0.1, read_idle=0.2, request=request_bound, min_rate=0)
    started = time.monotonic()
    with anyio.fail_after(10):
        async with raw_server(answer) as url, contextlib.AsyncExitStack() as stack:
            if lent:
                session = await stack.enter_async_context(aiohttp.ClientSession())
                options: dict[str, object] = {"session": session}
            else:
                options = {}
            with pytest.raises(RequestTimeout):
                await collect(url, timeouts=timeouts, **options)
    assert requests == FAST.max_attempts  # each attempt cut, retried, then given up
    assert time.monotonic() - started < 3


@pytest.mark.anyio
async def test_read_idle_zero_is_no_bound() -> None:
    # As aiohttp's sock_read had it: 0 turns the bound off (it does not cut every wait).
    data = users(100)
    body = orjson.dumps({"result": data, "next_cursor": None})

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.05)
        writer.write(response_head(200, length=len(body)) + body[:100])
        await writer.drain()
        await asyncio.sleep(0.05)  # the client waits for the rest of the body
        writer.write(body[100:])
        await writer.drain()

    timeouts = Timeouts(read_idle=0, request=None, min_rate=0)
    with anyio.fail_after(10):
        async with raw_server(answer) as url:
            assert await collect(url, timeouts=timeouts) == [u["id"] for u in data]


@pytest.mark.anyio
async def test_a_wait_for_a_pooled_connection_is_not_silence() -> None:
    # One connection, four accounts at once, each answered in 0.15 s: the last waits
    # ~0.45 s for the connection, then 0.15 s for its answer, past read_idle counted
    # from its start. Healthy: nothing may time out, nothing is retried.
    requests = 0

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        requests += 1
        account = request.param("integrated_account_id")
        await asyncio.sleep(0.15)
        await send(writer, 200, {"result": [{"id": account}], "next_cursor": None})

    accounts = [f"acct-{i}" for i in range(4)]
    timeouts = Timeouts(read_idle=0.3, request=None, min_rate=0)
    got = []
    with anyio.fail_after(10):
        async with raw_server(answer) as url:
            async with (
                Client(
                    token=TOKEN,
                    base_url=url,
                    rate_limits=None,
                    retry=FAST,
                    timeouts=timeouts,
                    max_connections=1,
                ) as client,
                client.sweep("usage-metering", "users", accounts=accounts, concurrency=4) as sweep,
            ):
                async for batch in sweep.batches():
                    got += [user["id"] for user in batch.records]
    assert sorted(got) == accounts
    assert requests == len(accounts)  # no attempt was cut and retried


@pytest.mark.anyio
async def test_a_slow_but_steady_body_passes() -> None:
    # 2 KB every 50 ms (40 KB/s) for ~1.5 s, well above a 1,000 B/s floor.
    data = users(600)
    body = orjson.dumps({"result": data, "next_cursor": None})

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(200, length=len(body)))
        for i in range(0, len(body), 2048):
            writer.write(body[i : i + 2048])
            await writer.drain()
            await asyncio.sleep(0.05)

    timeouts = Timeouts(min_rate=1_000, rate_window=0.3)
    async with raw_server(answer) as url:
        assert await collect(url, timeouts=timeouts) == [u["id"] for u in data]


@pytest.mark.anyio
async def test_a_slow_consumer_never_fails_a_fast_stream() -> None:
    # The caller pauses far longer than the rate window, many times: backpressure is not
    # the server's slowness and must not count against it.
    data = users(20_000)
    body = b"".join(orjson.dumps(u) + b"\n" for u in data)

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(200, {"Content-Type": "application/x-ndjson"}))
        writer.write(body)
        await writer.drain()
        writer.close()

    timeouts = Timeouts(min_rate=10_000_000, rate_window=0.1)
    got = []
    async with raw_server(answer) as url:
        async with Client(
            token=TOKEN, base_url=url, retry=RetryPolicy(max_attempts=1), timeouts=timeouts
        ) as client:
            async for user in client.list("usage-metering", "users", account="a", mode="stream"):
                got.append(user["id"])
                if len(got) % 4_000 == 0:
                    await anyio.sleep(0.3)
    assert got == [u["id"] for u in data]


# --- decompression bombs -------------------------------------------------------------------


@cache
def bomb(decoded_mib: int) -> bytes:
    """A gzip body of ``decoded_mib`` MiB, nearly all whitespace, inside an envelope."""
    ws = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = ws.compress(b" " * 2**20) + ws.flush()  # one gzip member: 1 MiB -> ~1 KB
    head = zlib.compressobj(9, zlib.DEFLATED, 31)
    tail = zlib.compressobj(9, zlib.DEFLATED, 31)
    return (
        head.compress(b'{"result": [') + head.flush()
        + member * decoded_mib
        + tail.compress(b'], "next_cursor": null}') + tail.flush()
    )  # fmt: skip


def gzip_answer(body: bytes) -> Callable[[Request, asyncio.StreamWriter], object]:
    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, body, {"Content-Encoding": "gzip"})

    return answer


@pytest.mark.anyio
async def test_a_gzip_bomb_fails_its_page_at_once() -> None:
    body = bomb(1024)  # 1 MB on the wire, 1 GiB decoded
    assert len(body) < 2 * 2**20
    with anyio.fail_after(10):
        async with raw_server(gzip_answer(body)) as url:  # type: ignore[arg-type]
            with pytest.raises(BodyTooLarge) as info:
                await collect(url)
    assert not info.value.retryable
    assert "max_ratio" in str(info.value)


@pytest.mark.anyio
async def test_the_decoded_size_bound_applies_whatever_the_ratio() -> None:
    data = users(30_000)
    body = zlib.compress(orjson.dumps({"result": data, "next_cursor": None}), 6, wbits=31)
    limits = CompressionLimits(max_decoded_bytes=2 * 2**20, max_ratio=None)
    async with raw_server(gzip_answer(body)) as url:  # type: ignore[arg-type]
        with pytest.raises(BodyTooLarge, match="max_decoded_bytes"):
            await collect(url, compression=limits)
        # The same body within the defaults: every record.
        assert await collect(url) == [u["id"] for u in data]


@pytest.mark.anyio
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_pages_and_streams_pass(encoding: str) -> None:
    data = users(50_000)  # ~4 MB decoded: past the allowance, ratio ~10
    raw = b"".join(orjson.dumps(u) + b"\n" for u in data)
    body = zlib.compress(raw, 6, wbits=31 if encoding == "gzip" else 15)

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        headers = {"Content-Encoding": encoding, "Content-Type": "application/x-ndjson"}
        await send(writer, 200, body, headers)

    async with raw_server(answer) as url:
        assert await collect(url) == [u["id"] for u in data]


def test_a_gzip_bomb_keeps_memory_flat_in_a_subprocess() -> None:
    async def serve_and_probe() -> str:
        async with raw_server(gzip_answer(bomb(2048))) as url:  # type: ignore[arg-type]
            run = await anyio.run_process(
                [sys.executable, "-m", "tests.client.rss_probe", url, "a", "paged"],
                check=False,
                stderr=subprocess.STDOUT,
            )
        return run.stdout.decode()

    out = anyio.run(serve_and_probe, backend="asyncio").split()
    assert out[0] == "BodyTooLarge", out
    assert int(out[-1]) < 200 * 1024, f"peak RSS {int(out[-1]) // 1024} MiB"
