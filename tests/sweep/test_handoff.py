"""Units reach idle workers without an event-loop turn each (issue #15: per-request CPU).

A caller's work between batches runs on the sweep's event loop. When every unit handed to
a worker cost a scheduling point, a turn of the loop that also ran the caller's work let
one more unit out: a sweep of many one-page accounts kept a few requests in flight
instead of ``concurrency`` (measured: 3 of 64), and spent more CPU per request.
"""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from tests.support import FAST_RETRY, TOKEN
from truto_stream import Client

from .rawhttp import Reply, raw_server

pytestmark = pytest.mark.anyio

ACCOUNTS = 16
#: What the caller does with each batch, blocking the loop (as CPU-bound work does).
CALLER_WORK_S = 0.05


async def test_every_worker_gets_its_unit_before_the_callers_work_runs() -> None:
    arrivals: list[float] = []

    def route(path: str, query: str) -> Reply:
        arrivals.append(time.monotonic())
        body = orjson.dumps({"result": [{"id": "u1"}], "next_cursor": None})
        return 200, {"Content-Type": "application/json"}, body

    ids = [f"acc-{i}" for i in range(ACCOUNTS)]
    async with (
        raw_server(route) as url,
        Client(token=TOKEN, base_url=url, retry=FAST_RETRY, rate_limits=None) as client,
        client.sweep("usage-metering", "users", accounts=ids, concurrency=ACCOUNTS) as sweep,
    ):
        batches = 0
        async for _ in sweep.batches():
            batches += 1
            time.sleep(CALLER_WORK_S)  # noqa: ASYNC251 - the caller's work, on purpose
            await asyncio.sleep(0)
    assert batches == ACCOUNTS
    # Handed out one per loop turn, the units' requests spread over about one caller's
    # work per unit (0.8 s); handed out at once, they all leave before the second.
    spread = max(arrivals) - min(arrivals)
    assert spread < ACCOUNTS * CALLER_WORK_S / 3, f"requests spread over {spread:.3f} s"


async def test_the_query_is_encoded_once_for_all_accounts_not_per_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each unit's request comes from one template (issue #15, one-page accounts): the
    parameters are encoded once per sweep, and each account's id spliced in as encoding
    the whole query would have it. (A plan gives each unit a parameters dict of its own:
    the first version keyed its templates by that dict's identity, and so built one per
    account.)"""
    from truto_stream import _fetch
    from truto_stream._query import encode_query

    encoded: list[object] = []

    def counting(params: object) -> str:  # the real encoding, counted
        encoded.append(params)
        return encode_query(params)  # type: ignore[arg-type]

    monkeypatch.setattr(_fetch, "encode_query", counting)
    queries: dict[str, str] = {}

    def route(path: str, query: str) -> Reply:
        account = dict(p.split("=", 1) for p in query.split("&"))["integrated_account_id"]
        queries[account] = query
        body = orjson.dumps({"result": [{"id": "u1"}], "next_cursor": None})
        return 200, {"Content-Type": "application/json"}, body

    ids = [f"acc {i}/é" for i in range(20)]  # ids that must be percent-encoded
    params = {"limit": 10, "truto_ignore_remote_data": True}
    async with (
        raw_server(route) as url,
        Client(token=TOKEN, base_url=url, retry=FAST_RETRY, rate_limits=None) as client,
        client.sweep("usage-metering", "users", accounts=ids, params=params) as sweep,
    ):
        records = [r async for _, batch in sweep.batches() for r in batch]
    assert len(records) == len(ids)
    expected = {
        encode_query({**params, "integrated_account_id": a}).split("integrated_account_id=")[1]
        for a in ids
    }
    assert set(queries) == expected
    for account, query in queries.items():
        assert query == f"limit=10&truto_ignore_remote_data=true&integrated_account_id={account}"
    assert len(encoded) == 1, encoded
