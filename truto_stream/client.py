"""The public client: one pooled session, shared rate budgets, records as async streams."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import math
import os
import sys
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self, cast

import anyio

from truto_stream._bounds import CompressionLimits, Timeouts
from truto_stream._decode import BodyLimits, Framing
from truto_stream._fetch import Fetcher, ListRequest
from truto_stream._http import AiohttpTransport, Session, check_base_url
from truto_stream._parse import LIST_PART_BYTES
from truto_stream._ratelimit import RateBudget
from truto_stream._retry import RetryPolicy
from truto_stream._runtime import Runtime
from truto_stream.accounts import Accounts
from truto_stream.checkpoint import Checkpoint
from truto_stream.errors import ConfigurationError
from truto_stream.models import IntegratedAccount, User
from truto_stream.page import Mode, Page
from truto_stream.plan.dates import Dates
from truto_stream.plan.estimate import DEFAULT_RECORDS_PER_UNIT, RateCeiling
from truto_stream.plan.model import Plan
from truto_stream.plan.planner import check, make_plan
from truto_stream.schema import Projection, as_projection, known_model
from truto_stream.sweep import AccountQuery, Commits, OnError, Sweep

__all__ = ["DEFAULT_BASE_URL", "Client", "RateLimits"]

DEFAULT_BASE_URL: Final = "https://api.truto.one"
TOKEN_ENV: Final = "TRUTO_API_TOKEN"


@dataclass(frozen=True)
class RateLimits:
    """Client-side budgets, kept below Truto's published limits.

    Truto allows 500 requests per 10 s per token and 50 per 10 s per integrated account.
    The client spaces requests so that it never exceeds either and adapts to the
    ``ratelimit-remaining`` / ``ratelimit-reset`` headers and to any 429. An unanswered
    request counts as present (the server may count it any moment); an answered one counts
    from the moment its answer arrived, which is never before the server counted it; so
    the window needs only a small pad (``safety_fraction * window + safety_s``, 0.06 s on
    a 10 s window) for clock-rate differences and boundary rounding.
    """

    token_limit: int = 500
    account_limit: int = 50
    window: float = 10.0
    safety_fraction: float = 0.005
    safety_s: float = 0.01

    def budget(self, *, max_pause: float = math.inf) -> RateBudget:
        """The budget these limits describe; no pause it takes lasts over ``max_pause`` s."""
        return RateBudget(
            token_limit=self.token_limit,
            account_limit=self.account_limit,
            window=self.window,
            safety_fraction=self.safety_fraction,
            safety_s=self.safety_s,
            max_pause=max_pause,
        )


class Client:
    """An async client for Truto's unified API list endpoints.

    Use it as an async context manager; it owns one pooled aiohttp session (or borrows
    ``session``), the rate budgets shared by everything it runs, and the tasks that fetch
    ahead of the caller. Leaving the block cancels them and closes every connection.

    ::

        async with Client(token=..., base_url=...) as client:
            async for user in client.list("usage-metering", "users", account="<id>"):
                ...

    ``token`` defaults to ``$TRUTO_API_TOKEN``. ``base_url`` must be https unless the host
    is loopback or ``allow_insecure`` is set. ``prefetch`` bounds how many page parts are
    fetched ahead of the caller (memory and backpressure); ``rate_limits=None`` turns the
    client-side budgets off. ``stop_timeout`` bounds how long closing a list or a sweep
    waits for its cancelled background task (``None``: no bound); a task that overruns it
    is reported with a :class:`RuntimeWarning` and stopped when the client closes.
    ``timeouts`` bounds each attempt in time (a trickling body included) and
    ``compression`` what a compressed body may decode to (a decompression bomb);
    ``body_limits`` what one body may hold (nesting depth, one record's size, the
    envelope's other members): beyond them a page fails with :class:`MalformedBody`.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        session: Session | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        rate_limits: RateLimits | None = RateLimits(),
        max_connections: int = 100,
        prefetch: int = 2,
        max_pages: int | None = None,
        allow_insecure: bool = False,
        stop_timeout: float | None = 10.0,
        compression: CompressionLimits | None = None,
        body_limits: BodyLimits | None = None,
    ) -> None:
        _require_asyncio()
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        if not token:
            raise ConfigurationError(f"no API token: pass token=... or set ${TOKEN_ENV}")
        if prefetch < 1:
            raise ConfigurationError("prefetch must be at least 1")
        self._base_url = check_base_url(base_url, allow_insecure=allow_insecure)
        timeouts = timeouts or Timeouts()
        retry = retry or RetryPolicy()
        self._max_pages = max_pages
        self._transport = AiohttpTransport(
            self._base_url,
            token,
            timeouts=timeouts,
            max_connections=max_connections,
            compression=compression,
            session=session,
        )
        # One bound for every wait a server asks for: the retry sleep and the budget's pause.
        budget = (
            rate_limits.budget(max_pause=retry.max_retry_after) if rate_limits is not None else None
        )
        fetcher = Fetcher(
            self._transport, retry=retry, budget=budget, body_limits=body_limits or BodyLimits()
        )
        # The limits a plan's time floor is computed for (Truto's when the budgets are off).
        self._ceiling = (
            RateCeiling(rate_limits.token_limit, rate_limits.account_limit, rate_limits.window)
            if rate_limits is not None
            else RateCeiling()
        )
        # Everything lists and sweeps need from the client, in one object.
        self._runtime = Runtime(
            fetcher, base_url=str(self._base_url), prefetch=prefetch, stop_timeout=stop_timeout
        )
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self.usage_metering = UsageMetering(self)

    def __repr__(self) -> str:
        return f"Client(base_url={str(self._base_url)!r}, token=<redacted>)"

    @property
    def base_url(self) -> str:
        return str(self._base_url)

    async def __aenter__(self) -> Self:
        _require_asyncio(running=True)
        if self._exit_stack is not None:
            raise ConfigurationError("this Client is already open")
        async with contextlib.AsyncExitStack() as stack:
            await self._transport.open()
            stack.push_async_callback(self._transport.close)
            task_group = await stack.enter_async_context(anyio.create_task_group())
            self._runtime.attach(task_group)
            stack.callback(self._runtime.attach, None)
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel background fetches and close every connection this client opened."""
        stack, self._exit_stack = self._exit_stack, None
        if stack is None:
            return
        task_group = self._runtime.task_group
        if task_group is not None:
            task_group.cancel_scope.cancel()
        self._runtime.attach(None)
        await stack.aclose()

    # -- listing ---------------------------------------------------------------------

    async def pages(
        self,
        model: str,
        resource: str,
        *,
        account: str,
        params: Mapping[str, Any] | None = None,
        mode: Mode = "paged",
        cursor: str | None = None,
        framing: Framing | str | None = None,
        max_pages: int | None = None,
        fields: Projection | Iterable[str] | str | None = None,
    ) -> AsyncGenerator[Page, None]:
        """Yield the account's records page by page (large pages arrive in parts).

        ``mode="paged"`` follows ``next_cursor`` with ordinary unified requests;
        ``mode="stream"`` asks for ``truto_response_format=stream`` and detects the
        body's framing (``framing`` overrides it). ``cursor`` resumes a walk.
        ``fields`` keeps only those fields of each record (``id`` always): the server is
        asked to leave the others out (``truto_exclude_fields``) and they are dropped here.
        """
        typed = known_model(model, resource)
        projection = as_projection(fields, typed)
        if projection is not None:
            params = projection.query(params or {}, typed)
        request = ListRequest.unified(
            model,
            resource,
            account_id=account,
            params=params,
            mode=mode,
            framing=framing,
            max_pages=max_pages if max_pages is not None else self._max_pages,
            part_bytes=LIST_PART_BYTES,
        )
        async with contextlib.aclosing(self._runtime.walk(request, cursor=cursor)) as pages:
            async for page in pages:
                if projection is not None:
                    page = dataclasses.replace(page, records=projection.apply(page.records))
                yield page
                del page  # not held while the next part is fetched and decoded

    async def list(
        self,
        model: str,
        resource: str,
        *,
        account: str,
        params: Mapping[str, Any] | None = None,
        mode: Mode = "paged",
        cursor: str | None = None,
        framing: Framing | str | None = None,
        max_pages: int | None = None,
        fields: Projection | Iterable[str] | str | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Yield the account's records one by one; see :meth:`pages` for the arguments."""
        async with contextlib.aclosing(
            self.pages(
                model,
                resource,
                account=account,
                params=params,
                mode=mode,
                cursor=cursor,
                framing=framing,
                max_pages=max_pages,
                fields=fields,
            )
        ) as pages:
            async for page in pages:
                records = page.records
                del page
                for record in records:
                    yield record
                # The part's records die here, before the next part is decoded: kept
                # alive, they survive collections and are promoted, and the collector
                # scans them again (full collections 22 -> 16 per 250,000 users).
                del records

    async def arrow_batches(
        self,
        model: str,
        resource: str,
        *,
        account: str,
        params: Mapping[str, Any] | None = None,
        mode: Mode = "paged",
        cursor: str | None = None,
        framing: Framing | str | None = None,
        max_pages: int | None = None,
        fields: Projection | Iterable[str] | str | None = None,
        batch_rows: int = 10_000,
    ) -> AsyncGenerator[Any, None]:
        """One account's records as ``pyarrow.RecordBatch``es of at most ``batch_rows`` rows.

        The schema is :meth:`Sweep.arrow_batches`'s (``date`` is a column when ``params``
        has a ``date``). Arguments as for :meth:`pages`. Needs the ``arrow`` extra.
        """
        from truto_stream.arrow import RecordBatcher, model_schema

        day = (params or {}).get("date")
        day = str(day) if day is not None else None
        dated = day is not None
        typed = known_model(model, resource)
        projection = as_projection(fields, typed)
        schema = model_schema(model, resource, dated=dated, fields=projection)
        batcher = RecordBatcher(schema, batch_rows=batch_rows, dated=dated)
        request = ListRequest.unified(
            model,
            resource,
            account_id=account,
            params=projection.query(params or {}, typed) if projection is not None else params,
            mode=mode,
            framing=framing,
            max_pages=max_pages if max_pages is not None else self._max_pages,
            # A known resource's batches are built from the records' texts (no dicts);
            # its schema is the projection.
            as_text=schema is not None,
        )
        async with contextlib.aclosing(self._runtime.walk(request, cursor=cursor)) as pages:
            async for page in pages:
                records = page.records
                if projection is not None and schema is None:
                    records = projection.apply(records)
                for batch in batcher.add(account, records, day):
                    yield batch
        last = batcher.flush()
        if last is not None:
            yield last

    def sweep(
        self,
        model: str,
        resource: str,
        *,
        accounts: Accounts | None = None,
        params: Mapping[str, Any] | None = None,
        dates: Dates | None = None,
        today: str | dt.date | None = None,
        plan: Plan | None = None,
        assume_records: int = DEFAULT_RECORDS_PER_UNIT,
        mode: Mode = "paged",
        framing: Framing | str | None = None,
        concurrency: int | None = None,
        adaptive: bool | None = None,
        buffer_records: int = 10_000,
        checkpoint: str | os.PathLike[str] | Checkpoint | None = None,
        commits: Commits = "auto",
        on_error: OnError = "continue",
        max_pages: int | None = None,
        tune_gc: bool = False,
        fields: Projection | Iterable[str] | str | None = None,
        as_text: bool = False,
    ) -> Sweep:
        """Sweep ``model/resource`` across many integrated accounts as one stream.

        ``accounts`` is a list of integrated account ids (or of the account objects
        :meth:`integrated_accounts` yields), or an :class:`AccountQuery` discovered from
        ``GET /integrated-account``. The sweep first makes its plan (see :meth:`plan`; or
        pass one as ``plan=``): the units, each integration's largest page (a ``limit`` in
        ``params`` is clamped per integration), and with ``dates`` (a
        :class:`~truto_stream.DateRange` or a list of days) one unit per (account, day)
        for integrations that take ``date``. ``concurrency`` units are walked at once
        (each walk is sequential; by default 64 in paged mode, and in stream mode 2, added
        on demand up to 8: ``truto_stream.sweep.DEFAULT_CONCURRENCY``, ``ADAPTIVE_MODES``);
        ``adaptive=True`` makes ``concurrency`` such a cap in any mode, ``False`` the walks
        run from the start in any mode; ``buffer_records`` bounds the records
        waiting for the caller; ``checkpoint`` (a SQLite file, or an open
        :class:`~truto_stream.checkpoint.Checkpoint` the caller keeps) makes the sweep
        resumable; ``commits`` says when a page part counts as delivered in it (``"auto"``:
        once pulled past; ``"manual"``: at :meth:`Sweep.commit`); ``on_error="raise"``
        stops at the first failed account instead of reporting it and going on.
        ``tune_gc=True`` tunes the process's garbage collector while the sweep runs (a
        higher first threshold, what exists frozen out of its way) and puts it back as it
        was when the sweep closes: a third to two thirds less CPU on large sweeps; off by
        default, as the collector's settings are the whole process's.
        ``fields`` keeps only those fields of each record (see :meth:`pages`).
        ``as_text=True`` hands each record on as its own JSON text (``bytes``, validated,
        as the server sent it) instead of a dict: for a consumer that writes or converts
        records without looking inside them (not with ``fields``).

        ::

            async with client.sweep("usage-metering", "users", accounts=AccountQuery(
                    integration="claude"), checkpoint="sweep.db") as sweep:
                async for item in sweep:
                    ...
            print(sweep.report.to_dict())
        """
        return Sweep(
            self._runtime,
            model,
            resource,
            accounts=accounts,
            params=params,
            dates=dates,
            today=today,
            plan=plan,
            assume_records=assume_records,
            mode=mode,
            framing=framing,
            concurrency=concurrency,
            adaptive=adaptive,
            buffer_records=buffer_records,
            checkpoint=(
                os.fspath(checkpoint)
                if checkpoint is not None and not isinstance(checkpoint, Checkpoint)
                else checkpoint
            ),
            commits=commits,
            on_error=on_error,
            max_pages=max_pages,
            tune_gc=tune_gc,
            fields=fields,
            as_text=as_text,
        )

    async def plan(
        self,
        model: str,
        resource: str,
        *,
        accounts: Accounts,
        params: Mapping[str, Any] | None = None,
        dates: Dates | None = None,
        today: str | dt.date | None = None,
        mode: Mode = "paged",
        assume_records: int = DEFAULT_RECORDS_PER_UNIT,
    ) -> Plan:
        """What a sweep of these arguments would do, without any unified list request.

        Discovers (or looks up) the accounts, reads each integration's query schema once
        (``GET /unified/{model}/{resource}/{integration}/meta/list``; the built-in table
        when Truto serves none) and returns the :class:`~truto_stream.plan.Plan`: units
        per integration, the page size chosen, the days swept, the skipped accounts and
        why, and an estimate of the requests and of the least time the rate limits allow
        (``assume_records`` records per unit: Truto does not say how many an account
        holds). ``print(render_plan(plan))`` shows it; ``client.sweep(model, resource,
        plan=plan)`` runs it. ``dates`` after ``today`` (UTC by default) are refused.
        """
        request = check(
            model,
            resource,
            accounts=accounts,
            params=params,
            mode=mode,
            dates=dates,
            today=today,
            assume_records=assume_records,
            ceiling=self._ceiling,
        )
        return await make_plan(self._runtime, request)

    # -- integrated accounts -----------------------------------------------------------

    async def integrated_accounts(
        self,
        *,
        tenant_id: str | None = None,
        integration: str | None = None,
        status: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[IntegratedAccount, None]:
        """Yield the integrated accounts matching the filters (``GET /integrated-account``)."""
        query = AccountQuery(tenant_id=tenant_id, integration=integration, status=status)
        request = query.request(params)
        async with contextlib.aclosing(self._runtime.walk(request)) as pages:
            async for page in pages:
                for account in page.records:
                    yield cast(IntegratedAccount, account)


def _require_asyncio(*, running: bool = False) -> None:
    """Fail at once, and clearly, outside asyncio (aiohttp cannot run under trio)."""
    try:
        asyncio.get_running_loop()
        return
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    if running or (trio is not None and trio.lowlevel.in_trio_run()):
        raise ConfigurationError(
            "truto-stream runs on asyncio (aiohttp needs it), not on this event loop; "
            "use asyncio.run(...) or anyio.run(..., backend='asyncio')"
        )


class UsageMetering:
    """Typed shortcuts for the ``usage-metering`` unified API."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def users(
        self,
        account: str,
        *,
        date: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        mode: Mode = "paged",
        resume_from: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[User, None]:
        """Yield the users of an integrated account (Claude, OpenAI Codex or Cursor).

        - ``date``: YYYY-MM-DD day to report activity for (Claude; default: 3 days ago).
        - ``limit``: page size (Claude up to 1000, default 100; OpenAI Codex 1-100).
        - ``cursor``: the unified model's own ``cursor`` field (Claude, OpenAI Codex),
          passed through as is. To resume a walk, use ``resume_from`` (a ``next_cursor``).
        - ``params``: any other query parameter (``truto_exclude_fields`` ...).
        """
        query: dict[str, Any] = dict(params or {})
        for key, value in (("date", date), ("limit", limit), ("cursor", cursor)):
            if value is not None:
                query[key] = value
        async for record in self._client.list(
            "usage-metering", "users", account=account, params=query, mode=mode, cursor=resume_from
        ):
            yield cast(User, record)
