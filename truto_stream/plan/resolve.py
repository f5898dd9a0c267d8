"""The I/O half of planning: which accounts, which integration each is, what each endpoint takes.

- Discovered accounts (``GET /integrated-account`` with filters) come with their
  integration and tenant; those not ``active``, or blocked, are skipped with the reason.
- Accounts given by id are looked up (``GET /integrated-account/{id}``, a few at a time,
  under the token budget) only when the sweep would go wrong without their integration:
  when dates are asked for (does it take ``date``?), or when the given ``limit`` is
  outside some integration's bounds (it must be clamped). Otherwise they are swept with
  the parameters as given (the endpoint's default page unless ``limit`` is set): a lookup
  costs a request per account, as much as a small account's whole sweep. An account the
  checkpoint has finished is not looked up again. Accounts given as mappings (what
  ``client.integrated_accounts()`` yields) carry their integration: they get the largest
  page, like discovered ones.
- Each integration's query schema is read once per plan from
  ``GET /unified/{model}/{resource}/{integration}/meta/list``; when Truto does not serve a
  usable one, the built-in table stands in (:mod:`truto_stream.plan.capabilities`).

No unified list request is made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import anyio

from truto_stream._fetch import ListRequest, WalkStats
from truto_stream._runtime import Runtime, single_error
from truto_stream.errors import AuthError, NotFound, TrutoError
from truto_stream.plan.assemble import Resolved
from truto_stream.plan.capabilities import (
    BUILTIN,
    Capability,
    builtin,
    from_query_schema,
    known_integrations,
)
from truto_stream.plan.model import PlannedAccount, SkippedAccount

__all__ = ["AccountSource", "Finished", "needs_lookup", "resolve"]

#: Lookups of accounts given by id in flight at once.
LOOKUP_CONCURRENCY = 16

#: Is every unit of this account finished in the checkpoint already?
Finished = Callable[[str], bool]


@dataclass(frozen=True)
class AccountSource:
    """Where a plan's accounts come from: a discovery request, or a given list."""

    discovery: ListRequest | None = None
    integration_filter: str | None = None
    given: Sequence[str | Mapping[str, Any]] = field(default_factory=tuple)


def needs_lookup(model: str, resource: str, *, dates: bool, requested_limit: int | None) -> bool:
    """Whether accounts given by id must be looked up for the sweep to be right."""
    if dates:
        return True
    if requested_limit is None:
        return False
    table = BUILTIN.get((model, resource), {})
    return any(
        cap.limit is not None and not cap.limit.minimum <= requested_limit <= cap.limit.maximum
        for cap in table.values()
    )


async def resolve(
    runtime: Runtime,
    model: str,
    resource: str,
    source: AccountSource,
    *,
    lookup: bool,
    finished: Finished | None = None,
    stats: WalkStats | None = None,
) -> Resolved:
    """Accounts, skips and capabilities for a plan (see the module docstring).

    ``stats`` counts the requests made (planning_requests is their number).
    """
    stats = stats if stats is not None else WalkStats()
    before = stats.requests
    warnings = _filter_warnings(model, resource, source.integration_filter)
    skipped: list[SkippedAccount] = []
    finished_ids: list[str] = []
    if source.discovery is not None:
        accounts = await _discover(runtime, source.discovery, skipped, stats)
        if not accounts and not skipped:
            warnings.append(f"discovery matched no account ({_filters(source.discovery)})")
    else:
        accounts, finished_ids, more = await _given(
            runtime, source.given, lookup=lookup, finished=finished, stats=stats
        )
        warnings += more
    names = [n for n in dict.fromkeys(a.integration for a in accounts) if n is not None]
    caps: dict[str, Capability | None] = {}
    schemas: dict[str, str] = {}
    for name in names:
        caps[name], schemas[name] = await _capability(runtime, model, resource, name, stats)
    return Resolved(
        accounts=accounts,
        skipped=skipped,
        capabilities=caps,
        schemas=schemas,
        warnings=warnings,
        finished=tuple(finished_ids),
        planning_requests=stats.requests - before,
    )


def _filter_warnings(model: str, resource: str, name: str | None) -> list[str]:
    known = known_integrations(model, resource)
    if name is None or not known or name in known:
        return []
    return [
        f"integration {name!r} is not one truto-stream knows for {model}/{resource} "
        f"(known: {', '.join(known)}): its accounts follow Truto's query schema, if served"
    ]


def _filters(request: ListRequest) -> str:
    given = ", ".join(f"{k}={v}" for k, v in request.params.items())
    return f"filters: {given}" if given else "no filters"


async def _discover(
    runtime: Runtime, request: ListRequest, skipped: list[SkippedAccount], stats: WalkStats
) -> list[PlannedAccount]:
    accounts: dict[str, PlannedAccount] = {}
    async with contextlib.aclosing(runtime.walk(request, stats=stats)) as pages:
        async for page in pages:
            for record in page.records:
                account = _planned(record)
                reason = _skip_reason(record)
                if reason is not None:
                    skipped.append(
                        SkippedAccount(
                            account.account_id, reason, account.integration, account.tenant_id
                        )
                    )
                else:
                    accounts.setdefault(account.account_id, account)
    return list(accounts.values())


def _skip_reason(record: Mapping[str, Any]) -> str | None:
    status = record.get("status")
    if status != "active":
        return f"account status is {status!r}"
    if record.get("is_blocked"):
        return "account is blocked"
    return None


def _planned(record: Mapping[str, Any]) -> PlannedAccount:
    integration = record.get("integration")
    name = integration.get("name") if isinstance(integration, Mapping) else None
    tenant = record.get("tenant_id")
    return PlannedAccount(
        str(record["id"]),
        name if isinstance(name, str) else None,
        tenant if isinstance(tenant, str) else None,
    )


async def _given(
    runtime: Runtime,
    given: Sequence[str | Mapping[str, Any]],
    *,
    lookup: bool,
    finished: Finished | None,
    stats: WalkStats,
) -> tuple[list[PlannedAccount], list[str], list[str]]:
    """Accounts given by the caller, looked up where needed (their order is kept)."""
    planned: dict[str, PlannedAccount | None] = {}
    done: list[str] = []
    for item in given:
        account = _planned(item) if isinstance(item, Mapping) else PlannedAccount(str(item))
        if account.account_id in planned or account.account_id in done:
            continue
        wanted = lookup and account.integration is None
        if wanted and finished is not None and finished(account.account_id):
            done.append(account.account_id)  # nothing left to plan: no lookup either
            continue
        planned[account.account_id] = None if wanted else account
    missing = [key for key, value in planned.items() if value is None]
    found, warnings = await _look_up(runtime, missing, stats)
    planned.update(found)
    return [a for a in planned.values() if a is not None], done, warnings


async def _look_up(
    runtime: Runtime, ids: list[str], stats: WalkStats
) -> tuple[dict[str, PlannedAccount], list[str]]:
    found: dict[str, PlannedAccount] = {}
    unknown: list[str] = []
    limiter = anyio.CapacityLimiter(LOOKUP_CONCURRENCY)

    async def one(account_id: str) -> None:
        async with limiter:
            try:
                record = await runtime.fetcher.get(
                    f"/integrated-account/{quote(account_id, safe='')}", stats=stats
                )
            except AuthError:
                raise
            except TrutoError:  # NotFound or worse: the walk will say so for this account
                record = None
        if isinstance(record, Mapping) and "id" in record:
            found[account_id] = _planned(record)
        else:
            found[account_id] = PlannedAccount(account_id)
            unknown.append(account_id)

    if ids:
        try:
            async with anyio.create_task_group() as tg:
                for account_id in ids:
                    tg.start_soon(one, account_id)
        except BaseExceptionGroup as group:
            raise single_error(group) from None
    warnings = []
    if unknown:
        sample = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        warnings.append(
            f"{len(unknown):,} accounts could not be looked up ({sample}): "
            "swept with the parameters as given"
        )
    return found, warnings


async def _capability(
    runtime: Runtime, model: str, resource: str, integration: str, stats: WalkStats
) -> tuple[Capability | None, str]:
    """The integration's capability and where it came from (the schema, else the table)."""
    table = builtin(model, resource, integration)
    path = "/unified/" + "/".join(
        quote(part, safe="") for part in (model, resource, integration, "meta", "list")
    )
    try:
        answer = await runtime.fetcher.get(path, stats=stats)
    except AuthError:
        raise
    except NotFound:
        return table, "built-in table (no query schema served)" if table else "unknown"
    except TrutoError as exc:
        why = f"query schema failed: {type(exc).__name__}"
        return table, f"built-in table ({why})" if table else f"unknown ({why})"
    schema = answer.get("query_schema") if isinstance(answer, Mapping) else None
    cap = from_query_schema(integration, schema, fallback=table)
    if cap is not None:
        return cap, "Truto's query schema"
    return table, "built-in table (query schema unusable)" if table else "unknown"
