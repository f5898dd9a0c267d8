"""The sans-IO pieces of a streamed plan: the rotation of units and the plan builder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream.plan.assemble import PlanBuilder, Resolved, assemble
from truto_stream.plan.capabilities import builtin
from truto_stream.plan.estimate import RateCeiling
from truto_stream.plan.model import Plan, PlannedAccount, SkippedAccount, account_units
from truto_stream.plan.resolve import AlreadyFinished, Event, Found, PlanWarning, Schema
from truto_stream.plan.rotation import Rotation
from truto_stream.unit import Unit

DAYS = ("2026-11-20", "2026-11-21", "2026-11-22")
CAPS = {n: builtin("usage-metering", "users", n) for n in ("claude", "openai", "cursor")}


def days_of(account: str, n: int) -> Iterator[Unit]:
    return (Unit.of(account, date=f"2026-11-{20 + i}") for i in range(n))


def drain(rotation: Rotation) -> list[tuple[str, str | None]]:
    out = []
    while (unit := rotation.next()) is not None:
        out.append((unit.account_id, unit.date))
    return out


def test_the_rotation_takes_one_unit_from_each_account_in_turn() -> None:
    rotation = Rotation(window=8)
    rotation.add(days_of("a", 3))
    rotation.add(days_of("b", 1))
    rotation.add(iter(()))  # an account without units takes no place
    assert len(rotation) == 2
    assert rotation.next() == Unit.of("a", date="2026-11-20")
    rotation.add(days_of("c", 2))  # found later: joins at the end, at its first day
    assert drain(rotation) == [
        ("b", "2026-11-20"), ("a", "2026-11-21"), ("c", "2026-11-20"),
        ("a", "2026-11-22"), ("c", "2026-11-21"),
    ]  # fmt: skip
    assert len(rotation) == 0 and rotation.next() is None


def test_the_rotation_is_full_at_its_window_of_accounts() -> None:
    rotation = Rotation(window=2)
    rotation.add(days_of("a", 1))
    assert not rotation.full
    rotation.add(days_of("b", 2))
    assert rotation.full
    rotation.next()  # a's only unit: a leaves
    assert not rotation.full and len(rotation) == 1
    with pytest.raises(ValueError, match=r"^window must be at least 1$"):
        Rotation(window=0)


@given(st.lists(st.integers(0, 5), max_size=12), st.integers(1, 4))
def test_all_accounts_at_once_give_the_plans_day_by_day_order(days: list[int], w: int) -> None:
    # With every account in it, the rotation's order is day by day, as Plan.units() is.
    rotation = Rotation(window=max(1, len(days)))
    for i, n in enumerate(days):
        rotation.add(days_of(f"acc{i}", n))
    want = [(f"acc{i}", f"2026-11-{20 + d}") for d in range(6)
            for i, n in enumerate(days) if d < n]  # fmt: skip
    assert drain(rotation) == want
    # Any window: every unit exactly once, each account's days in order.
    small = Rotation(window=w)
    for i, n in enumerate(days):
        small.add(days_of(f"acc{i}", n))
    got = drain(small)
    assert sorted(got) == sorted(want)
    for i in range(len(days)):
        mine = [d or "" for a, d in got if a == f"acc{i}"]
        assert mine == sorted(mine)


def mixed() -> list[PlannedAccount]:
    return [
        PlannedAccount("c1", "claude", "acme"),
        PlannedAccount("o1", "openai", "acme"),
        PlannedAccount("c2", "claude", "globex"),
        PlannedAccount("x1", "cursor", "globex"),
        PlannedAccount("u1"),
    ]


def plan_of(resolved: Resolved, **kw: object) -> Plan:
    options: dict[str, object] = {"params": {"limit": 1000}, "mode": "paged", "dates": DAYS,
                                  "records_per_unit": 2500, "ceiling": RateCeiling()}  # fmt: skip
    options.update(kw)
    return assemble("usage-metering", "users", resolved, **options)  # type: ignore[arg-type]


def test_the_builder_collects_the_plan_that_assemble_makes_in_the_plans_order() -> None:
    accounts = mixed()
    schemas = [Schema(n, cap, "Truto's query schema") for n, cap in CAPS.items()]
    skip = SkippedAccount("s1", "account is blocked", "claude")
    # As a stream delivers them: lookups answer out of order, schemas before accounts.
    events: list[Event] = [
        PlanWarning("first"),
        *schemas,
        Found(3, accounts[3]),
        skip,
        Found(0, accounts[0]),
        AlreadyFinished("done1"),
        Found(4, accounts[4]),
        Found(2, accounts[2]),
        Found(1, accounts[1]),
        PlanWarning("last"),
    ]
    builder = PlanBuilder(requested=1000, dates=DAYS)
    swept = {}
    for event in events:
        integration = builder.add(event)
        assert (integration is not None) == isinstance(event, Found)
        if isinstance(event, Found):
            assert integration is not None
            swept[event.account.account_id] = list(account_units(event.account, integration))
    # Live warnings, as found: the clamp as soon as OpenAI's first account was.
    assert builder.warnings == ["first", "OpenAI Codex: limit 100: 1000 is outside "
                                "OpenAI Codex's 1-100", "last"]  # fmt: skip
    got = plan_of(builder.resolved(planning_requests=7))
    want = plan_of(Resolved(accounts=accounts, skipped=[skip], capabilities=CAPS,
                            schemas=dict.fromkeys(CAPS, "Truto's query schema"),
                            warnings=["first", "last"], finished=("done1",),
                            planning_requests=7))  # fmt: skip
    assert got == want
    assert [a.account_id for a in got.accounts] == ["c1", "o1", "c2", "x1", "u1"]
    # The units offered as each account was found are the plan's units, and their params.
    offered = sorted((u for units in swept.values() for u in units), key=lambda u: u.key)
    assert offered == sorted(got.units(), key=lambda u: u.key)
    assert [u.date for u in swept["c1"]] == list(DAYS)
    assert [u.query({}) for u in swept["o1"]] == [{"limit": 100}]  # clamped at once
    assert [u.date for u in swept["u1"]] == [None]  # unknown integration: swept once
    assert got.warnings == ("first", "last", "OpenAI Codex: limit 100: 1000 is outside "
                            "OpenAI Codex's 1-100")  # fmt: skip
