"""A sweep plan: which accounts, with which parameters, over which days (sans-IO).

A :class:`Plan` is what planning found, collected (``client.plan()``; a sweep that
plans for itself starts walking while it plans, and has its plan once planning ends). It
holds, per integration,
the page size chosen and the days swept (an integration without ``date`` is swept once),
the accounts to sweep, those skipped and why, and an :class:`Estimate`. Its units (one
per account, or one per (account, day)) are generated on demand, so a plan of 5,000
accounts x 30 days holds 5,000 accounts, not 150,000 units.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from truto_stream.page import Mode
from truto_stream.plan.capabilities import Capability
from truto_stream.plan.estimate import Estimate
from truto_stream.plan.pages import PageChoice
from truto_stream.unit import Unit, unit_key

__all__ = ["IntegrationPlan", "Plan", "PlannedAccount", "SkippedAccount", "account_units"]


@dataclass(frozen=True)
class PlannedAccount:
    """An integrated account the plan sweeps (``integration`` None: not known)."""

    account_id: str
    integration: str | None = None
    tenant_id: str | None = None


@dataclass(frozen=True)
class SkippedAccount:
    """A discovered account the plan does not sweep, and why."""

    account_id: str
    reason: str
    integration: str | None = None
    tenant_id: str | None = None


@dataclass(frozen=True)
class IntegrationPlan:
    """How one integration's accounts are swept.

    ``dates`` are the days each account is swept for (``(None,)``: once, without
    ``date``); ``params`` are the parameters every unit of the integration adds over the
    sweep's (its ``limit``); ``capability`` is None for an integration the plan knows
    nothing about; ``schema`` says where its capability came from.
    """

    integration: str | None
    label: str
    page: PageChoice
    dates: tuple[str | None, ...]
    capability: Capability | None
    schema: str
    accounts: int = 0
    notes: tuple[str, ...] = ()

    @property
    def params(self) -> dict[str, Any]:
        return {"limit": self.page.limit} if self.page.limit is not None else {}

    @property
    def units(self) -> int:
        return self.accounts * len(self.dates)


@dataclass(frozen=True)
class Plan:
    """What a sweep will do: every account planning found, collected.

    ``params`` are the sweep's own parameters (``limit`` and ``date`` excluded: the plan
    sets them per integration and per unit); ``dates`` the days asked for (None: no
    dates); ``integrations`` is keyed by integration name (None: accounts whose
    integration was not looked up); ``finished`` lists accounts given by id that a
    checkpoint had finished already (not looked up again, not planned);
    ``planning_requests`` counts the requests the plan itself made (discovery, account
    lookups, query schemas).
    """

    model: str
    resource: str
    params: Mapping[str, Any]
    mode: Mode
    dates: tuple[str, ...] | None
    accounts: tuple[PlannedAccount, ...]
    skipped: tuple[SkippedAccount, ...]
    integrations: Mapping[str | None, IntegrationPlan]
    estimate: Estimate
    warnings: tuple[str, ...] = ()
    finished: tuple[str, ...] = ()
    planning_requests: int = 0

    @property
    def unit_count(self) -> int:
        return sum(p.units for p in self.integrations.values())

    def units(self) -> Iterator[Unit]:
        """Every unit, day by day (all accounts of the first day, then the next ...).

        Integrations swept once come with the first day. Spreading an account's days over
        the sweep keeps many accounts busy at once under the per-account limit.
        """
        days = max((len(p.dates) for p in self.integrations.values()), default=0)
        for i in range(days):
            for account in self.accounts:
                plan = self.integrations[account.integration]
                if i < len(plan.dates):
                    yield _unit(account, plan, plan.dates[i])

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (for reports)."""
        est = self.estimate
        return {
            "resource": f"{self.model}/{self.resource}",
            "mode": self.mode,
            "dates": list(self.dates) if self.dates is not None else None,
            "units": self.unit_count,
            "accounts": len(self.accounts),
            "finished_before": list(self.finished),
            "integrations": [_integration_dict(p) for p in self.integrations.values()],
            "skipped": [_skipped_dict(s) for s in self.skipped],
            "estimate": {
                "requests": est.requests,
                "records_per_unit": est.records_per_unit,
                "by_integration": est.by_integration,
                "busiest_account": est.busiest_account,
                "busiest_account_requests": est.busiest_account_requests,
                "floor_s": est.floor_s,
                "token_floor_s": est.token_floor_s,
                "account_floor_s": est.account_floor_s,
                "limits": {
                    "token_limit": est.ceiling.token_limit,
                    "account_limit": est.ceiling.account_limit,
                    "window_s": est.ceiling.window,
                },
            },
            "planning_requests": self.planning_requests,
            "warnings": list(self.warnings),
        }


def account_units(account: PlannedAccount, plan: IntegrationPlan) -> Iterator[Unit]:
    """The units of one account, day by day, swept as ``plan`` (its integration's) says."""
    for date in plan.dates:
        yield _unit(account, plan, date)


def _unit(account: PlannedAccount, plan: IntegrationPlan, date: str | None) -> Unit:
    # The key is (account, date) only: the page size is how a unit is fetched, not which
    # unit it is, so a resume under another page size still finds its progress.
    return Unit(
        unit_key(account.account_id, date=date),
        account.account_id,
        date,
        plan.params,
        account.integration,
        account.tenant_id,
    )


def _skipped_dict(s: SkippedAccount) -> dict[str, Any]:
    return {
        "account_id": s.account_id,
        "integration": s.integration,
        "tenant_id": s.tenant_id,
        "reason": s.reason,
    }


def _integration_dict(plan: IntegrationPlan) -> dict[str, Any]:
    return {
        "integration": plan.integration,
        "label": plan.label,
        "accounts": plan.accounts,
        "units": plan.units,
        "limit": plan.page.limit,
        "page": plan.page.note,
        "dates": None if plan.dates == (None,) else list(plan.dates),
        "schema": plan.schema,
        "notes": list(plan.notes),
    }
