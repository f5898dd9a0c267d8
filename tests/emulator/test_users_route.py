"""Contract tests of GET /unified/usage-metering/users over real HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from tests.emulator.helpers import USERS, get, users_page, walk
from tests.support import EmulatorFactory
from truto_stream.emulator import AccountSpec, Emulator, EmulatorConfig
from truto_stream.emulator.data import Dataset

pytestmark = pytest.mark.anyio


def _account(emu: Emulator, integration: str, users: int | None = None) -> str:
    for acc in emu.dataset.accounts:
        if acc.integration == integration and (users is None or acc.user_count == users):
            return acc.id
    raise AssertionError(integration)


async def test_missing_account_id_is_400_with_insight(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    reply = await get(emu, USERS)
    assert reply.status == 400
    body = reply.json()
    assert body["statusCode"] == 400
    assert body["error"] == "Bad Request"
    assert isinstance(body["message"], str)
    insight = body["truto_error_insight"]["missing_required_query_parameters"]
    assert insight["value"] == ["integrated_account_id"]


async def test_unknown_account_is_404(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    reply = await users_page(emu, "00000000-0000-4000-8000-000000000000")
    assert reply.status == 404
    assert reply.json()["statusCode"] == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dGVzdA==", "Bearer "])
async def test_auth_required(emulator: EmulatorFactory, header: str | None) -> None:
    import aiohttp

    emu = await emulator()
    acc = emu.dataset.accounts[0].id
    headers = {} if header is None else {"Authorization": header}
    async with (
        aiohttp.ClientSession() as s,
        s.get(emu.url + USERS, params={"integrated_account_id": acc}, headers=headers) as r,
    ):
        body = orjson.loads(await r.read())
        assert r.status == 401
    assert body["statusCode"] == 401
    assert body["error"] == "Unauthorized"
    assert "message" in body
    assert "truto_is_remote_error" not in body


async def test_several_tokens_accepted(emulator: EmulatorFactory) -> None:
    emu = await emulator(tokens=("a", "b"))
    acc = emu.dataset.accounts[0].id
    for token in ("a", "b"):
        reply = await get(emu, USERS, {"integrated_account_id": acc}, token=token)
        assert reply.status == 200
    assert (await get(emu, USERS, {"integrated_account_id": acc}, token="c")).status == 401


async def test_envelope_shape_and_headers(emulator: EmulatorFactory) -> None:
    emu = await emulator(account_limit=50, rate_window_s=10.0)
    acc = _account(emu, "claude")
    reply = await users_page(emu, acc, limit="5")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert list(body) == ["result", "next_cursor", "prev_cursor", "result_count"]
    assert body["result_count"] == len(body["result"]) == 5
    assert body["prev_cursor"] is None
    assert isinstance(body["next_cursor"], str)
    assert reply.headers["ratelimit-limit"] == "50;w=10"
    assert reply.headers["ratelimit-remaining"] == "49"
    assert int(reply.headers["ratelimit-reset"]) <= 10


async def test_records_equal_dataset(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    for acc in emu.dataset.accounts:
        body = (await users_page(emu, acc.id, truto_ignore_limit="true")).json()
        expected = list(emu.dataset.users(acc.id, 0, 100))
        assert body["result"] == expected[: len(body["result"])]


@pytest.mark.parametrize(
    ("integration", "present", "absent"),
    [
        ("claude", {"last_active_at"}, {"created_at", "roles"}),
        ("openai", {"created_at", "roles"}, {"last_active_at"}),
        ("cursor", {"roles"}, {"created_at", "last_active_at"}),
    ],
)
async def test_field_support_per_integration(
    emulator: EmulatorFactory, integration: str, present: set[str], absent: set[str]
) -> None:
    emu = await emulator(users=(20, 20))
    body = (await users_page(emu, _account(emu, integration))).json()
    unsupported = {"first_name", "last_name", "organization", "spend_limit", "updated_at"}
    for user in body["result"]:
        keys = set(user)
        assert {"id", "name", "emails", "status", "remote_data"} <= keys
        assert present <= keys
        assert not (absent | unsupported) & keys
        assert user["status"] in {"active", "inactive", "deleted", "invited"}
        assert user["emails"][0]["is_primary"] is True


async def test_paging_10000_users_each_exactly_once(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts_per_integration=1, users=(10_000, 10_000))
    acc = _account(emu, "claude")
    records = await walk(emu, acc, limit="1000", truto_ignore_remote_data="true")
    ids = [r["id"] for r in records]
    assert len(ids) == 10_000
    assert len(set(ids)) == 10_000
    assert ids == list(emu.dataset.user_ids(acc))


@pytest.mark.parametrize(("integration", "limit"), [("claude", "7"), ("openai", "13")])
async def test_walk_matches_dataset(
    emulator: EmulatorFactory, integration: str, limit: str
) -> None:
    emu = await emulator(users=(95, 95))
    acc = _account(emu, integration)
    records = await walk(emu, acc, limit=limit)
    assert records == list(emu.dataset.users(acc))


async def test_cursor_integration_returns_whole_team(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(3000, 3000))
    acc = _account(emu, "cursor")
    body = (await users_page(emu, acc, limit="10")).json()
    assert body["result_count"] == 3000
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    ("integration", "limit", "ok"),
    [
        ("claude", "1", True),
        ("claude", "1000", True),
        ("claude", "1001", False),
        ("claude", "0", False),
        ("claude", "abc", False),
        ("openai", "100", True),
        ("openai", "101", False),
        ("openai", "0", False),
        ("openai", "-5", False),
    ],
)
async def test_limit_validation(
    emulator: EmulatorFactory, integration: str, limit: str, ok: bool
) -> None:
    emu = await emulator(users=(200, 200))
    reply = await users_page(emu, _account(emu, integration), limit=limit)
    assert reply.status == (200 if ok else 400)
    if ok:
        assert reply.json()["result_count"] == min(int(limit), 200)
    else:
        assert reply.json()["statusCode"] == 400


async def test_default_limit_and_ignore_limit(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(250, 250))
    for integration in ("claude", "openai"):
        acc = _account(emu, integration)
        assert (await users_page(emu, acc)).json()["result_count"] == 100
        ignored = await users_page(emu, acc, limit="5", truto_ignore_limit="true")
        assert ignored.json()["result_count"] == 100


@pytest.mark.parametrize("date", ["2026-13-01", "yesterday", "2026-1-1", "2026-02-30"])
async def test_claude_bad_date_is_400(emulator: EmulatorFactory, date: str) -> None:
    emu = await emulator()
    reply = await users_page(emu, _account(emu, "claude"), date=date)
    assert reply.status == 400


async def test_claude_date_default_is_three_days_ago(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    acc = _account(emu, "claude")
    assert (await users_page(emu, acc, date="2026-05-01")).status == 200
    debug = (await users_page(emu, acc, truto_response_format="debug")).json()
    expected = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)).isoformat()
    assert f"date={expected}" in debug["debug"]["requestUrl"]


async def test_tampered_and_foreign_cursor_is_400(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(50, 50))
    a, b = [acc.id for acc in emu.dataset.accounts if acc.integration == "claude"][:2]
    cursor = (await users_page(emu, a, limit="10")).json()["next_cursor"]
    assert (await users_page(emu, a, limit="10", next_cursor=cursor)).status == 200
    assert (await users_page(emu, b, limit="10", next_cursor=cursor)).status == 400
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    assert (await users_page(emu, a, next_cursor=tampered)).status == 400
    assert (await users_page(emu, a, next_cursor="not a cursor!")).status == 400


async def test_key_by(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    acc = _account(emu, "openai")
    body = (await users_page(emu, acc, limit="10", truto_key_by="id")).json()
    assert isinstance(body["result"], dict)
    expected = list(emu.dataset.users(acc, 0, 10))
    assert body["result"] == {u["id"]: u for u in expected}
    assert body["result_count"] == 10


async def test_ignore_remote_data(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    body = (await users_page(emu, _account(emu, "cursor"), truto_ignore_remote_data="true")).json()
    assert body["result"]
    assert all("remote_data" not in u for u in body["result"])


@pytest.mark.parametrize(
    "params",
    [
        [("truto_exclude_fields[]", "emails"), ("truto_exclude_fields[]", "status")],
        [("truto_exclude_fields", "emails,status")],
        [("truto_exclude_fields%5B%5D", "emails"), ("truto_exclude_fields%5B%5D", "status")],
    ],
)
async def test_exclude_fields(emulator: EmulatorFactory, params: list[tuple[str, str]]) -> None:
    import aiohttp
    from yarl import URL

    emu = await emulator()
    acc = _account(emu, "openai")
    query = "&".join(f"{k}={v}" for k, v in [("integrated_account_id", acc), *params])
    url = URL(f"{emu.url}{USERS}?{query}", encoded=True)
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer test-token"}) as s,
        s.get(url) as r,
    ):
        assert r.status == 200
        body = orjson.loads(await r.read())
    for user in body["result"]:
        assert "emails" not in user
        assert "status" not in user
        assert "id" in user


async def test_formats_normalized_equals_unified(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    acc = _account(emu, "claude")
    unified = (await users_page(emu, acc, limit="5")).json()
    normalized = (await users_page(emu, acc, limit="5", truto_response_format="normalized")).json()
    assert normalized == unified


async def test_unknown_format_is_400(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    assert (
        await users_page(emu, _account(emu, "claude"), truto_response_format="xml")
    ).status == 400


@pytest.mark.parametrize("integration", ["claude", "openai", "cursor"])
async def test_raw_format_is_vendor_page(emulator: EmulatorFactory, integration: str) -> None:
    emu = await emulator(users=(30, 30))
    acc = _account(emu, integration)
    ds = emu.dataset
    body = (await users_page(emu, acc, limit="10", truto_response_format="raw")).json()
    remote = [ds.remote_user(acc, i) for i in range(30)]
    if integration == "claude":
        assert body["data"] == remote[:10]
        assert isinstance(body["next_page"], str)
        # Claude's page token is accepted back through the unified ``cursor`` param.
        nxt = await users_page(
            emu, acc, limit="10", truto_response_format="raw", cursor=body["next_page"]
        )
        assert nxt.json()["data"] == remote[10:20]
    elif integration == "openai":
        assert body["object"] == "list"
        assert body["data"] == remote[:10]
        assert body["has_more"] is True
        assert body["first_id"] == remote[0]["id"]
        assert body["last_id"] == remote[9]["id"]
        nxt = await users_page(
            emu, acc, limit="10", truto_response_format="raw", cursor=body["last_id"]
        )
        assert nxt.json()["data"] == remote[10:20]
    else:
        assert body == {"teamMembers": remote}


async def test_debug_format(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(30, 30))
    acc = _account(emu, "openai")
    unified = (await users_page(emu, acc, limit="10")).json()
    body = (await users_page(emu, acc, limit="10", truto_response_format="debug")).json()
    assert body["result"] == unified
    dbg = body["debug"]
    assert set(dbg) == {
        "requestUrl", "requestOptions", "data", "responseHeaders",
        "nextCursor", "isLooping", "isEmptyResult", "resultCount",
    }  # fmt: skip
    assert dbg["requestUrl"].startswith("https://api.openai.com/v1/organization/users")
    assert dbg["data"]["data"] == [u["remote_data"] for u in unified["result"]]
    assert dbg["nextCursor"] == unified["next_cursor"]
    assert dbg["isLooping"] is False
    assert dbg["isEmptyResult"] is False
    assert dbg["resultCount"] == 10


async def test_remote_query_is_passed_to_vendor(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    acc = _account(emu, "claude")
    body = (
        await get(
            emu,
            USERS,
            [
                ("integrated_account_id", acc),
                ("truto_response_format", "debug"),
                ("remote_query[order]", "desc"),
            ],
        )
    ).json()
    assert "order=desc" in body["debug"]["requestUrl"]


@pytest.mark.parametrize("integration", ["claude", "openai"])
async def test_nested_remote_query_keeps_its_brackets(
    emulator: EmulatorFactory, integration: str
) -> None:
    emu = await emulator()
    acc = _account(emu, integration)
    params = [
        ("integrated_account_id", acc),
        ("truto_response_format", "debug"),
        ("remote_query[team][id]", "42"),
        ("remote_query[ids][]", "1"),
        ("remote_query[ids][]", "2"),
        ("remote_query[a][b][c]", "x y"),
    ]
    url = (await get(emu, USERS, params)).json()["debug"]["requestUrl"]
    query = url.split("?", 1)[1].split("&")
    assert "team[id]=42" in query
    assert [p for p in query if p.startswith("ids")] == ["ids[]=1", "ids[]=2"]
    assert "a[b][c]=x+y" in query
    assert "%5D" not in url


async def test_needs_reauth_and_blocked(emulator: EmulatorFactory) -> None:
    emu = await emulator(needs_reauth_accounts=1, blocked_accounts=1, connecting_accounts=1)
    accounts = emu.dataset.accounts
    reauth = next(a for a in accounts if a.status == "needs_reauth")
    blocked = next(a for a in accounts if a.is_blocked)
    r = await users_page(emu, reauth.id)
    assert r.status == 401
    body: dict[str, Any] = r.json()
    assert body["truto_is_remote_error"] is True
    assert "remote_error" in body["truto_error_insight"]
    assert "raw_response" in body
    r = await users_page(emu, blocked.id)
    assert r.status == 503
    assert r.json()["statusCode"] == 503


def test_dataset_from_config_matches_other_process() -> None:
    config = EmulatorConfig(seed=5, users=(1, 50))
    a, b = Dataset(config), Dataset(config)
    assert [x.id for x in a.accounts] == [x.id for x in b.accounts]
    acc = a.accounts[0].id
    assert list(a.user_ids(acc)) == list(b.user_ids(acc))


async def test_huge_single_page_is_sent_chunked(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(2500, 2500), large_page_records=1000)
    acc = _account(emu, "cursor")
    reply = await users_page(emu, acc)
    assert reply.headers.get("Transfer-Encoding") == "chunked"
    body = reply.json()
    assert list(body) == ["result", "next_cursor", "prev_cursor", "result_count"]
    assert body["result"] == list(emu.dataset.users(acc))
    assert body["result_count"] == 2500
    small = await users_page(emu, _account(emu, "claude"))
    assert "Content-Length" in small.headers


@pytest.mark.parametrize("integration", ["claude", "openai", "cursor"])
async def test_get_one_user(emulator: EmulatorFactory, integration: str) -> None:
    emu = await emulator(users=(20, 20))
    acc = _account(emu, integration)
    user = emu.dataset.user(acc, 7)
    reply = await get(emu, f"{USERS}/{user['id']}", {"integrated_account_id": acc})
    assert reply.status == 200
    assert reply.json() == user
    assert "ratelimit-limit" in reply.headers
    raw = await get(
        emu, f"{USERS}/{user['id']}", {"integrated_account_id": acc, "truto_response_format": "raw"}
    )
    assert raw.json() == user["remote_data"]
    trimmed = await get(
        emu,
        f"{USERS}/{user['id']}",
        {"integrated_account_id": acc, "truto_ignore_remote_data": "true"},
    )
    assert "remote_data" not in trimmed.json()
    other = _account(emu, "openai" if integration != "openai" else "claude")
    assert (await get(emu, f"{USERS}/{user['id']}", {"integrated_account_id": other})).status == 404
    assert (await get(emu, f"{USERS}/nope", {"integrated_account_id": acc})).status == 404
    assert (await get(emu, f"{USERS}/{user['id']}")).status == 400


# ---- dates ---------------------------------------------------------------------------------

TODAY = "2026-07-15"


async def test_claude_records_depend_on_the_date(emulator: EmulatorFactory) -> None:
    emu = await emulator(today=TODAY, accounts_per_integration=1, users=(2500, 2500))
    acc = _account(emu, "claude")
    ds = emu.dataset
    one = await walk(emu, acc, limit="1000", date="2026-07-10")
    two = await walk(emu, acc, limit="1000", date="2026-07-11")
    assert one == list(ds.users(acc, date="2026-07-10"))
    assert two == list(ds.users(acc, date="2026-07-11"))
    assert [u["id"] for u in one] == [u["id"] for u in two]
    assert sum(a != b for a, b in zip(one, two, strict=True)) > 2000
    # Stable across page sizes and reruns.
    assert await walk(emu, acc, limit="7", date="2026-07-10") == one
    # Every format carries the day's data.
    raw = await users_page(emu, acc, limit="5", date="2026-07-11", truto_response_format="raw")
    assert raw.json()["data"] == [u["remote_data"] for u in two[:5]]
    user = await get(emu, f"{USERS}/{two[3]['id']}", {"integrated_account_id": acc,
                                                       "date": "2026-07-11"})  # fmt: skip
    assert user.json() == two[3]


async def test_claude_stream_carries_the_date(emulator: EmulatorFactory) -> None:
    emu = await emulator(today=TODAY, users=(300, 300), stream_framing="ndjson")
    acc = _account(emu, "claude")
    body = (await users_page(emu, acc, date="2026-07-02", truto_response_format="stream")).body
    assert [orjson.loads(x) for x in body.splitlines()] == list(
        emu.dataset.users(acc, date="2026-07-02")
    )


async def test_default_date_follows_the_configured_today(emulator: EmulatorFactory) -> None:
    emu = await emulator(today="2026-03-10", users=(40, 40))
    acc = _account(emu, "claude")
    debug = (await users_page(emu, acc, truto_response_format="debug")).json()
    assert "date=2026-03-07" in debug["debug"]["requestUrl"]
    assert debug["result"]["result"] == list(emu.dataset.users(acc, date="2026-03-07"))
    assert debug["result"]["result"] == list(emu.dataset.users(acc))


@pytest.mark.parametrize("date", ["2026-07-16", "2030-01-01", "2026-13-01", "2026-7-1", "x"])
async def test_future_or_malformed_date_is_a_remote_400(
    emulator: EmulatorFactory, date: str
) -> None:
    emu = await emulator(today=TODAY)
    acc = _account(emu, "claude")
    reply = await users_page(emu, acc, date=date)
    assert reply.status == 400
    body = reply.json()
    assert (body["statusCode"], body["error"]) == (400, "Bad Request")
    assert date in body["message"]
    assert body["truto_is_remote_error"] is True
    assert body["raw_response"]["error"]["type"] == "invalid_request_error"
    assert body["truto_error_insight"]["remote_error"]["value"] == body["raw_response"]
    assert "ratelimit-limit" in reply.headers
    assert (await users_page(emu, acc, date=TODAY)).status == 200  # today itself is fine


@pytest.mark.parametrize("integration", ["openai", "cursor"])
async def test_date_is_ignored_where_the_integration_has_none(
    emulator: EmulatorFactory, integration: str
) -> None:
    emu = await emulator(today=TODAY, users=(30, 30))
    acc = _account(emu, integration)
    reply = await users_page(emu, acc, date="2099-01-01")
    assert reply.status == 200
    assert reply.json()["result"] == list(emu.dataset.users(acc))


async def test_stats_count_requests_per_account_date_and_limit(emulator: EmulatorFactory) -> None:
    accounts = (
        AccountSpec(integration="claude", tenant_id="t", users=2500, id="c"),
        AccountSpec(integration="openai", tenant_id="t", users=250, id="o"),
        AccountSpec(integration="cursor", tenant_id="t", users=300, id="u"),
    )
    emu = await emulator(today=TODAY, accounts=accounts)
    for date in ("2026-07-01", "2026-07-02"):
        await walk(emu, "c", limit="1000", date=date)
    await walk(emu, "o", limit="100")
    await walk(emu, "u")
    await users_page(emu, "o", limit="101")  # refused: not counted as a query
    requests = emu.stats_snapshot()["requests"]
    assert requests["by_query"] == [
        {"integrated_account_id": "c", "integration": "claude", "date": "2026-07-01",
         "limit": 1000, "requests": 3},
        {"integrated_account_id": "c", "integration": "claude", "date": "2026-07-02",
         "limit": 1000, "requests": 3},
        {"integrated_account_id": "o", "integration": "openai", "date": None,
         "limit": 100, "requests": 3},
        {"integrated_account_id": "u", "integration": "cursor", "date": None,
         "limit": None, "requests": 1},
    ]  # fmt: skip
    assert requests["by_integration"] == {"claude": 6, "openai": 3, "cursor": 1}
    assert requests["by_account"] == {"c": 6, "o": 4, "u": 1}
