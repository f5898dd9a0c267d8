"""Plans from resolved accounts: units, page sizes, dates, estimate, rendering (sans-IO)."""

from __future__ import annotations

import re

import orjson
import pytest

from truto_stream.errors import ConfigurationError
from truto_stream.plan.assemble import Resolved, assemble
from truto_stream.plan.capabilities import builtin
from truto_stream.plan.estimate import RateCeiling
from truto_stream.plan.model import Plan, PlannedAccount, SkippedAccount
from truto_stream.plan.render import MAX_LISTED, render_plan, summary_line

DAYS = ("2026-11-20", "2026-11-21", "2026-11-22")
CAPS = {n: builtin("usage-metering", "users", n) for n in ("claude", "openai", "cursor")}


def mixed(*, skipped: int = 0, unknown: int = 0) -> Resolved:
    accounts = [
        PlannedAccount("c1", "claude", "acme"),
        PlannedAccount("o1", "openai", "acme"),
        PlannedAccount("c2", "claude", "globex"),
        PlannedAccount("x1", "cursor", "globex"),
        *(PlannedAccount(f"u{i}") for i in range(unknown)),
    ]
    skips = [SkippedAccount(f"s{i}", "account status is 'needs_reauth'") for i in range(skipped)]
    return Resolved(accounts=accounts, skipped=skips, capabilities=CAPS,
                    schemas=dict.fromkeys(CAPS, "Truto's query schema"))  # fmt: skip


def plan_of(resolved: Resolved, **kw: object) -> Plan:
    options: dict[str, object] = {
        "params": {},
        "mode": "paged",
        "dates": DAYS,
        "records_per_unit": 2500,
        "ceiling": RateCeiling(),
    }
    options.update(kw)
    return assemble("usage-metering", "users", resolved, **options)  # type: ignore[arg-type]


def test_dated_integrations_get_a_unit_per_day_the_others_one() -> None:
    plan = plan_of(mixed())
    units = list(plan.units())
    assert plan.unit_count == len(units) == 2 * 3 + 1 + 1
    keys = [u.key for u in units]
    assert len(set(keys)) == len(keys)
    # Day by day: every account's first unit first; undated integrations with the first day.
    assert [(u.account_id, u.date) for u in units[:4]] == [
        ("c1", "2026-11-20"), ("o1", None), ("c2", "2026-11-20"), ("x1", None)
    ]  # fmt: skip
    assert [u.date for u in units if u.account_id == "c1"] == list(DAYS)
    claude = next(u for u in units if u.account_id == "c1")
    assert claude.query({"truto_ignore_remote_data": True}) == {
        "truto_ignore_remote_data": True, "limit": 1000, "date": "2026-11-20"
    }  # fmt: skip
    assert (claude.integration, claude.tenant_id) == ("claude", "acme")
    assert next(u for u in units if u.account_id == "x1").query({}) == {}
    assert next(u for u in units if u.account_id == "o1").query({}) == {"limit": 100}
    notes = {p.integration: p.notes for p in plan.integrations.values()}
    assert notes["openai"] == ("no date parameter: swept once",)


def test_the_unit_key_does_not_depend_on_the_page_size() -> None:
    a = {u.key for u in plan_of(mixed()).units()}
    b = {u.key for u in plan_of(mixed(), params={"limit": 50}).units()}
    assert a == b
    assert {u.key for u in plan_of(mixed(), dates=None).units()} == {"c1", "o1", "c2", "x1"}


def test_an_explicit_limit_is_clamped_with_a_warning_and_not_kept_in_the_params() -> None:
    plan = plan_of(mixed(), params={"limit": "1000", "truto_exclude_fields": ["emails"]})
    assert plan.params == {"truto_exclude_fields": ["emails"]}
    limits = {p.integration: p.page.limit for p in plan.integrations.values()}
    assert limits == {"claude": 1000, "openai": 100, "cursor": None}
    assert plan.warnings == ("OpenAI Codex: limit 100: 1000 is outside OpenAI Codex's 1-100",)
    with pytest.raises(ConfigurationError):
        plan_of(mixed(), params={"limit": "many"})


def test_the_estimate_counts_requests_per_unit() -> None:
    est = plan_of(mixed(unknown=1)).estimate
    # claude 2 x 3 days x 3 pages, openai 25, cursor 1, unknown 25 (default 100 per page)
    assert est.by_integration == {"claude": 18, "openai": 25, "cursor": 1, "unknown": 25}
    assert est.requests == 69 and est.units == 9
    assert plan_of(mixed(), mode="stream").estimate.requests == 8


def test_render_and_to_dict() -> None:
    plan = plan_of(mixed(skipped=MAX_LISTED + 3, unknown=2))
    text = render_plan(plan)
    assert text.startswith("plan: usage-metering/users, paged, 3 days, 2026-11-20 to 2026-11-22")
    for line in (
        r"Claude +2 accounts x 3 days = 6 units: limit 1000 \(the largest\)",
        r"OpenAI Codex +1 account, once: limit 100 \(the largest\); no date parameter",
        r"Cursor +1 account, once: one page, no limit",
        r"\(integration unknown\) +2 accounts, once: the endpoint's default page",
    ):
        assert re.search(line, text), line
    assert f"skipped {MAX_LISTED + 3} accounts: account status is 'needs_reauth' (23)" in text
    assert "... and 3 more (the report has all)" in text
    assert "~94 requests, at least 0 s at Truto's limits" in text
    assert "assuming 2,500 records per unit" in text
    assert summary_line(plan).startswith("10 units over 6 accounts: ~94 requests")
    data = orjson.loads(orjson.dumps(plan.to_dict()))
    assert data["units"] == 10 and data["estimate"]["requests"] == 94
    assert data["integrations"][0]["dates"] == list(DAYS)
    assert len(data["skipped"]) == MAX_LISTED + 3


def test_an_empty_plan() -> None:
    plan = plan_of(Resolved(accounts=[], warnings=["discovery matched no account"]))
    assert list(plan.units()) == [] and plan.unit_count == 0
    text = render_plan(plan)
    assert "no account to sweep" in text and "warning: discovery matched no account" in text
