"""GET /unified/{model}/{resource}[/{integration}]/meta/list: each integration's query schema."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.helpers import get, users_page
from tests.support import EmulatorFactory
from truto_stream.emulator import Emulator

pytestmark = pytest.mark.anyio

META = "/unified/usage-metering/users/meta/list"
TODAY = "2026-07-15"

#: What the seed document says each integration's users list takes.
EXPECTED: dict[str, dict[str, Any]] = {
    "claude": {
        "date": {"type": "string", "format": "date", "default": "2026-07-12"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        "cursor": {"type": "string"},
    },
    "openai": {
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100},
        "cursor": {"type": "string"},
    },
    "cursor": {},
}
FIELDS = {
    "claude": ["id", "name", "emails", "status", "last_active_at", "remote_data"],
    "openai": ["id", "name", "emails", "status", "created_at", "roles", "remote_data"],
    "cursor": ["id", "name", "emails", "status", "roles", "remote_data"],
}
KEYS = {
    "method", "schema", "documentation_link", "response_mapping", "query_schema",
    "request_body_schema", "default_query", "default_body",
}  # fmt: skip


def _account(emu: Emulator, integration: str, status: str = "active") -> str:
    return next(
        a.id
        for a in emu.dataset.accounts
        if a.integration == integration and a.status == status and not a.is_blocked
    )


def _params(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The query parameters without their descriptions (checked apart)."""
    props = schema["properties"]
    assert all(isinstance(p["description"], str) and p["description"] for p in props.values())
    return {k: {f: v for f, v in p.items() if f != "description"} for k, p in props.items()}


@pytest.mark.parametrize("integration", ["claude", "openai", "cursor"])
async def test_integration_meta_is_the_seed_schema(
    emulator: EmulatorFactory, integration: str
) -> None:
    emu = await emulator(today=TODAY)
    reply = await get(emu, f"/unified/usage-metering/users/{integration}/meta/list")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert set(body) == KEYS | {"response_schema"}
    assert body["method"] == "list"
    assert body["query_schema"]["type"] == "object"
    assert _params(body["query_schema"]) == EXPECTED[integration]
    assert list(body["schema"]["properties"]) == FIELDS[integration]
    assert body["response_schema"] == body["schema"]
    assert body["documentation_link"].startswith("https://")
    assert "ratelimit-limit" in reply.headers


@pytest.mark.parametrize("integration", ["claude", "openai", "cursor"])
async def test_account_meta_is_its_integrations_schema(
    emulator: EmulatorFactory, integration: str
) -> None:
    emu = await emulator(today=TODAY, account_limit=50)
    acc = _account(emu, integration)
    reply = await get(emu, META, {"integrated_account_id": acc})
    assert reply.status == 200
    body = reply.json()
    assert set(body) == KEYS
    per_integration = await get(emu, f"/unified/usage-metering/users/{integration}/meta/list")
    assert body["query_schema"] == per_integration.json()["query_schema"]
    assert reply.headers["ratelimit-limit"] == "50;w=10"
    assert reply.headers["ratelimit-remaining"] == "49"
    assert emu.stats_snapshot()["requests"]["by_account"] == {acc: 1}


@pytest.mark.parametrize("integration", ["claude", "openai"])
async def test_schema_limits_are_the_routes_limits(
    emulator: EmulatorFactory, integration: str
) -> None:
    emu = await emulator(today=TODAY, users=(5, 5))
    meta = (await get(emu, f"/unified/usage-metering/users/{integration}/meta/list")).json()
    limit = meta["query_schema"]["properties"]["limit"]
    acc = _account(emu, integration)
    assert (await users_page(emu, acc, limit=str(limit["maximum"]))).status == 200
    assert (await users_page(emu, acc, limit=str(limit["maximum"] + 1))).status == 400
    assert (await users_page(emu, acc, limit=str(limit["minimum"] - 1))).status == 400


async def test_meta_date_default_follows_today(emulator: EmulatorFactory) -> None:
    emu = await emulator(today="2026-03-01")
    meta = (await get(emu, "/unified/usage-metering/users/claude/meta/list")).json()
    assert meta["query_schema"]["properties"]["date"]["default"] == "2026-02-26"


async def test_account_meta_ignores_the_account_status(emulator: EmulatorFactory) -> None:
    emu = await emulator(needs_reauth_accounts=1, blocked_accounts=1)
    reauth = next(a.id for a in emu.dataset.accounts if a.status == "needs_reauth")
    blocked = next(a.id for a in emu.dataset.accounts if a.is_blocked)
    for acc in (reauth, blocked):
        assert (await get(emu, META, {"integrated_account_id": acc})).status == 200


async def test_meta_errors_are_trutos(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    acc = _account(emu, "claude")
    cases: list[tuple[str, dict[str, str], str | None, int]] = [
        (META, {"integrated_account_id": acc}, None, 401),
        (META, {"integrated_account_id": acc}, "wrong", 401),
        ("/unified/usage-metering/users/claude/meta/list", {}, None, 401),
        (META, {}, "test-token", 400),
        (META, {"integrated_account_id": "nope"}, "test-token", 404),
        ("/unified/crm/contacts/meta/list", {"integrated_account_id": acc}, "test-token", 404),
        ("/unified/crm/contacts/meta/list", {}, "test-token", 404),
        ("/unified/usage-metering/users/meta/delete", {"integrated_account_id": acc},
         "test-token", 404),
        ("/unified/usage-metering/users/hubspot/meta/list", {}, "test-token", 404),
        ("/unified/crm/contacts/claude/meta/list", {}, "test-token", 404),
    ]  # fmt: skip
    for path, params, token, status in cases:
        reply = await get(emu, path, params, token=token)
        assert reply.status == status, (path, params, token)
        body = reply.json()
        assert body["statusCode"] == status
        assert isinstance(body["error"], str)
        assert isinstance(body["message"], str)
    missing = (await get(emu, META)).json()["truto_error_insight"]
    assert missing["missing_required_query_parameters"]["value"] == ["integrated_account_id"]


async def test_meta_counts_against_the_rate_limits(emulator: EmulatorFactory) -> None:
    emu = await emulator(token_limit=2, account_limit=1, rate_window_s=10.0)
    acc = _account(emu, "openai")
    assert (await get(emu, META, {"integrated_account_id": acc})).status == 200
    account_limited = await get(emu, META, {"integrated_account_id": acc})
    assert account_limited.status == 429
    assert account_limited.json()["error"] == "Too Many Requests"
    token_limited = await get(emu, "/unified/usage-metering/users/openai/meta/list")
    assert token_limited.status == 429
    assert "Retry-After" in token_limited.headers
    assert (await users_page(emu, acc)).status == 429
    assert emu.stats_snapshot()["rate_limited"]["truto"] == 3  # one budget for all routes
