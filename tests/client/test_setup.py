"""Client set-up: base URLs, tokens, event loops, sessions, timeouts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import anyio
import pytest
import trio

from tests.support import TOKEN, EmulatorFactory
from truto_stream import Client, ConfigurationError, RequestTimeout, RetryPolicy, Timeouts
from truto_stream._http import check_base_url
from truto_stream.emulator import AccountSpec

from .rawhttp import Request, raw_server, send

ClientFor = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.mark.parametrize(
    "url",
    ["https://api.truto.one", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"],
)
def test_accepted_base_urls(url: str) -> None:
    assert str(check_base_url(url)).startswith(url.split("://")[0])


@pytest.mark.parametrize(
    "url", ["http://api.truto.one", "ftp://x", "https://x/?a=1", "not a url", "http://10.0.0.1"]
)
def test_refused_base_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        check_base_url(url)


def test_plain_http_can_be_allowed_explicitly() -> None:
    assert str(check_base_url("http://truto.internal", allow_insecure=True))


def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRUTO_API_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="TRUTO_API_TOKEN"):
        Client()
    monkeypatch.setenv("TRUTO_API_TOKEN", "from-env-123")
    client = Client()
    assert "from-env-123" not in repr(client)


def test_trio_is_refused_clearly() -> None:
    async def main() -> None:
        Client(token=TOKEN)

    with pytest.raises(ConfigurationError, match="asyncio"):
        trio.run(main)


@pytest.mark.anyio
async def test_a_callers_session_is_used_and_left_open(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=(AccountSpec(integration="openai", tenant_id="t", users=120),))
    account = emu.dataset.accounts[0].id
    async with aiohttp.ClientSession() as session:
        async with Client(token=TOKEN, base_url=emu.url, session=session) as client:
            ids = [u["id"] async for u in client.list("usage-metering", "users", account=account)]
        assert not session.closed
    assert len(ids) == 120


@pytest.mark.anyio
async def test_slow_headers_hit_the_request_timeout(emulator: EmulatorFactory) -> None:
    emu = await emulator(
        accounts=(AccountSpec(integration="claude", tenant_id="t", users=10),), latency_ms=500
    )
    account = emu.dataset.accounts[0].id
    retry = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.01)
    async with Client(
        token=TOKEN, base_url=emu.url, timeouts=Timeouts(request=0.05), retry=retry
    ) as client:
        with pytest.raises(RequestTimeout):
            async for _ in client.list("usage-metering", "users", account=account):
                pass
    assert emu.stats_snapshot()["requests"]["total"] == 2  # the timeout was retried once


@pytest.mark.anyio
async def test_headers_trickling_in_hit_the_request_timeout_and_spare_the_quick_ones() -> None:
    """The request bound holds for headers that keep coming a byte at a time (read_idle
    never fires), on several requests at once, each cut at its own deadline; requests
    answered at once beside them are never cut (one timer serves them all)."""

    async def server(request: Request, writer: asyncio.StreamWriter) -> None:
        if (request.param("integrated_account_id") or "").startswith("hang"):
            writer.write(b"HTTP/1.1 200 OK\r\nX-Pad: ")
            while True:
                writer.write(b"a")
                await writer.drain()
                await asyncio.sleep(0.02)
        await send(writer, 200, {"result": [{"id": "u1"}], "next_cursor": None})

    retry = RetryPolicy(max_attempts=1)
    timeouts = Timeouts(request=0.3, read_idle=5.0)

    async def hang(client: Client, account: str) -> float:
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            async for _ in client.list("usage-metering", "users", account=account):
                pass
        return time.monotonic() - started

    async def quick(client: Client) -> int:
        got = 0
        for _ in range(20):
            got += len([u async for u in client.list("usage-metering", "users", account="ok")])
            await asyncio.sleep(0.02)
        return got

    async with (
        raw_server(server) as url,
        Client(
            token=TOKEN, base_url=url, timeouts=timeouts, retry=retry, rate_limits=None
        ) as client,
    ):
        first = asyncio.create_task(hang(client, "hang-1"))
        quick_ones = asyncio.create_task(quick(client))
        await asyncio.sleep(0.1)
        second = asyncio.create_task(hang(client, "hang-2"))
        took = [await first, await second]
        assert await quick_ones == 20
    assert all(0.29 <= t < 0.3 + 0.5 for t in took), took


@pytest.mark.anyio
@pytest.mark.parametrize("framing", ["ndjson", "array"])
async def test_framing_override(
    emulator: EmulatorFactory, client_for: ClientFor, framing: str
) -> None:
    emu = await emulator(
        accounts=(AccountSpec(integration="cursor", tenant_id="t", users=700),),
        stream_framing=framing,
    )
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        users = [
            u
            async for u in client.list(
                "usage-metering", "users", account=account, mode="stream", framing=framing
            )
        ]
    assert [u["id"] for u in users] == list(emu.dataset.user_ids(account))


def test_runs_on_uvloop() -> None:
    async def main() -> list[str]:
        from truto_stream.emulator import Emulator, EmulatorConfig

        config = EmulatorConfig(
            tokens=(TOKEN,), accounts=(AccountSpec(integration="claude", tenant_id="t", users=250),)
        )
        async with Emulator(config) as emu, Client(token=TOKEN, base_url=emu.url) as client:
            account = emu.dataset.accounts[0].id
            return [u["id"] async for u in client.list("usage-metering", "users", account=account)]

    ids = anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    assert len(ids) == 250
