"""Pure pieces: cursor codec, data determinism, byte renderer == orjson.dumps, params."""

from __future__ import annotations

import base64
import datetime as dt
import tracemalloc

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig
from truto_stream.emulator.cursors import CursorCodec, CursorError
from truto_stream.emulator.data import mix32, mix64, unmix32, unmix64
from truto_stream.emulator.params import ParamError, parse_users_query
from truto_stream.emulator.render import UNIFIED_FIELDS, Renderer

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
