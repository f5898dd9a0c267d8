"""Fault grammar (pure) and injected faults over real HTTP."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.emulator.helpers import USERS, get, users_page, walk
from tests.support import TOKEN, EmulatorFactory
from truto_stream.emulator import AccountSpec, Emulator
from truto_stream.emulator.faults import (
    FAULT_KINDS,
    FaultSpecError,
    choose_fault,
    parse_faults,
)

# ---- grammar ------------------------------------------------------------------------


def test_parse_examples() -> None:
    (r,) = parse_faults("500")
    assert (r.kind, r.arg, r.probability, r.first_page, r.last_page, r.times) == (
        "500", None, None, None, None, 1,
    )  # fmt: skip
    (r,) = parse_faults("cut:1200@#3-5x2")
    assert (r.kind, r.arg, r.first_page, r.last_page, r.times) == ("cut", 1200.0, 3, 5, 2)
    (r,) = parse_faults("remote429:0@0.05")
    assert (r.arg, r.probability, r.times) == (0.0, 0.05, 1)
    (r,) = parse_faults("stall:0.5@#2-x*")
    assert (r.arg, r.first_page, r.last_page, r.times) == (0.5, 2, None, None)
    (r,) = parse_faults("loop")
    assert (r.first_page, r.last_page) == (1, 1)
    (r,) = parse_faults("empty:3@#2")
    assert (r.first_page, r.last_page) == (2, 4)
    assert len(parse_faults("500@#1, 502@#2 ,504@#3  reset@#4")) == 4
    (r,) = parse_faults("echo:500@#2x3")
    assert (r.kind, r.arg, r.first_page, r.times) == ("echo", 500.0, 2, 3)
    assert [r.kind for r in parse_faults("remote500,remote502,remote504,echo")] == [
        "remote500", "remote502", "remote504", "echo",
    ]  # fmt: skip
    assert parse_faults("") == ()


@pytest.mark.parametrize(
    "spec",
    [
        "boom", "500@", "500@#", "500@1.5", "cut:x", "500x", "500@#5-3", "loop@@#1", "@#1",
        "echo:399", "echo:600", "echo:450.5", "remote503", "remote",
    ],
)  # fmt: skip
def test_parse_rejects(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_faults(spec)


def _arg(kind: str, value: int) -> int:
    return 400 + value % 200 if kind == "echo" else value  # echo's ARG is an HTTP status


_rules = st.tuples(
    st.sampled_from(FAULT_KINDS),
    st.one_of(st.none(), st.integers(0, 10_000)),
    st.one_of(
        st.none(),
        st.integers(0, 50).map(lambda p: f"#{p}"),
        st.tuples(st.integers(0, 50), st.integers(0, 50)).map(lambda t: f"#{min(t)}-{max(t)}"),
        st.integers(0, 100).map(lambda p: f"{p / 100}"),
    ),
    st.one_of(st.none(), st.integers(0, 5).map(str), st.just("*")),
).map(
    lambda t: (
        t[0]
        + (f":{_arg(t[0], t[1])}" if t[1] is not None else "")
        + (f"@{t[2]}" if t[2] is not None else "")
        + (f"x{t[3]}" if t[3] is not None else "")
    )
)


@given(specs=st.lists(_rules, min_size=1, max_size=5))
def test_parse_generated_specs(specs: list[str]) -> None:
    rules = parse_faults(",".join(specs))
    assert [r.spec for r in rules] == specs


@given(
    spec=st.lists(_rules, min_size=1, max_size=4).map(",".join),
    seed=st.integers(0, 2**32),
    page=st.integers(0, 100),
)
def test_decisions_are_pure_and_transient_faults_heal(spec: str, seed: int, page: int) -> None:
    rules = parse_faults(spec)
    first = [choose_fault(rules, seed, "acc", page, a) for a in range(12)]
    again = [choose_fault(rules, seed, "acc", page, a) for a in range(12)]
    assert first == again
    if all(r.times is not None and r.times <= 5 for r in rules):
        # After every finite TIMES has been used up only behaviours remain.
        late = choose_fault(rules, seed, "acc", page, 11)
        assert late is None or late.kind in ("loop", "empty")


def test_probability_is_roughly_right() -> None:
    rules = parse_faults("500@0.1")
    hits = sum(choose_fault(rules, 3, "acc", p, 0) is not None for p in range(5000))
    assert 350 < hits < 650


# ---- over HTTP --------------------------------------------------------------------------


def _one(emu_users: int = 500, **spec: Any) -> tuple[AccountSpec, ...]:
    return (AccountSpec(integration="claude", tenant_id="acme", users=emu_users, **spec),)


async def _try(emu: Emulator, acc: str, **params: str) -> tuple[int | str, bytes]:
    q = {"integrated_account_id": acc, **params}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
        try:
            async with s.get(emu.url + USERS, params=q) as r:
                return r.status, await r.read()
        except aiohttp.ClientPayloadError:
            return "payload-error", b""


def _is_json(body: bytes) -> bool:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", ["unified", "stream"])
@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        ("500", 500),
        ("502", 502),
        ("504", 504),
        ("remote429", 429),
        ("remote500", 500),
        ("remote502", 502),
        ("remote504", 504),
        ("echo", 400),
        ("echo:500", 500),
        ("cut", "payload-error"),
        ("reset", "payload-error"),
        ("cut:100", "payload-error"),
        ("malformed", "malformed"),
        ("stall:0.05", 200),
    ],
)
async def test_each_fault_then_healthy(
    emulator: EmulatorFactory, fmt: str, fault: str, outcome: int | str
) -> None:
    emu = await emulator(accounts=_one(faults=f"{fault}@#0x2"), remote_retry_after_s=7)
    acc = emu.dataset.accounts[0].id
    params = {"limit": "100", "truto_response_format": fmt}
    for _ in range(2):
        status, body = await _try(emu, acc, **params)
        if outcome == "malformed":
            assert status == 200
            assert not _is_json(body)
        else:
            assert status == outcome
    status, body = await _try(emu, acc, **params)
    assert status == 200
    assert _is_json(body)
    assert emu.stats_snapshot()["faults_injected"][fault.split(":")[0]] == 2


@pytest.mark.anyio
async def test_remote429_body(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=_one(faults="remote429:3@#0"))
    reply = await users_page(emu, emu.dataset.accounts[0].id)
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "3"
    body = reply.json()
    assert body["truto_is_remote_error"] is True
    assert "rate_limit_error" in body["truto_error_insight"]
    assert body["raw_response"]["error"]["type"] == "rate_limit_error"
    assert emu.stats_snapshot()["rate_limited"] == {"truto": 0, "remote": 1}


@pytest.mark.anyio
async def test_status_fault_bodies(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=_one(faults="502@#0"))
    reply = await users_page(emu, emu.dataset.accounts[0].id)
    assert reply.status == 502
    body = reply.json()
    assert (body["statusCode"], body["error"]) == (502, "Bad Gateway")


@pytest.mark.anyio
async def test_fault_on_later_page_only(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=_one(faults="500@#2"))
    acc = emu.dataset.accounts[0].id
    page0 = await users_page(emu, acc, limit="100")
    page1 = await users_page(emu, acc, limit="100", next_cursor=page0.json()["next_cursor"])
    assert page1.status == 200
    cursor2 = page1.json()["next_cursor"]
    assert (await users_page(emu, acc, limit="100", next_cursor=cursor2)).status == 500
    assert (await users_page(emu, acc, limit="100", next_cursor=cursor2)).status == 200


@pytest.mark.anyio
async def test_loop_returns_the_same_cursor(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=_one(faults="loop@#1"))
    acc = emu.dataset.accounts[0].id
    first = (await users_page(emu, acc, limit="100")).json()
    c1 = first["next_cursor"]
    seen = []
    for _ in range(4):
        page = (await users_page(emu, acc, limit="100", next_cursor=c1)).json()
        seen.append((page["next_cursor"], [u["id"] for u in page["result"]]))
    assert all(s == seen[0] for s in seen)
    assert seen[0][0] == c1
    dbg = (
        await users_page(emu, acc, limit="100", next_cursor=c1, truto_response_format="debug")
    ).json()
    assert dbg["debug"]["isLooping"] is True


@pytest.mark.anyio
async def test_empty_pages_carry_a_cursor_and_lose_nothing(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=_one(faults="empty:2@#1,empty@#5"))
    acc = emu.dataset.accounts[0].id
    page0 = (await users_page(emu, acc, limit="100")).json()
    page1 = (await users_page(emu, acc, limit="100", next_cursor=page0["next_cursor"])).json()
    assert page1["result"] == []
    assert page1["result_count"] == 0
    assert page1["next_cursor"]
    records = await walk(emu, acc, limit="100")
    assert [r["id"] for r in records] == list(emu.dataset.user_ids(acc))


@pytest.mark.anyio
async def test_probabilistic_faults_are_deterministic(emulator: EmulatorFactory) -> None:
    outcomes = []
    for _ in range(2):
        emu = await emulator(accounts=_one(2000, faults="500@0.3,502@0.2"), seed=42)
        acc = emu.dataset.accounts[0].id
        statuses = []
        cursor = None
        while True:
            params = {"limit": "100"}
            if cursor:
                params["next_cursor"] = cursor
            reply = await users_page(emu, acc, **params)
            statuses.append(reply.status)
            if reply.status == 200:
                cursor = reply.json()["next_cursor"]
                if cursor is None:
                    break
        outcomes.append(statuses)
    assert outcomes[0] == outcomes[1]
    assert {500, 502} & set(outcomes[0])


@pytest.mark.anyio
async def test_per_account_faults_override_global(emulator: EmulatorFactory) -> None:
    accounts = (
        AccountSpec(integration="openai", tenant_id="a", users=10),
        AccountSpec(integration="openai", tenant_id="a", users=10, faults=""),
        AccountSpec(integration="openai", tenant_id="a", users=10, faults="504@#0x*"),
    )
    emu = await emulator(accounts=accounts, faults="500@#0x*")
    ids = [a.id for a in emu.dataset.accounts]
    statuses = [(await users_page(emu, i)).status for i in ids]
    assert statuses == [500, 200, 504]


@pytest.mark.anyio
async def test_stream_page_framing_faults_use_cursor_page(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=_one(300, faults="502@#1"), stream_framing="page")
    acc = emu.dataset.accounts[0].id
    status, body = await _try(emu, acc, limit="100", truto_response_format="stream")
    assert status == 200
    cursor = orjson.loads(body)["next_cursor"]
    params = {"limit": "100", "truto_response_format": "stream", "next_cursor": cursor}
    assert (await _try(emu, acc, **params))[0] == 502
    assert (await _try(emu, acc, **params))[0] == 200


@pytest.mark.anyio
async def test_behaviour_and_transient_fault_on_one_page(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=_one(faults="500@#1,empty@#1"))
    acc = emu.dataset.accounts[0].id
    cursor = (await users_page(emu, acc, limit="100")).json()["next_cursor"]
    assert (await users_page(emu, acc, limit="100", next_cursor=cursor)).status == 500
    retried = (await users_page(emu, acc, limit="100", next_cursor=cursor)).json()
    assert retried["result"] == []
    assert retried["next_cursor"]
    records = await walk(emu, acc, limit="100")
    assert [r["id"] for r in records] == list(emu.dataset.user_ids(acc))


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["cut", "reset", "malformed"])
async def test_body_faults_on_a_chunked_huge_page(emulator: EmulatorFactory, fault: str) -> None:
    accounts = (AccountSpec(integration="cursor", tenant_id="t", users=3000, faults=f"{fault}@#0"),)
    emu = await emulator(accounts=accounts, large_page_records=1000)
    acc = emu.dataset.accounts[0].id
    status, body = await _try(emu, acc)
    if fault == "malformed":
        assert status == 200
        assert not _is_json(body)
    else:
        assert status == "payload-error"
    status, body = await _try(emu, acc)
    assert status == 200
    assert orjson.loads(body)["result"] == list(emu.dataset.users(acc))


@pytest.mark.anyio
@pytest.mark.parametrize("integration", ["claude", "openai", "cursor"])
@pytest.mark.parametrize("status", [500, 502, 504])
async def test_remote_5xx_bodies(emulator: EmulatorFactory, integration: str, status: int) -> None:
    accounts = (AccountSpec(integration=integration, tenant_id="t", faults=f"remote{status}@#0"),)
    emu = await emulator(accounts=accounts)
    acc = emu.dataset.accounts[0].id
    reply = await users_page(emu, acc)
    assert reply.status == status
    body = reply.json()
    assert body["statusCode"] == status
    assert body["truto_is_remote_error"] is True
    raw = body["raw_response"]
    assert body["truto_error_insight"]["remote_error"]["value"] == raw
    if status == 500:
        assert isinstance(raw, dict)  # the vendor's JSON error
    else:
        assert isinstance(raw, str)  # a gateway's HTML page: raw_response is text
        assert str(status) in raw
    assert "ratelimit-limit" in reply.headers
    assert (await users_page(emu, acc)).status == 200  # transient
    assert emu.stats_snapshot()["faults_injected"] == {f"remote{status}": 1}


_ECHO_TOKEN = "s3cr3t/tok+en="


@pytest.mark.anyio
@pytest.mark.parametrize("integration", ["claude", "openai", "cursor"])
@pytest.mark.parametrize(("spec", "status"), [("echo", 400), ("echo:500", 500)])
async def test_echo_fault_quotes_the_token_everywhere(
    emulator: EmulatorFactory, integration: str, spec: str, status: int
) -> None:
    accounts = (AccountSpec(integration=integration, tenant_id="t", faults=f"{spec}@#0"),)
    emu = await emulator(accounts=accounts, tokens=(_ECHO_TOKEN,))
    acc = emu.dataset.accounts[0].id
    reply = await get(emu, USERS, {"integrated_account_id": acc}, token=_ECHO_TOKEN)
    assert reply.status == status
    body = reply.json()
    assert body["truto_is_remote_error"] is True
    bearer = f"Bearer {_ECHO_TOKEN}"
    forms = [bearer, quote(bearer, safe=""), base64.b64encode(_ECHO_TOKEN.encode()).decode()]
    places = {
        "message": body["message"],
        "raw_response": orjson.dumps(body["raw_response"]).decode(),
        "truto_error_insight": orjson.dumps(body["truto_error_insight"]).decode(),
        "header": reply.headers["x-vendor-debug"],
    }
    for place, text in places.items():
        for form in forms:
            assert form in text, (place, form)
    assert quote(_ECHO_TOKEN, safe="") != _ECHO_TOKEN  # the encodings really differ
    ok = await get(emu, USERS, {"integrated_account_id": acc}, token=_ECHO_TOKEN)
    assert ok.status == 200
    assert _ECHO_TOKEN not in str(emu.stats_snapshot())
