"""A server that asks for an absurd wait: every pause is capped, and the report says so.

A raw-socket server (the emulator would never send ``Retry-After: 10000000``) answers the
first request of a route with a 429 asking for 10,000,000 s, then serves normally. With
``RetryPolicy(max_retry_after=...)`` the retry sleep and the rate budget's pause are
both capped, so the sweep finishes within seconds.
"""

from __future__ import annotations

import time

import anyio
import orjson
import pytest

from truto_stream import AccountQuery, Client, RetryPolicy, SweepReport

from .rawhttp import Reply, raw_server

pytestmark = pytest.mark.anyio

TOKEN = "pause-test-token"
ASKED = 10_000_000
CAP = 0.5
ACCOUNTS = ("acc-1", "acc-2", "acc-3")


def _json(status: int, body: object, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, orjson.dumps(body)


def _too_many() -> Reply:
    body = {"message": "Too many requests", "status": 429}
    return _json(429, body, **{"Retry-After": str(ASKED)})


def _users(query: str) -> Reply:
    account = query.split("integrated_account_id=", 1)[1].split("&", 1)[0]
    records = [{"id": f"{account}-user-{i}"} for i in range(3)]
    return _json(200, {"result": records, "next_cursor": None})


async def _sweep(url: str) -> tuple[int, float, SweepReport]:
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=CAP)
    started = time.monotonic()
    async with Client(token=TOKEN, base_url=url, retry=retry) as client:
        with anyio.fail_after(15):
            async with client.sweep("usage-metering", "users", accounts=AccountQuery()) as sweep:
                records = sum([len(batch) async for _account, batch in sweep.batches()])
    return records, time.monotonic() - started, sweep.report


async def test_a_huge_retry_after_on_discovery_pauses_the_token_only_up_to_the_cap() -> None:
    asked = 0

    def route(path: str, query: str) -> Reply:
        nonlocal asked
        if path == "/integrated-account":
            asked += 1
            if asked == 1:
                return _too_many()  # Truto's own 429, without an account: the whole token
            accounts = [{"id": a, "status": "active"} for a in ACCOUNTS]
            return _json(200, {"result": accounts, "next_cursor": None})
        return _users(query)

    async with raw_server(route) as url:
        records, elapsed, report = await _sweep(url)
    assert records == 9
    assert elapsed < 5 * CAP + 2.0  # one capped pause, not 10,000,000 s
    assert report.ok
    # The report says a server asked for more than the cap (discovery has no account).
    assert report.retry_after_over_cap == ASKED
    document = report.to_dict()
    assert document["retry_after_over_cap"] == ASKED
    assert document["discovery"]["retry_after_over_cap"] == ASKED
    assert document["discovery"]["rate_limited"] == 1


async def test_a_huge_retry_after_for_an_account_is_capped_and_reported() -> None:
    hits: dict[str, int] = {}

    def route(path: str, query: str) -> Reply:
        if path == "/integrated-account":
            accounts = [{"id": a, "status": "active"} for a in ACCOUNTS]
            return _json(200, {"result": accounts, "next_cursor": None})
        account = query.split("integrated_account_id=", 1)[1].split("&", 1)[0]
        hits[account] = hits.get(account, 0) + 1
        if account == "acc-2" and hits[account] == 1:
            return _too_many()
        return _users(query)

    async with raw_server(route) as url:
        records, elapsed, report = await _sweep(url)
    assert records == 9
    assert elapsed < 5 * CAP + 2.0
    accounts = report.accounts
    assert accounts["acc-2"].retry_after_over_cap == ASKED
    assert accounts["acc-2"].rate_limited == 1
    assert accounts["acc-1"].retry_after_over_cap is None
    assert report.discovery.retry_after_over_cap is None
    assert report.retry_after_over_cap == ASKED
    listed = {a["account_id"]: a for a in report.to_dict()["accounts"]}
    assert listed["acc-2"]["retry_after_over_cap"] == ASKED
