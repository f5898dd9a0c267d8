"""A plan as text for people: what will be swept, how, and what it will cost (sans-IO)."""

from __future__ import annotations

from collections import Counter

from truto_stream.plan.estimate import Estimate, RateCeiling, format_duration
from truto_stream.plan.model import IntegrationPlan, Plan

__all__ = ["MAX_LISTED", "render_plan", "summary_line"]

#: Skipped accounts listed one by one; the rest are counted (the report lists them all).
MAX_LISTED = 20

_TRUTO = RateCeiling()


def summary_line(plan: Plan) -> str:
    """One line: units, requests and time floor."""
    return f"{plan.unit_count:,} units over {len(plan.accounts):,} accounts: {_cost(plan.estimate)}"


def render_plan(plan: Plan) -> str:
    """The whole plan, a few lines per integration (no trailing newline)."""
    what = f"{plan.model}/{plan.resource}, {plan.mode}"
    if plan.dates is not None:
        what += f", {_days(plan.dates)}"
    lines = [f"plan: {what}"]
    width = max((len(p.label) for p in plan.integrations.values()), default=0)
    lines += [_integration_line(p, width) for p in plan.integrations.values()]
    if not plan.accounts:
        lines.append("  no account to sweep")
    if plan.finished:
        done = _n(len(plan.finished), "account")
        lines.append(f"  {done} finished in an earlier run (checkpoint): not looked up")
    lines += _skipped_lines(plan)
    lines.append(f"  estimate: {_cost(plan.estimate)}")
    lines.append("    " + _assumption(plan.estimate))
    if plan.planning_requests:
        lines.append(
            f"  planning took {plan.planning_requests:,} requests "
            "(account listing, lookups, query schemas; no unified list request)"
        )
    lines += [f"  warning: {w}" for w in plan.warnings]
    return "\n".join(lines)


def _integration_line(p: IntegrationPlan, width: int) -> str:
    if p.dates == (None,):
        units = f"{_n(p.accounts, 'account')}, once"
    else:
        units = f"{_n(p.accounts, 'account')} x {_n(len(p.dates), 'day')} = {p.units:,} units"
    notes = "; ".join((p.page.note, *p.notes))
    source = f" [{p.schema}]" if p.schema != "none" else ""
    return f"  {p.label:<{width}}  {units}: {notes}{source}"


def _skipped_lines(plan: Plan) -> list[str]:
    if not plan.skipped:
        return []
    reasons = Counter(s.reason for s in plan.skipped)
    why = ", ".join(f"{reason} ({n:,})" for reason, n in reasons.most_common())
    lines = [f"  skipped {_n(len(plan.skipped), 'account')}: {why}"]
    for s in plan.skipped[:MAX_LISTED]:
        where = ", ".join(x for x in (s.tenant_id, s.integration) if x)
        lines.append(f"    {s.account_id}" + (f" ({where})" if where else "") + f": {s.reason}")
    if len(plan.skipped) > MAX_LISTED:
        lines.append(f"    ... and {len(plan.skipped) - MAX_LISTED:,} more (the report has all)")
    return lines


def _cost(est: Estimate) -> str:
    limits = "Truto's limits" if est.ceiling == _TRUTO else "the client's rate limits"
    text = (
        f"~{est.requests:,} requests, at least {format_duration(est.floor_s)} at {limits} "
        f"({est.ceiling.describe()})"
    )
    if est.account_floor_s > est.token_floor_s:
        text += (
            f"; bound by the busiest account ({est.busiest_account}: "
            f"{est.busiest_account_requests:,} requests)"
        )
    return text


def _assumption(est: Estimate) -> str:
    return (
        f"(assuming {est.records_per_unit:,} records per unit: Truto does not say how many an "
        "account holds; set it with assume_records= / --assume-size)"
    )


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _days(dates: tuple[str, ...]) -> str:
    if len(dates) == 1:
        return dates[0]
    return f"{len(dates)} days, {dates[0]} to {dates[-1]}"
