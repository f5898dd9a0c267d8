"""Planning a sweep: the checks made before any request, then resolving and assembling.

:func:`check` validates what can be validated without the network (dates, ``limit``, the
accounts argument) and raises :class:`ConfigurationError` at once; :func:`make_plan`
then resolves the accounts and capabilities (:mod:`truto_stream.plan.resolve`) and
assembles the :class:`~truto_stream.plan.model.Plan`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from truto_stream._fetch import WalkStats
from truto_stream._runtime import Runtime
from truto_stream.accounts import AccountQuery, Accounts
from truto_stream.errors import ConfigurationError
from truto_stream.page import Mode
from truto_stream.plan.assemble import assemble
from truto_stream.plan.dates import Dates, normalize_dates, parse_date
from truto_stream.plan.estimate import DEFAULT_RECORDS_PER_UNIT, RateCeiling
from truto_stream.plan.model import Plan
from truto_stream.plan.pages import requested_limit
from truto_stream.plan.resolve import AccountSource, Finished, needs_lookup, resolve

__all__ = ["PlanRequest", "check", "make_plan"]


@dataclass(frozen=True)
class PlanRequest:
    """A checked request for a plan (see :func:`check`)."""

    model: str
    resource: str
    source: AccountSource
    params: Mapping[str, Any]
    mode: Mode
    dates: tuple[str, ...] | None
    records_per_unit: int
    ceiling: RateCeiling


def check(
    model: str,
    resource: str,
    *,
    accounts: Accounts,
    params: Mapping[str, Any] | None,
    mode: Mode,
    dates: Dates | None,
    today: str | dt.date | None = None,
    assume_records: int = DEFAULT_RECORDS_PER_UNIT,
    ceiling: RateCeiling | None = None,
) -> PlanRequest:
    """Everything a plan needs, checked before any request (raises ConfigurationError)."""
    params = dict(params or {})
    requested_limit(params)  # a malformed limit is refused now, not per account
    days = None
    if dates is not None:
        if "date" in params:
            raise ConfigurationError("give the days with dates= (or --date), not a date param too")
        day = _today(today)
        days = normalize_dates(dates, today=day)
    if (
        isinstance(assume_records, bool)
        or not isinstance(assume_records, int)
        or assume_records < 0
    ):
        raise ConfigurationError(f"assume_records must be an int >= 0, got {assume_records!r}")
    return PlanRequest(
        model,
        resource,
        _source(accounts),
        params,
        mode,
        days,
        assume_records,
        ceiling or RateCeiling(),
    )


async def make_plan(
    runtime: Runtime,
    request: PlanRequest,
    *,
    finished: Finished | None = None,
    stats: WalkStats | None = None,
) -> Plan:
    """Resolve the accounts and capabilities of ``request`` and assemble its plan.

    ``finished`` says which accounts given by id a checkpoint has finished (they are not
    looked up); ``stats`` counts the plan's requests.
    """
    lookup = needs_lookup(
        request.model,
        request.resource,
        dates=request.dates is not None,
        requested_limit=requested_limit(request.params),
    )
    resolved = await resolve(
        runtime,
        request.model,
        request.resource,
        request.source,
        lookup=lookup,
        finished=finished,
        stats=stats,
    )
    return assemble(
        request.model,
        request.resource,
        resolved,
        params=request.params,
        mode=request.mode,
        dates=request.dates,
        records_per_unit=request.records_per_unit,
        ceiling=request.ceiling,
    )


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _today(today: str | dt.date | None) -> dt.date | None:
    return None if today is None else parse_date(today)


def _source(accounts: Accounts) -> AccountSource:
    """Where the accounts come from (a single id string is one account, not its letters)."""
    if isinstance(accounts, AccountQuery):
        return AccountSource(discovery=accounts.request(), integration_filter=accounts.integration)
    if isinstance(accounts, str):
        accounts = [accounts]
    elif isinstance(accounts, bytes | bytearray | Mapping) or not isinstance(accounts, Iterable):
        raise ConfigurationError(
            "accounts must be an AccountQuery, an account id or an iterable of account ids "
            f"(or of account objects), not {type(accounts).__name__}"
        )
    given: Sequence[Any] = list(accounts)
    for item in given:
        if isinstance(item, Mapping):
            if not isinstance(item.get("id"), str) or not item["id"]:
                raise ConfigurationError("an account object needs its 'id' (a non-empty string)")
        elif not isinstance(item, str) or not item:
            raise ConfigurationError(f"account ids are non-empty strings, not {item!r}")
    return AccountSource(given=tuple(given))
