"""Planning a sweep: the checks made before any request, then resolving and assembling.

:func:`check` validates what can be validated without the network (dates, ``limit``, the
accounts argument) and raises :class:`ConfigurationError` at once. :func:`planning`
streams the accounts and capabilities as they are resolved
(:mod:`truto_stream.plan.resolve`): a sweep hands each account's units to its workers
as soon as it is found. :func:`make_plan` is the collected form of the same stream: the
:class:`~truto_stream.plan.model.Plan`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from truto_stream._fetch import WalkStats
from truto_stream._runtime import Runtime, single_error
from truto_stream._streams import receive_next
from truto_stream.accounts import AccountQuery, Accounts
from truto_stream.errors import ConfigurationError
from truto_stream.page import Mode
from truto_stream.plan.assemble import PlanBuilder, assemble
from truto_stream.plan.dates import Dates, normalize_dates, parse_date
from truto_stream.plan.estimate import DEFAULT_RECORDS_PER_UNIT, RateCeiling
from truto_stream.plan.model import Plan
from truto_stream.plan.pages import requested_limit
from truto_stream.plan.resolve import (
    EVENT_BUFFER,
    AccountSource,
    Event,
    Finished,
    needs_lookup,
    resolve,
)

__all__ = ["PlanRequest", "builder", "check", "finish", "make_plan", "planning"]


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
    stats = stats if stats is not None else WalkStats()
    before = stats.requests
    collected = builder(request)
    async with planning(runtime, request, finished=finished, stats=stats) as events:
        while (event := await receive_next(events)) is not None:
            collected.add(event)
    return finish(request, collected, stats.requests - before)


@contextlib.asynccontextmanager
async def planning(
    runtime: Runtime,
    request: PlanRequest,
    *,
    finished: Finished | None = None,
    stats: WalkStats | None = None,
) -> AsyncIterator[MemoryObjectReceiveStream[Event]]:
    """Resolve ``request`` in a task of its own; the events arrive on the stream given.

    At most :data:`~truto_stream.plan.resolve.EVENT_BUFFER` events wait for their reader:
    a reader that stops reading holds planning back. Leaving the block stops planning;
    a planning error is raised as one typed error (not an exception group).
    """
    lookup = needs_lookup(
        request.model,
        request.resource,
        dates=request.dates is not None,
        requested_limit=requested_limit(request.params),
    )
    send, receive = anyio.create_memory_object_stream[Event](EVENT_BUFFER)
    run = partial(
        resolve,
        runtime,
        request.model,
        request.resource,
        request.source,
        send,
        lookup=lookup,
        finished=finished,
        stats=stats,
    )
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            try:
                yield receive
            finally:
                tg.cancel_scope.cancel()  # before closing: a blocked sender is not an error
                receive.close()
    except BaseExceptionGroup as group:
        raise single_error(group) from None


def builder(request: PlanRequest) -> PlanBuilder:
    """A collector for the events of ``request``'s planning."""
    return PlanBuilder(requested=requested_limit(request.params), dates=request.dates)


def finish(request: PlanRequest, collected: PlanBuilder, planning_requests: int) -> Plan:
    """The plan, once every event of ``request``'s planning is ``collected``."""
    return assemble(
        request.model,
        request.resource,
        collected.resolved(planning_requests),
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
