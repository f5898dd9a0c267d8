"""Accounts given by id are looked up a batch a request (``GET /integrated-account?id[in]=``).

Against the emulator (which knows ``id[in]``) and small raw-socket servers that do not:
one ignores the filter (answers with other accounts and a ``next_cursor``), one refuses
it (400), one leaves some ids out. Whatever the server does, the plan is right: records
not asked for are never read, ids a batch did not answer for are looked up one at a time.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import dataclass, field

import anyio
import pytest

from tests.client.rawhttp import Request, raw_server, send
from tests.support import FAST_RETRY, TOKEN, EmulatorFactory
from truto_stream import Client
from truto_stream.emulator import AccountSpec
from truto_stream.errors import AuthError
from truto_stream.plan import Plan
from truto_stream.plan import lookup as lookup_module
from truto_stream.plan.resolve import LOOKUP_CONCURRENCY

pytestmark = pytest.mark.anyio

#: Outside OpenAI's 1-100: every account given by id must be looked up.
OUT_OF_BOUNDS = {"limit": 1000}


def openai(n: int) -> tuple[AccountSpec, ...]:
    return tuple(AccountSpec(integration="openai", tenant_id=f"t{i % 3}", users=1)
                 for i in range(n))  # fmt: skip


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    """Batches of 2: more batches than lookup workers, so the fallback shows in counts."""
    monkeypatch.setattr(lookup_module, "LOOKUP_BATCH", 2)
    return 2


async def test_ids_are_looked_up_a_batch_a_request(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=openai(250))
    ids = [a.id for a in emu.dataset.accounts]
    given = [*ids, ids[3], "no-such-account"]  # a duplicate (planned once), an unknown id
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        plan = await client.plan("usage-metering", "users", accounts=given, params=OUT_OF_BOUNDS)
    by_route = emu.stats_snapshot()["requests"]["by_route"]
    batches = math.ceil(251 / lookup_module.LOOKUP_BATCH)
    assert by_route["/integrated-account"] == batches  # 250 ids: 3 requests, not 250
    assert by_route["/integrated-account/{id}"] == 1  # the id no batch answered for
    assert plan.planning_requests == batches + 1 + 1  # and OpenAI's query schema
    assert [a.account_id for a in plan.accounts] == [*ids, "no-such-account"]  # given order
    assert {a.integration for a in plan.accounts[:-1]} == {"openai"}
    assert plan.accounts[-1].integration is None  # swept with the parameters as given
    assert any("1 accounts could not be looked up (no-such-account)" in w for w in plan.warnings)


async def test_a_batch_of_one_is_a_single_lookup(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=openai(1))
    ids = [a.id for a in emu.dataset.accounts]
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        plan = await client.plan("usage-metering", "users", accounts=ids, params=OUT_OF_BOUNDS)
    by_route = emu.stats_snapshot()["requests"]["by_route"]
    assert by_route.get("/integrated-account", 0) == 0
    assert by_route["/integrated-account/{id}"] == 1
    assert plan.accounts[0].integration == "openai"


def _record(account_id: str, integration: str = "openai") -> dict[str, object]:
    return {"id": account_id, "status": "active", "is_blocked": False,
            "integration": {"name": integration}, "tenant_id": "t"}  # fmt: skip


@dataclass
class _Truto:
    """Accounts ``acc-0``... (OpenAI); how the listing treats ``id[in]`` is ``listing``."""

    n: int
    listing: str  # "honours", "ignores", "refuses", "omits", "unauthorised"
    requests: Counter[str] = field(default_factory=Counter)
    queries: list[dict[str, list[str]]] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [f"acc-{i}" for i in range(self.n)]

    async def handle(self, request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path == "/integrated-account":
            self.requests["batch"] += 1
            self.queries.append(request.query)
            await self._listing(request, writer)
        elif request.path.startswith("/integrated-account/"):
            self.requests["single"] += 1
            account_id = request.path.rsplit("/", 1)[1]
            if account_id in self.ids:
                await send(writer, 200, _record(account_id))
            else:
                await send(writer, 404, {"error": "Integrated account not found."})
        else:  # the query schema: none served, the built-in table stands in
            self.requests["other"] += 1
            await send(writer, 404, {"error": "Not found"})

    async def _listing(self, request: Request, writer: asyncio.StreamWriter) -> None:
        asked = (request.param("id[in]") or "").split(",")
        if self.listing == "refuses":
            await send(writer, 400, {"error": "Unknown filter id[in]"})
        elif self.listing == "unauthorised":
            await send(writer, 401, {"error": "Unauthorized"})
        elif self.listing == "ignores":  # the first accounts, whatever was asked, and more
            result = [_record(i, "claude") for i in ("other-1", "other-2")]
            result += [_record(i) for i in self.ids[:3]]
            await send(writer, 200, {"result": result, "next_cursor": "more", "limit": 5})
        else:
            kept = [i for i in asked if i in self.ids]
            if self.listing == "omits":
                kept = kept[1:]  # the first id asked is left to its own lookup
            await send(writer, 200, {"result": [_record(i) for i in kept], "next_cursor": None})


async def _plan(truto: _Truto, given: list[str]) -> Plan:
    async with raw_server(truto.handle) as url:
        async with Client(token=TOKEN, base_url=url, retry=FAST_RETRY) as client:
            return await client.plan(
                "usage-metering", "users", accounts=given, params=OUT_OF_BOUNDS
            )


def _check_plan(plan: Plan, ids: list[str]) -> None:
    assert [a.account_id for a in plan.accounts] == ids
    assert {a.integration for a in plan.accounts} == {"openai"}
    assert not any("could not be looked up" in w for w in plan.warnings)


async def test_a_server_honouring_the_filter_is_asked_once_per_batch(small_batches: int) -> None:
    truto = _Truto(40, "honours")
    plan = await _plan(truto, truto.ids)
    _check_plan(plan, truto.ids)
    assert truto.requests == Counter(batch=20, other=1)
    assert all(q["limit"] == ["2"] and len(q["id[in]"][0].split(",")) == 2 for q in truto.queries)


async def test_a_server_ignoring_the_filter_still_gets_a_right_plan(small_batches: int) -> None:
    truto = _Truto(40, "ignores")
    plan = await _plan(truto, truto.ids)
    _check_plan(plan, truto.ids)  # other-1/2 (not asked for) never planned
    assert all("next_cursor" not in q for q in truto.queries)  # a batch's cursor not followed
    # Once a batch showed the filter ignored, later ids went straight to single lookups:
    # only the batches already in flight (one per worker at most) were sent.
    assert 1 <= truto.requests["batch"] <= LOOKUP_CONCURRENCY < 20
    # Answered by a batch: those asked that it happened to hold (acc-0..2), no more.
    assert 37 <= truto.requests["single"] <= 40


async def test_a_server_refusing_the_filter_still_gets_a_right_plan(small_batches: int) -> None:
    truto = _Truto(40, "refuses")
    plan = await _plan(truto, truto.ids)
    _check_plan(plan, truto.ids)
    assert 1 <= truto.requests["batch"] <= LOOKUP_CONCURRENCY < 20
    assert truto.requests["single"] == 40


async def test_ids_a_batch_leaves_out_are_looked_up_alone(small_batches: int) -> None:
    truto = _Truto(40, "omits")
    given = [*truto.ids, "missing-1"]  # also left out: its lookup says 404
    plan = await _plan(truto, given)
    assert [a.account_id for a in plan.accounts] == given
    assert plan.accounts[-1].integration is None
    assert {a.integration for a in plan.accounts[:-1]} == {"openai"}
    assert any("could not be looked up (missing-1)" in w for w in plan.warnings)
    # Leaving ids out is no sign the filter is ignored: every batch is still asked.
    assert truto.requests["batch"] == 20  # 41 ids: 20 pairs, and missing-1 alone
    assert truto.requests["single"] == 20 + 1  # the first of each pair, and missing-1


async def test_a_refused_batch_token_raises(small_batches: int) -> None:
    truto = _Truto(10, "unauthorised")
    with pytest.raises(AuthError):
        await _plan(truto, truto.ids)
    assert truto.requests["single"] == 0


async def test_ids_holding_a_comma_are_looked_up_alone() -> None:
    truto = _Truto(4, "honours")
    given = [*truto.ids, "a,b"]
    plan = await _plan(truto, given)
    assert [a.account_id for a in plan.accounts] == given
    assert truto.requests["batch"] == 1
    assert truto.queries[0]["id[in]"] == [",".join(truto.ids)]
    assert truto.requests["single"] == 1  # "a,b": a 404


async def test_a_plan_stopped_while_a_batch_is_in_flight_stops_at_once() -> None:
    asked = asyncio.Event()

    async def hold(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path != "/integrated-account":
            await send(writer, 404, {"error": "Not found"})
            return
        asked.set()
        await asyncio.sleep(60)  # never answers: the plan must be stopped by its caller

    ids = [f"acc-{i}" for i in range(10)]
    async with raw_server(hold) as url:
        async with Client(token=TOKEN, base_url=url, retry=FAST_RETRY) as client:
            with anyio.move_on_after(5) as scope:
                async with anyio.create_task_group() as tg:

                    async def stop_once_asked() -> None:
                        await asked.wait()
                        tg.cancel_scope.cancel()

                    tg.start_soon(stop_once_asked)
                    await client.plan("usage-metering", "users", accounts=ids, params=OUT_OF_BOUNDS)
            assert not scope.cancelled_caught  # stopped by the cancel, not by the bound
