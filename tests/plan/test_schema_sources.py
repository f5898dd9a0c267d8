"""Where a plan's page sizes come from when Truto's query schema is missing or odd.

A small aiohttp server stands in for Truto where the emulator never misbehaves: it lists
accounts and answers the meta route with 404, 500, a body that is not a schema, or a
schema of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from tests.support import FAST_RETRY, TOKEN
from truto_stream import AccountQuery, Client

pytestmark = pytest.mark.anyio

Meta = Callable[[str], web.Response]


@asynccontextmanager
async def truto(meta: Meta) -> AsyncIterator[tuple[str, list[str]]]:
    """A server with one account per integration; ``meta(integration)`` answers the schema."""
    seen: list[str] = []
    accounts = [
        {"id": f"acc-{name}", "tenant_id": "t", "status": "active",
         "integration": {"name": name}}
        for name in ("claude", "openai", "cursor")
    ]  # fmt: skip

    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"result": accounts, "next_cursor": None})

    async def schema(request: web.Request) -> web.Response:
        seen.append(request.match_info["integration"])
        return meta(request.match_info["integration"])

    app = web.Application()
    app.router.add_get("/integrated-account", listing)
    app.router.add_get("/unified/usage-metering/users/{integration}/meta/list", schema)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def plan_against(meta: Meta, **kwargs: Any) -> tuple[Any, list[str]]:
    async with truto(meta) as (url, seen):
        async with Client(token=TOKEN, base_url=url, retry=FAST_RETRY) as client:
            plan = await client.plan("usage-metering", "users", accounts=AccountQuery(), **kwargs)
    return plan, seen


def limits(plan: Any) -> dict[str, Any]:
    return {p.integration: (p.page.limit, p.schema) for p in plan.integrations.values()}


async def test_no_schema_served_falls_back_to_the_table() -> None:
    plan, seen = await plan_against(lambda _: web.json_response({"statusCode": 404}, status=404))
    table = "built-in table (no query schema served)"
    assert limits(plan) == {
        "claude": (1000, table),
        "openai": (100, table),
        "cursor": (None, table),
    }
    assert seen == ["claude", "openai", "cursor"]  # once per integration


async def test_a_failing_or_odd_schema_falls_back_too() -> None:
    plan, seen = await plan_against(lambda _: web.json_response({"statusCode": 500}, status=500))
    assert limits(plan)["claude"] == (1000, "built-in table (query schema failed: ServerError)")
    assert len(seen) > 3  # 500s are retried, within the retry policy
    plan, _ = await plan_against(lambda _: web.json_response({"query_schema": ["nope"]}))
    assert limits(plan)["openai"] == (100, "built-in table (query schema unusable)")
    plan, _ = await plan_against(lambda _: web.Response(text="<html>", content_type="text/html"))
    assert limits(plan)["cursor"] == (None, "built-in table (query schema failed: MalformedBody)")


async def test_the_served_schema_wins_over_the_table() -> None:
    def meta(integration: str) -> web.Response:
        props: dict[str, Any] = {"limit": {"type": "integer", "minimum": 1, "maximum": 250}}
        if integration == "cursor":
            props["date"] = {"type": "string", "format": "date"}
        return web.json_response({"query_schema": {"type": "object", "properties": props}})

    plan, _ = await plan_against(meta, dates=["2026-07-01", "2026-07-02"], today="2026-07-15")
    schema = "Truto's query schema"
    assert limits(plan) == {"claude": (250, schema), "openai": (250, schema),
                            "cursor": (250, schema)}  # fmt: skip
    days = {p.integration: len(p.dates) for p in plan.integrations.values()}
    assert days == {"claude": 1, "openai": 1, "cursor": 2}  # dates as the server says
