"""Rate limits: sliding windows per token and per account, 429 bodies and headers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.emulator.helpers import USERS, get, users_page
from tests.support import EmulatorFactory
from truto_stream.emulator.limits import SlidingWindow, format_seconds

pytestmark = pytest.mark.anyio


async def test_51st_request_for_one_account_is_429(emulator: EmulatorFactory) -> None:
    emu = await emulator(account_limit=50, rate_window_s=10.0, token_limit=500)
    acc = emu.dataset.accounts[0].id
    for i in range(50):
        reply = await users_page(emu, acc, limit="1")
        assert reply.status == 200
        assert reply.headers["ratelimit-remaining"] == str(49 - i)
    reply = await users_page(emu, acc, limit="1")
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "10"
    assert reply.headers["ratelimit-limit"] == "50;w=10"
    assert reply.headers["ratelimit-remaining"] == "0"
    body = reply.json()
    assert body["statusCode"] == 429
    assert body["error"] == "Too Many Requests"
    assert "truto_is_remote_error" not in body
    # Another account still has its own budget.
    other = emu.dataset.accounts[1].id
    assert (await users_page(emu, other)).status == 200
    stats = emu.stats_snapshot()
    assert stats["rate_limited"] == {"truto": 1, "remote": 0}
    assert stats["status_counts"]["429"] == 1


async def test_limits_that_are_off_send_no_ratelimit_headers(emulator: EmulatorFactory) -> None:
    # "0 of 0 left, reset in 0 s" would tell a client to pause after every answer (a
    # discovered sweep paused its whole token budget after each page of accounts).
    emu = await emulator(token_limit=0, account_limit=0)
    acc = emu.dataset.accounts[0]
    paths = [
        ("/integrated-account", {}),
        (f"/integrated-account/{acc.id}", {}),
        (f"/integrated-account/{'nope'}", {}),
        (f"{USERS}/{acc.integration}/meta/list", {}),
        (USERS, {"integrated_account_id": acc.id}),
        (USERS, {}),  # 400: integrated_account_id is required
    ]
    for path, query in paths:
        reply = await get(emu, path, query)
        assert reply.status < 500, path
        assert not [h for h in reply.headers if h.lower().startswith("ratelimit")], path


async def test_token_limit(emulator: EmulatorFactory) -> None:
    emu = await emulator(token_limit=5, account_limit=0, rate_window_s=10.0)
    accounts = [a.id for a in emu.dataset.accounts]
    for i in range(5):
        assert (await users_page(emu, accounts[i % len(accounts)])).status == 200
    assert (await users_page(emu, accounts[0])).status == 429
    assert (await get(emu, "/integrated-account")).status == 429


async def test_window_slides(emulator: EmulatorFactory) -> None:
    # Tiny window: the next request after Retry-After passes. Waiting here *is* the
    # behaviour under test (time-based recovery), bounded by a 0.1 s window.
    import asyncio

    emu = await emulator(account_limit=2, rate_window_s=0.1, retry_after="reset")
    acc = emu.dataset.accounts[0].id
    assert (await users_page(emu, acc)).status == 200
    assert (await users_page(emu, acc)).status == 200
    reply = await users_page(emu, acc)
    assert reply.status == 429
    retry = float(reply.headers["Retry-After"])
    assert 0 < retry <= 0.1
    assert reply.headers["ratelimit-limit"] == "2;w=0.1"
    await asyncio.sleep(retry + 0.01)
    assert (await users_page(emu, acc)).status == 200


@pytest.mark.parametrize(("option", "header"), [(0, "0"), (2.5, "2.5"), ("window", "3")])
async def test_retry_after_option(
    emulator: EmulatorFactory, option: float | str, header: str
) -> None:
    emu = await emulator(account_limit=1, rate_window_s=3.0, retry_after=option)
    acc = emu.dataset.accounts[0].id
    assert (await users_page(emu, acc)).status == 200
    reply = await users_page(emu, acc)
    assert reply.status == 429
    assert reply.headers["Retry-After"] == header


async def test_reset_clears_rate_limits(emulator: EmulatorFactory) -> None:
    import aiohttp

    emu = await emulator(account_limit=1, rate_window_s=30.0)
    acc = emu.dataset.accounts[0].id
    assert (await users_page(emu, acc)).status == 200
    assert (await users_page(emu, acc)).status == 429
    async with aiohttp.ClientSession() as s, s.post(emu.url + "/_emulator/reset") as r:
        assert r.status == 200
    assert (await users_page(emu, acc)).status == 429  # stats only by default
    assert emu.stats_snapshot()["rate_limited"]["truto"] == 1
    async with (
        aiohttp.ClientSession() as s,
        s.post(emu.url + "/_emulator/reset", params={"rate_limits": "true"}) as r,
    ):
        assert r.status == 200
    assert (await users_page(emu, acc)).status == 200


async def test_headers_on_errors_too(emulator: EmulatorFactory) -> None:
    emu = await emulator(account_limit=50)
    acc = emu.dataset.accounts[0].id
    reply = await get(emu, USERS, {"integrated_account_id": acc, "limit": "nope"})
    assert reply.status == 400
    assert reply.headers["ratelimit-limit"].startswith("50;w=")


@given(
    limit=st.integers(1, 20),
    times=st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=200),
)
def test_sliding_window_never_exceeds_limit(limit: int, times: list[float]) -> None:
    window = 5.0
    sw = SlidingWindow(limit, window)
    accepted: list[float] = []
    for t in sorted(times):
        decision = sw.hit("k", t)
        if decision.allowed:
            accepted.append(t)
        assert 0 <= decision.remaining <= limit
        inside = [a for a in accepted if a > t - window]
        assert len(inside) <= limit
        # A rejection only happens with a full window.
        if not decision.allowed:
            assert len(inside) == limit


@pytest.mark.parametrize(
    ("value", "text"), [(10, "10"), (10.0, "10"), (0.25, "0.25"), (0, "0"), (1 / 3, "0.333")]
)
def test_format_seconds(value: float, text: str) -> None:
    assert format_seconds(value) == text
