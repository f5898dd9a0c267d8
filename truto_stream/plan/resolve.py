"""The I/O half of planning: which accounts, which integration each is, what each endpoint takes.

Planning is a stream: :func:`resolve` sends each account as soon as it is known (a
discovery page arrives, a lookup answers, an account needs no lookup), so a sweep starts
walking while it plans; ``client.plan()`` collects the same stream into a ``Plan``.

- Discovered accounts (``GET /integrated-account`` with filters) come with their
  integration and tenant; those not ``active``, or blocked, are skipped with the reason.
- Accounts given by id are looked up only when the sweep would go wrong without their
  integration: when dates are asked for (does it take ``date``?), or when the given
  ``limit`` is outside some integration's bounds (it must be clamped). A lookup asks for
  a batch of ids (``GET /integrated-account?id[in]=a,b,...``, up to
  :data:`~truto_stream.plan.lookup.LOOKUP_BATCH` a request, under the token budget); ids
  a batch does not answer for are looked up one at a time (``GET
  /integrated-account/{id}``), and all are, once a batch shows the server ignores the
  filter. Otherwise they are swept with the parameters as given (the endpoint's default
  page unless ``limit`` is set). An account the checkpoint has finished is not looked up
  again. Accounts given as mappings (what ``client.integrated_accounts()`` yields) carry
  their integration: they get the largest page, like discovered ones.
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
from truto_stream._streams import receive_next, send_next
from truto_stream.errors import AuthError, HTTPError, NotFound, RateLimited, TrutoError
from truto_stream.plan import lookup as _lookup
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

#: Lookup requests of accounts given by id in flight at once (batches and single ones).
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
    lookups = _Lookups(out, _lookup.LOOKUP_BATCH)
    # Ids wait for the batcher without a scheduling point each: it takes what is queued.
    ids_send, ids_receive = anyio.create_memory_object_stream[tuple[int, str]](lookups.batch)
    async with anyio.create_task_group() as tg:
        if lookup:
            tg.start_soon(lookups.run, ids_receive)
        else:
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
                    await send_next(ids_send, (index, account.account_id))
                else:
                    await out.account(index, account)
    if lookups.unknown:
        unknown = lookups.unknown
        sample = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        await out.send(
            PlanWarning(
                f"{len(unknown):,} accounts could not be looked up ({sample}): "
                "swept with the parameters as given"
            )
        )


class _Lookups:
    """Looks accounts given by id up: a batch of ids a request, one at a time as a fallback.

    A batcher takes up to ``batch`` queued ids (a short list does not wait for more) and
    hands the batch to one of :data:`LOOKUP_CONCURRENCY` workers; at most that many
    lookup requests are in flight at once, batches and single lookups together.
    """

    def __init__(self, out: _Out, batch: int) -> None:
        self.out = out
        self.batch = max(1, batch)
        self.unknown: list[str] = []
        # Off once a batch shows the server ignores ``id[in]``: later ids go one at a time.
        self.batching = self.batch > 1
        self._requests = anyio.CapacityLimiter(LOOKUP_CONCURRENCY)

    async def run(self, ids: MemoryObjectReceiveStream[tuple[int, str]]) -> None:
        batches_send, batches_receive = anyio.create_memory_object_stream[list[tuple[int, str]]]()
        async with anyio.create_task_group() as tg:
            for _ in range(LOOKUP_CONCURRENCY):
                tg.start_soon(self._worker, batches_receive.clone())
            batches_receive.close()
            async with batches_send, ids:
                while (first := await receive_next(ids)) is not None:
                    await batches_send.send(self._take(first, ids))

    def _take(
        self, first: tuple[int, str], ids: MemoryObjectReceiveStream[tuple[int, str]]
    ) -> list[tuple[int, str]]:
        """``first`` and the ids queued behind it, up to the batch size."""
        batch = [first]
        while len(batch) < self.batch:
            try:
                batch.append(ids.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        return batch

    async def _worker(self, batches: MemoryObjectReceiveStream[list[tuple[int, str]]]) -> None:
        async with batches:
            async for batch in batches:
                await self._look_up(batch)

    async def _look_up(self, batch: list[tuple[int, str]]) -> None:
        """Send each account of ``batch`` as its lookup answers."""
        index_of = {account_id: index for index, account_id in batch}
        groups, singles = (
            _lookup.group_ids(list(index_of)) if self.batching else ([], list(index_of))
        )
        for group in groups:
            found = await self._ask_batch(group) if self.batching else {}
            for account_id in group:
                record = found.get(account_id)
                if record is not None:
                    await self.out.account(index_of[account_id], _planned(record))
                else:
                    singles.append(account_id)
        async with anyio.create_task_group() as tg:
            for account_id in singles:
                tg.start_soon(self._look_up_one, index_of[account_id], account_id)

    async def _ask_batch(self, ids: list[str]) -> dict[str, Mapping[str, Any]]:
        """The records one batch request answers for (none when it fails)."""
        try:
            async with self._requests:
                body = await self.out.runtime.fetcher.get(
                    "/integrated-account", _lookup.batch_params(ids), stats=self.out.stats
                )
        except AuthError:
            raise
        except HTTPError as exc:
            if 400 <= exc.status < 500 and not isinstance(exc, RateLimited):
                self.batching = False  # the server refuses the filter: not worth asking again
            return {}
        except TrutoError:  # this batch failed; its ids are looked up one at a time
            return {}
        answer = _lookup.read_batch(body, ids)
        if answer.filter_ignored:
            self.batching = False
        return answer.found

    async def _look_up_one(self, index: int, account_id: str) -> None:
        try:
            async with self._requests:
                record = await self.out.runtime.fetcher.get(
                    f"/integrated-account/{quote(account_id, safe='')}", stats=self.out.stats
                )
        except AuthError:
            raise
        except TrutoError:  # NotFound or worse: the walk will say so for this account
            record = None
        if isinstance(record, Mapping) and "id" in record:
            await self.out.account(index, _planned(record))
        else:
            self.unknown.append(account_id)
            await self.out.account(index, PlannedAccount(account_id))


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
