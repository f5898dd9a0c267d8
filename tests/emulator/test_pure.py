"""Pure pieces: cursor codec, data determinism, byte renderer == orjson.dumps, params."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import tracemalloc

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig
from truto_stream.emulator.cursors import CursorCodec, CursorError
from truto_stream.emulator.data import mix32, mix64, unmix32, unmix64
from truto_stream.emulator.params import DateError, ParamError, parse_users_query
from truto_stream.emulator.render import UNIFIED_FIELDS, PageCache, Renderer

# ---- cursors ------------------------------------------------------------------------------


@given(
    account=st.text(min_size=1, max_size=40),
    offset=st.integers(0, 10**9),
    page=st.integers(0, 10**6),
)
def test_cursor_round_trip(account: str, offset: int, page: int) -> None:
    codec = CursorCodec(b"s")
    token = codec.encode(account, offset, page)
    assert token.isascii()
    assert "=" not in token
    state = codec.decode(token, account)
    assert (state.account_id, state.offset, state.page) == (account, offset, page)
    with pytest.raises(CursorError):
        codec.decode(token, account + "x")
    with pytest.raises(CursorError):
        CursorCodec(b"other").decode(token, account)


@given(token=st.text(max_size=80))
def test_cursor_garbage_is_rejected(token: str) -> None:
    with pytest.raises(CursorError):
        CursorCodec(b"s").decode(token, "acc")


def test_cursor_tampering_is_rejected() -> None:
    codec = CursorCodec(b"s")
    token = codec.encode("acc", 100, 1)
    raw = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw["o"] = 0
    forged = base64.urlsafe_b64encode(orjson.dumps(raw)).decode().rstrip("=")
    with pytest.raises(CursorError):
        codec.decode(forged, "acc")


# ---- data ---------------------------------------------------------------------------------


@given(x=st.integers(0, 2**64 - 1))
def test_mix64_is_a_bijection(x: int) -> None:
    assert unmix64(mix64(x)) == x
    assert unmix32(mix32(x & 0xFFFFFFFF)) == x & 0xFFFFFFFF


def test_dataset_is_deterministic_and_seeded() -> None:
    a = Dataset(EmulatorConfig(seed=3))
    b = Dataset(EmulatorConfig(seed=3))
    c = Dataset(EmulatorConfig(seed=4))
    assert [x.id for x in a.accounts] == [x.id for x in b.accounts]
    assert [x.id for x in a.accounts] != [x.id for x in c.accounts]
    acc = a.accounts[0].id
    assert [a.user(acc, i) for i in range(5)] == [b.user(acc, i) for i in range(5)]


def test_inventory_shape() -> None:
    ds = Dataset(
        EmulatorConfig(
            seed=1, accounts_per_integration=3, needs_reauth_accounts=1,
            connecting_accounts=1, blocked_accounts=1, tenants=2, users=(5, 9),
        )
    )  # fmt: skip
    assert len(ds.accounts) == 3 * 6
    for integration in ("claude", "openai", "cursor"):
        mine = [a for a in ds.accounts if a.integration == integration]
        assert sum(a.status == "active" and not a.is_blocked for a in mine) == 3
        assert sum(a.status == "needs_reauth" for a in mine) == 1
        assert sum(a.status == "connecting" for a in mine) == 1
        assert sum(a.is_blocked for a in mine) == 1
    assert len(ds.tenants) == 2
    assert all(5 <= a.user_count <= 9 for a in ds.accounts)
    assert len({a.id for a in ds.accounts}) == len(ds.accounts)
    for acc in ds.accounts:
        admin = acc.to_admin()
        dt.datetime.strptime(admin["created_at"], "%Y-%m-%d %H:%M:%S")
        assert admin["integration"]["name"] == acc.integration


def test_million_user_account_is_lazy() -> None:
    tracemalloc.start()
    ds = Dataset(
        EmulatorConfig(
            accounts=(AccountSpec(integration="claude", tenant_id="big", users=1_000_000),)
        )
    )
    acc = ds.accounts[0].id
    last = ds.user(acc, 999_999)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20_000_000  # slot tables only, nothing per user
    assert ds.index_of(acc, last["id"]) == 999_999
    with pytest.raises(IndexError):
        ds.user(acc, 1_000_000)


def test_user_ids_unique_in_a_large_account() -> None:
    ds = Dataset(
        EmulatorConfig(accounts=(AccountSpec(integration="openai", tenant_id="t", users=200_000),))
    )
    ids = list(ds.user_ids(ds.accounts[0].id))
    assert len(set(ids)) == 200_000


_FIELD_NAMES = ["id", "name", "emails", "status", "roles", "created_at", "last_active_at"]
_CACHE: dict[tuple[int, str], tuple[Dataset, Renderer]] = {}


def _built(seed: int, integration: str) -> tuple[Dataset, Renderer]:
    key = (seed, integration)
    if key not in _CACHE:
        ds = Dataset(
            EmulatorConfig(
                seed=seed,
                accounts=(AccountSpec(integration=integration, tenant_id="t", users=10**6),),
            )
        )
        _CACHE[key] = (ds, Renderer(ds))
    return _CACHE[key]


@settings(max_examples=80)
@given(
    seed=st.sampled_from([0, 1, 2**31 - 1]),
    integration=st.sampled_from(["claude", "openai", "cursor"]),
    i=st.integers(0, 10**6 - 1),
    excluded=st.sets(st.sampled_from([*_FIELD_NAMES, "remote_data"])),
)
def test_renderer_equals_orjson(seed: int, integration: str, i: int, excluded: set[str]) -> None:
    ds, renderer = _built(seed, integration)
    acc = ds.accounts[0]
    user = ds.user(acc.id, i)
    assert renderer.record(acc, i) == orjson.dumps(user)
    trimmed = {k: v for k, v in user.items() if k not in excluded}
    assert renderer.record(acc, i, frozenset(excluded)) == orjson.dumps(trimmed)
    assert renderer.remote_records(acc, i, i + 1) == orjson.dumps(user["remote_data"])
    assert list(user) == [name for name, _ in UNIFIED_FIELDS[integration]]
    assert ds.index_of(acc.id, user["id"]) == i


def test_records_batch_equals_per_record() -> None:
    ds = Dataset(EmulatorConfig(seed=9, users=(300, 300)))
    r = Renderer(ds)
    for acc in ds.accounts:
        joined = r.records(acc, 0, 300)
        assert orjson.loads(b"[" + joined + b"]") == list(ds.users(acc.id))
        nd = r.records(acc, 10, 20, sep="\n")
        assert [orjson.loads(x) for x in nd.split(b"\n")] == list(ds.users(acc.id, 10, 20))


def test_page_cache_put_without_evicting_keeps_what_fits() -> None:
    cache = PageCache(10)
    cache.put(("a",), b"aaaa")
    cache.put(("b",), b"bbbb", evict=False)
    cache.put(("c",), b"cccc", evict=False)  # no room beside a and b: not stored
    assert cache.get(("a",)) == b"aaaa"
    assert cache.get(("b",)) == b"bbbb"
    assert cache.get(("c",)) is None
    cache.put(("c",), b"cccc")  # evicting: the least recently used (a) goes
    assert cache.get(("a",)) is None
    assert [cache.get((k,)) for k in "bc"] == [b"bbbb", b"cccc"]


# ---- params -------------------------------------------------------------------------------


def test_params_defaults() -> None:
    q = parse_users_query("claude", [], today=dt.date(2026, 3, 10))
    assert (q.limit, q.date, q.response_format) == (100, "2026-03-07", "unified")
    assert parse_users_query("cursor", [("limit", "5")]).limit is None
    q = parse_users_query(
        "openai",
        [
            ("truto_exclude_fields[]", "a"),
            ("truto_exclude_fields[]", "b,c"),
            ("truto_exclude_fields", "d"),
            ("truto_ignore_remote_data", "true"),
            ("remote_query[x]", "1"),
            ("truto_key_by", "id"),
        ],
    )
    assert q.excluded == {"a", "b", "c", "d", "remote_data"}
    assert q.remote_query == {"x": "1"}
    assert q.key_by == "id"


@pytest.mark.parametrize(
    "items",
    [
        [("limit", "0")],
        [("limit", "101")],
        [("limit", "x")],
        [("truto_response_format", "csv")],
        [("truto_ignore_remote_data", "maybe")],
    ],
)
def test_params_rejects(items: list[tuple[str, str]]) -> None:
    with pytest.raises(ParamError):
        parse_users_query("openai", items)


def test_remote_query_nested_and_repeated_keys() -> None:
    q = parse_users_query(
        "openai",
        [
            ("remote_query[team][id]", "42"),
            ("remote_query[ids][]", "1"),
            ("remote_query[ids][]", "2"),
            ("remote_query[a][b][]", "z"),
            ("remote_query[]", "no name"),
            ("remote_query[x", "unclosed"),
            ("remote_query[x]y", "trailing"),
        ],
    )
    assert q.remote_query == {"team[id]": "42", "ids[]": ["1", "2"], "a[b][]": "z"}


# ---- date-dependent data ------------------------------------------------------------------

_DATES = st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2027, 12, 31)).map(
    dt.date.isoformat
)


@settings(max_examples=60)
@given(
    integration=st.sampled_from(["claude", "openai", "cursor"]),
    i=st.integers(0, 10**6 - 1),
    date=_DATES,
    excluded=st.sets(st.sampled_from([*_FIELD_NAMES, "remote_data"])),
)
def test_renderer_equals_orjson_on_any_date(
    integration: str, i: int, date: str, excluded: set[str]
) -> None:
    ds, renderer = _built(1, integration)
    acc = ds.accounts[0]
    user = ds.user(acc.id, i, date=date)
    trimmed = {k: v for k, v in user.items() if k not in excluded}
    assert renderer.record(acc, i, frozenset(excluded), date=date) == orjson.dumps(trimmed)
    assert renderer.remote_records(acc, i, i + 1, date=date) == orjson.dumps(user["remote_data"])
    assert ds.remote_user(acc.id, i, date=date) == user["remote_data"]


def _claude_ds(users: int = 2000, seed: int = 4) -> tuple[Dataset, str]:
    ds = Dataset(
        EmulatorConfig(
            seed=seed,
            today="2026-07-15",
            accounts=(AccountSpec(integration="claude", tenant_id="t", users=users),),
        )
    )
    return ds, ds.accounts[0].id


def test_claude_users_are_the_same_people_with_daily_activity() -> None:
    ds, acc = _claude_ds()
    days = [dt.date(2026, 7, 1) + dt.timedelta(days=k) for k in range(7)]
    by_day = {d: list(ds.users(acc, date=d.isoformat())) for d in days}
    first = by_day[days[0]]
    for d, users in by_day.items():
        # The same users every day: ids, names and e-mails do not move.
        assert [(u["id"], u["name"], u["emails"]) for u in users] == [
            (u["id"], u["name"], u["emails"]) for u in first
        ]
        for u in users:
            last = dt.date.fromisoformat(u["last_active_at"][:10])
            assert d - dt.timedelta(days=30) <= last <= d
            assert u["remote_data"]["last_activity_date"] == u["last_active_at"][:10]
            assert u["status"] in {"active", "inactive", "invited", "deleted"}
        seen_that_day = [u for u in users if u["last_active_at"].startswith(d.isoformat())]
        assert 0.35 < len(seen_that_day) / len(users) < 0.6  # ~80 % active x 60 % that day
        assert all(u["status"] == "active" for u in seen_that_day)
    # Consecutive days differ, user by user (status, metrics or last activity).
    for a, b in itertools.pairwise(days):
        changed = sum(x != y for x, y in zip(by_day[a], by_day[b], strict=True))
        assert changed > len(first) * 0.9
    statuses = [[u["status"] for u in by_day[d]] for d in days]
    assert statuses[0] != statuses[1]


def test_claude_day_is_stable_and_defaults_to_three_days_before_today() -> None:
    ds, acc = _claude_ds(300)
    again, _ = _claude_ds(300)
    assert list(ds.users(acc, date="2026-07-03")) == list(again.users(acc, date="2026-07-03"))
    assert ds.default_date() == "2026-07-12"
    assert list(ds.users(acc)) == list(ds.users(acc, date="2026-07-12"))
    assert ds.user(acc, 7) == ds.user(acc, 7, date="2026-07-12")
    other_seed, acc2 = _claude_ds(300, seed=5)
    assert list(ds.users(acc, date="2026-07-03")) != list(other_seed.users(acc2, date="2026-07-03"))


@pytest.mark.parametrize("integration", ["openai", "cursor"])
def test_integrations_without_date_ignore_it(integration: str) -> None:
    ds = Dataset(
        EmulatorConfig(accounts=(AccountSpec(integration=integration, tenant_id="t", users=50),))
    )
    acc = ds.accounts[0].id
    assert list(ds.users(acc, date="2026-01-02")) == list(ds.users(acc))


def test_params_date_against_today() -> None:
    today = dt.date(2026, 7, 15)
    assert parse_users_query("claude", [("date", "2026-07-15")], today=today).date == "2026-07-15"
    assert parse_users_query("claude", [], today=today).date == "2026-07-12"
    for bad in ("2026-07-16", "2027-01-01", "2026-13-01", "2026-02-30", "26-07-01", "today"):
        with pytest.raises(DateError):
            parse_users_query("claude", [("date", bad)], today=today)
    # Integrations without a date parameter never look at it.
    assert parse_users_query("openai", [("date", "nonsense")], today=today).date is None


def test_config_today_is_validated() -> None:
    assert EmulatorConfig(today="2026-07-15").default_date() == "2026-07-12"
    for bad in ("2026-7-15", "2026-02-30", "x"):
        with pytest.raises(ValueError, match="date"):
            EmulatorConfig(today=bad)
