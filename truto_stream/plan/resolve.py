"""The I/O half of planning: which accounts, which integration each is, what each endpoint takes.

Planning is a stream: :func:`resolve` sends each account as soon as it is known (a
discovery page arrives, a lookup answers, an account needs no lookup), so a sweep starts
walking while it plans; ``client.plan()`` collects the same stream into a ``Plan``.

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
- Each integration's query schema is read once per plan, when its first account arrives,
  from ``GET /unified/{model}/{resource}/{integration}/meta/list``; when Truto does not
  serve a usable one, the built-in table stands in (:mod:`truto_stream.plan.capabilities`).
  Its :class:`Schema` event is always sent before the first :class:`Found` account of that
  integration.

No unified list request is made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from truto_stream._fetch import ListRequest, WalkStats
from truto_stream._runtime import Runtime
from truto_stream._streams import send_next
from truto_stream.errors import AuthError, NotFound, TrutoError
from truto_stream.plan.capabilities import (
    BUILTIN,
    Capability,
    builtin,
    from_query_schema,
    known_integrations,
)
from truto_stream.plan.model import PlannedAccount, SkippedAccount

__all__ = [
    "EVENT_BUFFER",
    "LOOKUP_CONCURRENCY",
    "AccountSource",
    "AlreadyFinished",
    "Event",
    "Finished",
    "Found",
    "PlanWarning",
    "Schema",
    "needs_lookup",
    "resolve",
]

#: Lookups of accounts given by id in flight at once.
LOOKUP_CONCURRENCY = 16

#: Events resolved ahead of their reader: planning waits for the sweep's workers beyond it.
EVENT_BUFFER = 64

#: Is every unit of this account finished in the checkpoint already?
Finished = Callable[[str], bool]


@dataclass(frozen=True)
class AccountSource:
    """Where a plan's accounts come from: a discovery request, or a given list."""

    discovery: ListRequest | None = None
    integration_filter: str | None = None
    given: Sequence[str | Mapping[str, Any]] = field(default_factory=tuple)


@dataclass(frozen=True)
class Found:
    """An account to sweep; ``index`` is its place in the plan (given or discovery order)."""

    index: int
    account: PlannedAccount


@dataclass(frozen=True)
class Schema:
    """What an integration's endpoint takes, and where that came from."""

    integration: str
    capability: Capability | None
    source: str


@dataclass(frozen=True)
class AlreadyFinished:
    """An account given by id that the checkpoint has finished (not looked up, not planned)."""

    account_id: str


@dataclass(frozen=True)
class PlanWarning:
    """Something the plan's reader should be told."""

    text: str


Event = Found | Schema | SkippedAccount | AlreadyFinished | PlanWarning


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
    send: MemoryObjectSendStream[Event],
    *,
    lookup: bool,
    finished: Finished | None = None,
    stats: WalkStats | None = None,
) -> None:
    """Send the plan's events to ``send`` as they are known, then close it.

    ``stats`` counts the requests made (discovery, lookups, query schemas).
    """
    out = _Out(runtime, model, resource, send, stats if stats is not None else WalkStats())
    async with send:
        for text in _filter_warnings(model, resource, source.integration_filter):
            await out.send(PlanWarning(text))
        if source.discovery is not None:
            await _discover(out, source.discovery)
        else:
            await _given(out, source.given, lookup=lookup, finished=finished)


class _Out:
    """Sends events, reading each integration's query schema before its first account."""

    def __init__(
        self,
        runtime: Runtime,
        model: str,
        resource: str,
        send: MemoryObjectSendStream[Event],
        stats: WalkStats,
    ) -> None:
        self.runtime = runtime
        self.stats = stats
        self._model = model
        self._resource = resource
        self._send = send
        # Set once the integration's Schema event is sent: lookups answer concurrently.
        self._schemas: dict[str, anyio.Event] = {}

    async def send(self, event: Event) -> None:
        await send_next(self._send, event)  # an account costs no trip through the loop

    async def account(self, index: int, account: PlannedAccount) -> None:
        if account.integration is not None:
            await self._schema(account.integration)
        await self.send(Found(index, account))

    async def _schema(self, name: str) -> None:
        sent = self._schemas.get(name)
        if sent is not None:
            if not sent.is_set():  # another task is reading it
                await sent.wait()
            return
        sent = self._schemas[name] = anyio.Event()
        try:
            cap, where = await _capability(
                self.runtime, self._model, self._resource, name, self.stats
            )
            await self.send(Schema(name, cap, where))
        finally:
            sent.set()


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


async def _discover(out: _Out, request: ListRequest) -> None:
    """Send each discovered account as its page arrives (duplicates once, skips with why)."""
    seen: set[str] = set()
    skipped = 0
    async with contextlib.aclosing(out.runtime.walk(request, stats=out.stats)) as pages:
        async for page in pages:
            for record in page.records:
                account = _planned(record)
                reason = _skip_reason(record)
                if reason is not None:
                    skipped += 1
                    await out.send(
                        SkippedAccount(
                            account.account_id, reason, account.integration, account.tenant_id
                        )
                    )
                elif account.account_id not in seen:
                    seen.add(account.account_id)
                    await out.account(len(seen) - 1, account)
    if not seen and not skipped:
        await out.send(PlanWarning(f"discovery matched no account ({_filters(request)})"))


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
    out: _Out,
    given: Sequence[str | Mapping[str, Any]],
    *,
    lookup: bool,
    finished: Finished | None,
) -> None:
    """Send the accounts given by the caller, those needing a lookup once it answers.

    ``index`` keeps the given order (duplicates once, finished ones left out); lookups
    answer in their own order.
    """
    unknown: list[str] = []
    ids_send, ids_receive = anyio.create_memory_object_stream[tuple[int, str]]()
    async with anyio.create_task_group() as tg:
        for _ in range(LOOKUP_CONCURRENCY if lookup else 0):
            tg.start_soon(_look_up, out, ids_receive.clone(), unknown)
        ids_receive.close()
        async with ids_send:
            seen: set[str] = set()
            for item in given:
                account = _planned(item) if isinstance(item, Mapping) else PlannedAccount(str(item))
                if account.account_id in seen:
                    continue
                seen.add(account.account_id)
                wanted = lookup and account.integration is None
                if wanted and finished is not None and finished(account.account_id):
                    await out.send(AlreadyFinished(account.account_id))  # nor looked up
                    continue
                index = len(seen) - 1
                if wanted:
                    await ids_send.send((index, account.account_id))
                else:
                    await out.account(index, account)
    if unknown:
        sample = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        await out.send(
            PlanWarning(
                f"{len(unknown):,} accounts could not be looked up ({sample}): "
                "swept with the parameters as given"
            )
        )


async def _look_up(
    out: _Out, ids: MemoryObjectReceiveStream[tuple[int, str]], unknown: list[str]
) -> None:
    """One of the lookup tasks: look accounts up one at a time, send each as it answers."""
    async with ids:
        async for index, account_id in ids:
            try:
                record = await out.runtime.fetcher.get(
                    f"/integrated-account/{quote(account_id, safe='')}", stats=out.stats
                )
            except AuthError:
                raise
            except TrutoError:  # NotFound or worse: the walk will say so for this account
                record = None
            if isinstance(record, Mapping) and "id" in record:
                await out.account(index, _planned(record))
            else:
                unknown.append(account_id)
                await out.account(index, PlannedAccount(account_id))


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
