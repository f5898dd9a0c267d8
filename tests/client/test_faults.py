"""Faults over real HTTP: retries deliver every record exactly once; the rest fail fast."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import FAST_RETRY, TOKEN, EmulatorFactory
from truto_stream import (
    AccountBlocked,
    AuthError,
    BadRequest,
    Client,
    CursorLoop,
    MalformedBody,
    NeedsReauth,
    NotFound,
    PageLimitExceeded,
    RateLimited,
    Timeouts,
    UnexpectedContentType,
)
from truto_stream.client import RateLimits
from truto_stream.emulator import AccountSpec, Emulator, EmulatorConfig

from .rawhttp import Request, raw_server, send

ClientFor = Callable[..., AbstractAsyncContextManager[Client]]

USERS = 20_000
PAGE = 1_000  # claude allows up to 1000 per page: 20 pages

TRANSIENT = ["500", "502", "504", "remote429", "reset", "cut", "stall:0.3", "malformed"]


def fault_schedules() -> st.SearchStrategy[str]:
    rule = st.tuples(
        st.sampled_from(TRANSIENT), st.integers(0, USERS // PAGE - 1), st.integers(1, 2)
    ).map(lambda t: f"{t[0]}@#{t[1]}x{t[2]}")
    empty = st.integers(1, USERS // PAGE - 1).map(lambda i: f"empty:2@#{i}")
    return st.lists(st.one_of(rule, empty), min_size=1, max_size=6).map(",".join)


async def _collect(config: EmulatorConfig, mode: str) -> list[str]:
    async with Emulator(config) as emu:
        account = emu.dataset.accounts[0].id
        async with Client(
            token=TOKEN,
            base_url=emu.url,
            retry=FAST_RETRY,
            timeouts=Timeouts(read_idle=0.1),
        ) as client:
            return [
                u["id"]
                async for u in client.list(
                    "usage-metering",
                    "users",
                    account=account,
                    params={"limit": PAGE},
                    mode=mode,  # type: ignore[arg-type]
                )
            ]


def _config(faults: str, framing: str = "page") -> EmulatorConfig:
    return EmulatorConfig(
        tokens=(TOKEN,),
        seed=7,
        accounts=(AccountSpec(integration="claude", tenant_id="acme", users=USERS, faults=faults),),
        stream_framing=framing,  # type: ignore[arg-type]
        remote_retry_after_s=0,
    )


CLEAN: dict[str, list[str]] = {}


def _clean_ids() -> list[str]:
    if "ids" not in CLEAN:
        CLEAN["ids"] = anyio.run(_collect, _config(""), "paged", backend="asyncio")
        assert len(CLEAN["ids"]) == USERS == len(set(CLEAN["ids"]))
    return CLEAN["ids"]


@settings(
    max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(faults=fault_schedules(), mode=st.sampled_from(["paged", "stream"]))
def test_faulty_runs_deliver_exactly_the_clean_set(faults: str, mode: str) -> None:
    ids = anyio.run(_collect, _config(faults), mode, backend="asyncio")
    assert ids == _clean_ids(), faults


@settings(max_examples=6, deadline=None, derandomize=True)
@given(
    fault=st.sampled_from(["cut", "reset", "malformed", "stall:0.3", "500", "502"]),
    framing=st.sampled_from(["envelope", "ndjson", "array"]),
    offset=st.integers(10, 3_000_000),
)
def test_a_retried_stream_skips_what_it_delivered(fault: str, framing: str, offset: int) -> None:
    # A whole-account stream damaged part-way: the retry starts again from the top and
    # the client drops the records it had already handed on.
    kind, _, arg = fault.partition(":")
    spec = (
        f"{kind}:{arg or offset}@#0x1" if kind in ("cut", "reset", "malformed") else f"{fault}@#0x1"
    )
    ids = anyio.run(_collect, _config(spec, framing), "stream", backend="asyncio")
    assert ids == _clean_ids(), spec


def one(integration: str = "claude", users: int = 300, **spec: Any) -> tuple[AccountSpec, ...]:
    return (AccountSpec(integration=integration, tenant_id="acme", users=users, **spec),)


@pytest.mark.anyio
async def test_looping_cursor_raises(emulator: EmulatorFactory, client_for: ClientFor) -> None:
    emu = await emulator(accounts=one(faults="loop@#1"))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        with pytest.raises(CursorLoop):
            async for _ in client.list(
                "usage-metering", "users", account=account, params={"limit": 50}
            ):
                pass


@pytest.mark.anyio
async def test_a_looping_cursor_names_the_account_and_path(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(accounts=one(faults="loop@#3"))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        with pytest.raises(CursorLoop) as info:
            async for _ in client.list(
                "usage-metering", "users", account=account, params={"limit": 50}
            ):
                pass
    assert info.value.account_id == account
    assert info.value.path == "/unified/usage-metering/users"
    assert account in str(info.value)


@pytest.mark.anyio
async def test_page_cap(emulator: EmulatorFactory, client_for: ClientFor) -> None:
    emu = await emulator(accounts=one(users=500))
    account = emu.dataset.accounts[0].id
    async with client_for(emu, max_pages=3) as client:
        got = []
        with pytest.raises(PageLimitExceeded):
            async for user in client.list(
                "usage-metering", "users", account=account, params={"limit": 100}
            ):
                got.append(user)
    assert len(got) == 300


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"status": "needs_reauth"}, NeedsReauth),
        ({"is_blocked": True}, AccountBlocked),
    ],
)
async def test_not_retried(
    emulator: EmulatorFactory, client_for: ClientFor, spec: dict[str, Any], error: type[Exception]
) -> None:
    emu = await emulator(accounts=one(**spec))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        with pytest.raises(error) as info:
            async for _ in client.list("usage-metering", "users", account=account):
                pass
    assert info.value.account_id == account  # type: ignore[attr-defined]
    assert emu.stats_snapshot()["requests"]["total"] == 1


@pytest.mark.anyio
async def test_bad_requests_are_not_retried(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(accounts=one())
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        with pytest.raises(BadRequest) as info:
            async for _ in client.list(
                "usage-metering", "users", account=account, params={"date": "20-11-2026"}
            ):
                pass
        assert info.value.status == 400
        with pytest.raises(NotFound):
            async for _ in client.list("usage-metering", "users", account="no-such-account"):
                pass
    assert emu.stats_snapshot()["requests"]["total"] == 2


@pytest.mark.anyio
async def test_persistent_malformed_body_gives_up(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(accounts=one(faults="malformed@#0x*"))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        with pytest.raises(MalformedBody):
            async for _ in client.list("usage-metering", "users", account=account):
                pass
    assert emu.stats_snapshot()["requests"]["total"] == FAST_RETRY.max_attempts


@pytest.mark.anyio
async def test_429_storm_is_retried_until_it_passes(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    # No client-side budget: the emulator's limiter answers 429s, the client waits them out.
    emu = await emulator(
        accounts=one(users=2_000), account_limit=3, rate_window_s=0.2, retry_after=0
    )
    account = emu.dataset.accounts[0].id
    async with client_for(
        emu,
        rate_limits=None,
        retry=FAST_RETRY.__class__(max_attempts=50, base_delay=0.01, max_delay=0.05),
    ) as client:
        ids = [
            u["id"]
            async for u in client.list(
                "usage-metering", "users", account=account, params={"limit": 100}
            )
        ]
    assert ids == list(emu.dataset.user_ids(account))
    assert emu.stats_snapshot()["rate_limited"]["truto"] > 0


@pytest.mark.anyio
async def test_429s_give_up_after_the_retry_budget(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(accounts=one(faults="remote429@#0x*"), remote_retry_after_s=0)
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        with pytest.raises(RateLimited) as info:
            async for _ in client.list("usage-metering", "users", account=account):
                pass
    assert info.value.is_remote


@pytest.mark.anyio
async def test_the_client_budget_avoids_429s(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(
        accounts=one(users=3_000), account_limit=5, token_limit=50, rate_window_s=0.25
    )
    account = emu.dataset.accounts[0].id
    limits = RateLimits(token_limit=50, account_limit=5, window=0.25)
    async with client_for(emu, rate_limits=limits) as client:
        ids = [
            u["id"]
            async for u in client.list(
                "usage-metering", "users", account=account, params={"limit": 100}
            )
        ]
    assert len(ids) == 3_000
    stats = emu.stats_snapshot()
    assert stats["requests"]["total"] == 30
    assert stats["rate_limited"]["truto"] == 0


@pytest.mark.anyio
async def test_wrong_content_type_is_a_clear_error() -> None:
    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/unified/usage-metering/users", html)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with Client(token=TOKEN, base_url=f"http://127.0.0.1:{port}") as client:
            with pytest.raises(UnexpectedContentType, match="text/html"):
                async for _ in client.list("usage-metering", "users", account="a"):
                    pass
    finally:
        await runner.cleanup()


@pytest.mark.anyio
async def test_token_never_leaks(
    emulator: EmulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-very-secret-token-123"
    emu = await emulator(accounts=one(status="needs_reauth"), tokens=(secret,))
    account = emu.dataset.accounts[0].id
    caplog.set_level(logging.DEBUG)
    async with Client(token=secret, base_url=emu.url, retry=FAST_RETRY) as client:
        assert secret not in repr(client)
        with pytest.raises(NeedsReauth) as info:
            async for _ in client.list("usage-metering", "users", account=account):
                pass
    err = info.value
    for text in (str(err), repr(err), repr(err.__dict__), str(err.__cause__), caplog.text):
        assert secret not in text
    bad = "bad-token-XYZ987"
    async with Client(token=bad, base_url=emu.url, retry=FAST_RETRY) as client:
        with pytest.raises(AuthError) as refused:
            async for _ in client.list("usage-metering", "users", account=account):
                pass
    assert type(refused.value) is AuthError  # a bad token, not a remote re-auth
    assert bad not in str(refused.value) + repr(refused.value) + caplog.text


@pytest.mark.anyio
async def test_a_stream_cut_again_and_again_still_finishes_if_it_progresses(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    # Cut part-way through on 10 attempts in a row, each time further in: more failures
    # than the retry budget (8 attempts), but each attempt delivers more, so the budget
    # starts again each time.
    cuts = ",".join(f"cut:{n * 1_000_000}@#0x{n}" for n in range(1, 11))
    emu = await emulator(accounts=one(users=20_000, faults=cuts), stream_framing="ndjson")
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        ids = [
            u["id"]
            async for u in client.list("usage-metering", "users", account=account, mode="stream")
        ]
    assert ids == list(emu.dataset.user_ids(account))
    assert emu.stats_snapshot()["requests"]["total"] == 11


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_provider_5xx_is_retried_and_the_account_completes(status: int) -> None:
    # Truto's rule (truto-api.md 3.2): a 5xx with truto_is_remote_error means the vendor
    # is failing; retry with backoff. Once, at page 13 of a 2,500-user account.
    total, per_page = 2_500, 100
    requests: list[str | None] = []

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        cursor = request.param("next_cursor")
        requests.append(cursor)
        start = int(cursor or 0)
        if start == 13 * per_page and requests.count(cursor) == 1:
            body = {
                "statusCode": status,
                "error": "Internal Server Error",
                "message": "",
                "truto_is_remote_error": True,
                "raw_response": {"error": "upstream exploded"},
                "truto_error_insight": {"remote_error": {"description": "vendor failed"}},
            }
            await send(writer, status, body)
            return
        stop = min(total, start + per_page)
        page = [{"id": f"u{i:05d}"} for i in range(start, stop)]
        await send(
            writer, 200, {"result": page, "next_cursor": str(stop) if stop < total else None}
        )

    async with raw_server(answer) as url:
        async with Client(token=TOKEN, base_url=url, retry=FAST_RETRY) as client:
            ids = [u["id"] async for u in client.list("usage-metering", "users", account="a")]
    assert ids == [f"u{i:05d}" for i in range(total)]
    assert len(requests) == total // per_page + 1


@pytest.mark.anyio
async def test_the_emulators_remote_500_is_retried(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(accounts=one(users=2_500, faults="remote500@#13"))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        ids = [
            u["id"]
            async for u in client.list(
                "usage-metering", "users", account=account, params={"limit": 100}
            )
        ]
    assert ids == list(emu.dataset.user_ids(account))
    assert emu.stats_snapshot()["requests"]["total"] == 26
