"""From resolved accounts and capabilities to a :class:`Plan` (sans-IO).

:class:`PlanBuilder` reads planning's events as they stream (:mod:`~truto_stream.plan.resolve`):
it says at once how each account is swept (its :class:`IntegrationPlan`), and collects
a :class:`Resolved` that :func:`assemble` turns into the :class:`Plan` once planning ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from truto_stream.page import Mode
from truto_stream.plan.capabilities import Capability
from truto_stream.plan.estimate import RateCeiling, UnitGroup, estimate, requests_per_unit
from truto_stream.plan.model import IntegrationPlan, Plan, PlannedAccount, SkippedAccount
from truto_stream.plan.pages import choose_page, requested_limit
from truto_stream.plan.resolve import AlreadyFinished, Event, Found, PlanWarning, Schema

__all__ = ["PlanBuilder", "Resolved", "assemble", "integration_plan", "page_warning"]


@dataclass(frozen=True)
class Resolved:
    """What the I/O side found: accounts, capabilities per integration, and how."""

    accounts: Sequence[PlannedAccount]
    skipped: Sequence[SkippedAccount] = ()
    capabilities: Mapping[str, Capability | None] = field(default_factory=dict)
    schemas: Mapping[str, str] = field(default_factory=dict)
    warnings: Sequence[str] = ()
    finished: tuple[str, ...] = ()
    planning_requests: int = 0


def integration_plan(
    name: str | None,
    cap: Capability | None,
    *,
    requested: int | None,
    dates: tuple[str, ...] | None,
    schema: str,
) -> IntegrationPlan:
    """How ``name``'s accounts are swept: page size and days."""
    page = choose_page(cap, requested)
    label = cap.label if cap is not None else (name or "(integration unknown)")
    notes: list[str] = []
    days: tuple[str | None, ...] = (None,)
    if dates is not None:
        if cap is not None and cap.takes_date:
            days = dates
        elif cap is not None:
            notes.append("no date parameter: swept once")
        else:
            notes.append("unknown whether it takes a date: swept once, without one")
    return IntegrationPlan(name, label, page, days, cap, schema, notes=tuple(notes))


def page_warning(plan: IntegrationPlan) -> str:
    """The warning for an integration whose ``limit`` was clamped."""
    return f"{plan.label}: {plan.page.note}"


def assemble(
    model: str,
    resource: str,
    resolved: Resolved,
    *,
    params: Mapping[str, Any],
    mode: Mode,
    dates: tuple[str, ...] | None,
    records_per_unit: int,
    ceiling: RateCeiling,
) -> Plan:
    """The plan for ``resolved`` accounts (raises ConfigurationError for a bad ``limit``)."""
    requested = requested_limit(params)
    caps, schemas = resolved.capabilities, resolved.schemas
    counts: dict[str | None, int] = {}
    for account in resolved.accounts:
        counts[account.integration] = counts.get(account.integration, 0) + 1
    plans: dict[str | None, IntegrationPlan] = {}
    warnings = list(resolved.warnings)
    for name, count in counts.items():
        cap = caps.get(name) if name is not None else None
        plan = integration_plan(
            name, cap, requested=requested, dates=dates, schema=schemas.get(name or "", "none")
        )
        plans[name] = replace(plan, accounts=count)
        if plan.page.warning:
            warnings.append(page_warning(plan))
    paged = mode == "paged"
    groups = (
        UnitGroup(
            a.account_id,
            a.integration,
            len(plans[a.integration].dates),
            requests_per_unit(records_per_unit, plans[a.integration].page.per_request, paged=paged),
        )
        for a in resolved.accounts
    )
    return Plan(
        model=model,
        resource=resource,
        params={k: v for k, v in params.items() if k != "limit"},
        mode=mode,
        dates=dates,
        accounts=tuple(resolved.accounts),
        skipped=tuple(resolved.skipped),
        integrations=plans,
        estimate=estimate(groups, records_per_unit=records_per_unit, ceiling=ceiling),
        warnings=tuple(warnings),
        finished=resolved.finished,
        planning_requests=resolved.planning_requests,
    )


class PlanBuilder:
    """Planning's events, collected; how each account is swept, as soon as it is found."""

    def __init__(self, *, requested: int | None, dates: tuple[str, ...] | None) -> None:
        self._requested = requested
        self._dates = dates
        self._plans: dict[str | None, IntegrationPlan] = {}
        self._capabilities: dict[str, Capability | None] = {}
        self._schemas: dict[str, str] = {}
        self._found: list[Found] = []
        self._skipped: list[SkippedAccount] = []
        self._warnings: list[str] = []
        self._finished: list[str] = []
        #: Every warning so far, as found (the plan's own order is set by :func:`assemble`).
        self.warnings: list[str] = []

    def add(self, event: Event) -> IntegrationPlan | None:
        """Take one event; for an account to sweep, return how its integration is swept."""
        if isinstance(event, Found):
            self._found.append(event)
            return self._plan(event.account.integration)
        if isinstance(event, Schema):
            self._capabilities[event.integration] = event.capability
            self._schemas[event.integration] = event.source
        elif isinstance(event, SkippedAccount):
            self._skipped.append(event)
        elif isinstance(event, AlreadyFinished):
            self._finished.append(event.account_id)
        elif isinstance(event, PlanWarning):
            self._warnings.append(event.text)
            self.warnings.append(event.text)
        return None

    def _plan(self, name: str | None) -> IntegrationPlan:
        plan = self._plans.get(name)
        if plan is None:
            cap = self._capabilities.get(name) if name is not None else None
            schema = self._schemas.get(name, "none") if name is not None else "none"
            plan = self._plans[name] = integration_plan(
                name, cap, requested=self._requested, dates=self._dates, schema=schema
            )
            if plan.page.warning:
                self.warnings.append(page_warning(plan))
        return plan

    def resolved(self, planning_requests: int) -> Resolved:
        """Everything collected, accounts in the plan's order (not the order found)."""
        return Resolved(
            accounts=[f.account for f in sorted(self._found, key=lambda f: f.index)],
            skipped=tuple(self._skipped),
            capabilities=dict(self._capabilities),
            schemas=dict(self._schemas),
            warnings=tuple(self._warnings),
            finished=tuple(self._finished),
            planning_requests=planning_requests,
        )
