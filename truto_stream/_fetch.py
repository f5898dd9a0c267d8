"""Walking one integrated account's list, page by page, with retries and rate budgets.

This is the loop the client and the sweep share: build the request, wait for the rate
budget, send it through the :class:`~truto_stream._transport.Transport`, classify the
answer, parse the body into :class:`~truto_stream.page.Page` parts, follow
``next_cursor``. A failed attempt is retried per the :class:`RetryPolicy`; a retried
response re-requests the same cursor and skips the records it already delivered
(:class:`~truto_stream._retry.SkipOnRetry`), so within one run every record is handed on
exactly once. A walk resumed from a checkpoint in the middle of a page skips the records
delivered before, once it has checked they are still the same (:mod:`truto_stream._resume`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Final
from urllib.parse import quote

import anyio
import orjson

from truto_stream import _log
from truto_stream._decode import DEFAULT_LIMITS, BodyLimits, Framing
from truto_stream._paging import CursorWalk
from truto_stream._parse import CHUNK_BYTES, PAGE_BUFFER_BYTES, BodyMeta, Room, parse_body
from truto_stream._query import encode_query
from truto_stream._ratelimit import RateBudget, RateLimiter
from truto_stream._resume import ResumeCheck, ResumeMismatch
from truto_stream._retry import Backoff, RetryPolicy, SkipOnRetry, parse_retry_after
from truto_stream._transport import BodySource, Response, Transport
from truto_stream.errors import (
    MalformedBody,
    RateLimited,
    TrutoError,
    UnexpectedContentType,
    error_for_status,
)
from truto_stream.page import Mode, Page

__all__ = ["Fetcher", "ListRequest", "PageSink", "WalkStats"]

#: An error body larger than this is not read further (it is only for diagnostics).
_ERROR_BODY_MAX: Final = 2**16
#: The largest single document :meth:`Fetcher.get` reads (accounts and schemas are small).
_DOCUMENT_MAX: Final = 2**22
#: Whether a text is made only of what ``quote(text, safe="")`` leaves as it is.
_UNRESERVED: Final = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch


@dataclass
class WalkStats:
    """Counters of one walk, for progress and reports (``pages``: pages received)."""

    requests: int = 0
    pages: int = 0
    records: int = 0
    retries: int = 0
    rate_limited: int = 0
    bytes: int = 0
    retry_after_over_cap: float | None = None
    """The longest ``Retry-After`` asked beyond ``RetryPolicy.max_retry_after`` (the
    client waited only that long)."""
    redelivered: int = 0
    """Records delivered again because a resumed page no longer matched the checkpoint."""


@dataclass(frozen=True)
class ListRequest:
    """What to list: a path, the caller's parameters (never mutated) and the mode.

    The query is encoded once per request object (only the cursor changes between
    pages): ``params`` must not be changed after the request is made.
    """

    path: str
    params: Mapping[str, Any]
    account_id: str | None
    mode: Mode = "paged"
    framing: Framing | None = None
    max_pages: int | None = None
    as_text: bool = False
    """Hand records on as their own JSON text (``bytes``), not dicts (the Arrow path)."""
    read_bytes: int = CHUNK_BYTES
    """The size of each read of a body parsed as it arrives (one batch: one read's records)."""
    part_bytes: int | None = None
    """The most of a read decoded into one batch (None: one read's worth)."""

    @classmethod
    def unified(
        cls,
        model: str,
        resource: str,
        *,
        account_id: str,
        params: Mapping[str, Any] | None = None,
        mode: Mode = "paged",
        framing: Framing | str | None = None,
        max_pages: int | None = None,
        as_text: bool = False,
        read_bytes: int = CHUNK_BYTES,
        part_bytes: int | None = None,
    ) -> ListRequest:
        """A ``GET /unified/{model}/{resource}`` list for one integrated account."""
        if mode not in ("paged", "stream"):
            raise ValueError(f"mode must be 'paged' or 'stream', not {mode!r}")
        path = _unified_path(model, resource)
        if isinstance(framing, str):
            framing = Framing(framing)  # ValueError names the framings allowed
        query = dict(params or {})
        return cls(
            path, query, account_id, mode, framing, max_pages, as_text, read_bytes, part_bytes
        )

    def query(self, cursor: str | None) -> str:
        """The encoded query string for the page at ``cursor``."""
        if not cursor:
            return self._first_query
        if "next_cursor" in self.params:  # the caller's own, replaced where it stands
            return encode_query({**self._query_params, "next_cursor": cursor})
        # Only the cursor changes from page to page: the rest is encoded once per walk.
        # A cursor of characters quote() leaves alone (the usual base64url) is kept as is.
        tail = "next_cursor=" + (cursor if _UNRESERVED(cursor) else quote(cursor, safe=""))
        return f"{self._first_query}&{tail}" if self._first_query else tail

    def for_account(self, account_id: str) -> ListRequest:
        """This list for ``account_id``: the same request, with its query encoded from this
        one's (the parameters are encoded once for every account, not once per account).
        """
        # Derived here once, not in every account's copy: they do not name the account.
        frame, _, _ = self._query_frame, self.read_size, self.response_format
        request = object.__new__(ListRequest)
        state = request.__dict__
        state.update(self.__dict__)  # the fields, and what is cached of them
        state.pop("_query_params", None)  # names the account
        state["account_id"] = account_id
        if frame is None:
            state.pop("_first_query", None)  # encoded whole, on first use
        else:
            head, tail = frame
            encoded = account_id if _UNRESERVED(account_id) else quote(account_id, safe="")
            state["_first_query"] = f"{head}integrated_account_id={encoded}{tail}"
        return request

    @cached_property
    def _query_frame(self) -> tuple[str, str] | None:
        """The encoded query around the account id: ``(head, tail)``; None when the
        parameters name ``integrated_account_id`` or ``truto_response_format`` themselves
        (the account's own query is then encoded whole)."""
        if "integrated_account_id" in self.params or "truto_response_format" in self.params:
            return None
        head = encode_query(self.params)
        tail = "&truto_response_format=stream" if self.mode == "stream" else ""
        return (f"{head}&" if head else ""), tail

    @cached_property
    def _query_params(self) -> dict[str, Any]:
        params = dict(self.params)
        if self.account_id is not None:
            params["integrated_account_id"] = self.account_id
        if self.mode == "stream":
            params["truto_response_format"] = "stream"
        return params

    @cached_property
    def _first_query(self) -> str:
        return encode_query(self._query_params)

    @cached_property
    def read_size(self) -> int:
        """The size of each read of the body, and what the connection may buffer ahead of
        the reads (aiohttp: twice this).

        A stream's is ``read_bytes``; a page's is at least :data:`PAGE_BUFFER_BYTES`, so
        that a page arrives without the socket being paused and resumed on the way, and a
        large page (decoded as it is read) reaches the caller in parts that large, not in
        more, smaller ones (64 walks, 1,000-user pages: 16.3 -> 14.1 µs of CPU per user
        against their 32 KiB share).
        """
        if self.mode == "stream":
            return self.read_bytes
        return max(self.read_bytes, PAGE_BUFFER_BYTES)

    @cached_property
    def response_format(self) -> str:
        return (
            "stream"
            if self.mode == "stream"
            else str(self.params.get("truto_response_format") or "unified")
        )


@lru_cache(maxsize=64)
def _unified_path(model: str, resource: str) -> str:
    return f"/unified/{quote(model, safe='')}/{quote(resource, safe='')}"


#: Where a walk hands its page parts (the client's queue, the sweep's gate).
PageSink = Callable[[Page], Awaitable[None]]


class Fetcher:
    """Sends list requests through one transport under shared retry and rate budgets."""

    def __init__(
        self,
        transport: Transport,
        *,
        retry: RetryPolicy,
        budget: RateBudget | None,
        body_limits: BodyLimits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._body_limits = body_limits
        self._redactor = transport.redactor
        self._retry = retry
        self._budget = budget
        self._limiter = RateLimiter(budget, clock) if budget is not None else None
        self._clock = clock

    @property
    def limiter(self) -> RateLimiter | None:
        """The rate limiter every request waits on (None when the budgets are off)."""
        return self._limiter

    async def walk(
        self,
        request: ListRequest,
        sink: PageSink,
        *,
        start_cursor: str | None = None,
        start_skip: int = 0,
        start_last_id: str | None = None,
        stats: WalkStats | None = None,
        room: Room | None = None,
    ) -> WalkStats:
        """Fetch every page of ``request`` from ``start_cursor``, handing parts to ``sink``.

        ``room``, when given, is awaited before each read is decoded (the sink's
        backpressure, felt while the read is still bytes).

        ``start_skip`` records of the first page were delivered before (the last of them
        with the id ``start_last_id``): they are skipped once checked, or the page is
        delivered whole when the check fails (counted in ``stats.redelivered``).
        """
        stats = stats or WalkStats()
        resume = ResumeCheck(start_skip, start_last_id or "") if start_skip else None
        walk = CursorWalk(
            start_cursor,
            max_pages=request.max_pages,
            account_id=request.account_id,
            path=request.path,
        )
        while not walk.done:
            # Only the cursor is kept: holding the page's metadata (and so its records)
            # while the next request is in flight costs the garbage collector dearly.
            cursor = walk.request_cursor()
            page = _PageFetch(request, cursor, walk.pages, sink, stats, resume, room)
            resume = None
            next_cursor = await self._fetch_page(page)
            walk.advance(next_cursor)
            stats.pages = walk.pages
            if _log.FETCH.isEnabledFor(logging.DEBUG):  # per page: one cached check when off
                _log.page(
                    account_id=request.account_id,
                    path=request.path,
                    index=page.index,
                    records=page.skip.delivered,
                )
        return stats

    async def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        stats: WalkStats | None = None,
    ) -> Any:
        """``GET path`` answered by one small JSON document (an account, a query schema).

        Same budgets and retries as a walk; a body over ``_DOCUMENT_MAX`` bytes, or one
        that is not JSON, is a :class:`MalformedBody`.
        """
        request = ListRequest(path, dict(params or {}), None)
        stats = stats if stats is not None else WalkStats()
        backoff = Backoff(self._retry)
        while True:
            try:
                return await self._get_once(request, stats)
            except TrutoError as err:
                delay = backoff.next_delay(err)
                if delay is None:
                    raise
                stats.retries += 1
                await anyio.sleep(delay)

    async def _get_once(self, request: ListRequest, stats: WalkStats) -> Any:
        response = await self._send(request, None, stats)
        try:
            if response.status >= 300:
                raise await self._http_error(request, response, stats)
            chunks: list[bytes] = []
            size = 0
            while size <= _DOCUMENT_MAX and (chunk := await response.body.read(_DOCUMENT_MAX)):
                chunks.append(chunk)
                size += len(chunk)
            stats.bytes += size
            if size > _DOCUMENT_MAX:
                raise MalformedBody(
                    f"document larger than {_DOCUMENT_MAX} bytes", path=request.path
                )
            try:
                return orjson.loads(b"".join(chunks))
            except orjson.JSONDecodeError:
                raise MalformedBody("the body is not JSON", path=request.path) from None
        finally:
            response.release()

    async def _fetch_page(self, page: _PageFetch) -> str | None:
        """Fetch one page (retrying as the policy allows); return its ``next_cursor``."""
        backoff: Backoff | None = None  # made on the first failure: most pages have none
        while True:
            page.begin()
            try:
                meta = await self._attempt(page)
                page.check_end(meta)
            except ResumeMismatch:
                page.redeliver()  # at once: the server answered, nothing failed
                continue
            except TrutoError as err:
                if backoff is None:
                    backoff = Backoff(self._retry)
                if page.skip.progressed:
                    # This attempt made progress (a long stream cut part-way): the retry
                    # budget is for attempts that get nowhere, so it starts again.
                    backoff.reset()
                delay = backoff.next_delay(err)
                # Errors are built from server answers here and below: the one place
                # where they are scrubbed of the token and made safe to show or to log.
                request = page.request
                err = self._redactor.error(err, account_id=request.account_id, path=request.path)
                if delay is None:
                    raise err from None
                page.stats.retries += 1
                _log.retry(
                    err,
                    account_id=request.account_id,
                    path=request.path,
                    attempt=backoff.attempts,
                    max_attempts=self._retry.max_attempts,
                    delay=delay,
                    max_retry_after=self._retry.max_retry_after,
                )
                await anyio.sleep(delay)
                continue
            await page.finish(meta)
            return meta.next_cursor

    async def _attempt(self, page: _PageFetch) -> BodyMeta:
        request, stats = page.request, page.stats
        response = await self._send(request, page.cursor, stats)
        try:
            if response.status >= 300:
                raise await self._http_error(request, response, stats)
            content_type = response.headers.get("Content-Type")
            _check_content_type(content_type, request)
            body = response.body
            try:
                return await parse_body(
                    body,
                    content_type=content_type,
                    content_length=response.content_length,
                    emit=page.hand_on,
                    framing=request.framing,
                    limits=self._body_limits,
                    whole=request.response_format in ("debug", "raw"),
                    raw=request.response_format == "raw",
                    as_text=request.as_text,
                    read_bytes=request.read_size,
                    part_bytes=request.part_bytes,
                    room=page.room,
                )
            finally:
                stats.bytes += body.bytes_read
        finally:
            response.release()

    async def _send(self, request: ListRequest, cursor: str | None, stats: WalkStats) -> Response:
        """Send one request within the rate budget; its answer's headers feed the budget."""
        account = request.account_id
        budget = self._budget
        if budget is None or self._limiter is None:
            stats.requests += 1
            return await self._transport.send(
                request.path, request.query(cursor), read_bytes=request.read_size
            )
        slot = await self._limiter.acquire(account)
        stats.requests += 1
        try:
            query = request.query(cursor)
            response = await self._transport.send(request.path, query, read_bytes=request.read_size)
        except BaseException:
            # The server counted the request before its answer (or the failure) came back.
            budget.settle(account, slot, self._clock())
            raise
        try:
            # The headers came with the answer: they feed the budget at the same time.
            budget.settle(account, slot, self._clock(), response.headers)
        except BaseException:
            response.release()
            raise
        return response

    async def _http_error(
        self, request: ListRequest, response: Response, stats: WalkStats
    ) -> TrutoError:
        body = await _read_error_body(response.body)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        err = error_for_status(
            response.status,
            body,
            retry_after=retry_after,
            account_id=request.account_id,
            path=request.path,
        )
        if retry_after is not None and retry_after > self._retry.max_retry_after and err.retryable:
            stats.retry_after_over_cap = max(stats.retry_after_over_cap or 0.0, retry_after)
        if isinstance(err, RateLimited):
            stats.rate_limited += 1
            if self._budget is not None:
                self._budget.on_rate_limited(
                    request.account_id, retry_after, self._clock(), remote=err.is_remote
                )
        return err


class _PageFetch:
    """One page of a walk being fetched: where its parts go and what they carry."""

    __slots__ = ("cursor", "index", "part", "request", "resume", "room", "sink", "skip", "stats")

    def __init__(
        self,
        request: ListRequest,
        cursor: str | None,
        index: int,
        sink: PageSink,
        stats: WalkStats,
        resume: ResumeCheck | None = None,
        room: Room | None = None,
    ) -> None:
        self.request = request
        self.room = room
        self.cursor = cursor
        self.index = index
        self.sink = sink
        self.stats = stats
        self.skip = SkipOnRetry()
        self.resume = resume
        if resume is not None:
            # Delivered by an earlier run: skipped like an earlier attempt's records.
            self.skip.delivered = resume.skip
        self.part = 0

    def begin(self) -> None:
        """An attempt starts from the page's first record."""
        self.skip.begin()
        if self.resume is not None:
            self.resume.begin()

    def redeliver(self) -> None:
        """The resumed page changed: deliver it from its first record after all."""
        assert self.resume is not None
        self.stats.redelivered += self.resume.skip
        self.resume = None
        self.skip = SkipOnRetry()

    async def hand_on(self, batch: list[Any]) -> None:
        """A batch parsed before the end of the body: a non-final part."""
        if self.resume is not None:
            self.resume.see(batch)
        records = self.skip.take(batch)
        if records is None:
            return
        self.stats.records += len(records)
        request = self.request
        offset = self.skip.delivered - len(records)
        await self.sink(
            Page(
                records,
                request.account_id,
                self.cursor,
                self.index,
                self.part,
                final=False,
                offset=offset,
            )
        )
        self.part += 1

    def check_end(self, meta: BodyMeta) -> None:
        """A resumed page must have reached its skip position by the end of the body."""
        if self.resume is not None:
            self.resume.see(meta.records)
            self.resume.end()

    async def finish(self, meta: BodyMeta) -> None:
        """The body's last records and its metadata: the final part."""
        records = self.skip.take(meta.records) or []
        self.stats.records += len(records)
        count = meta.members.get("result_count")
        partial = meta.members.get("is_partial_response")
        await self.sink(
            Page(
                records,
                self.request.account_id,
                self.cursor,
                self.index,
                self.part,
                final=True,
                offset=self.skip.delivered - len(records),
                next_cursor=meta.next_cursor,
                result_count=count if isinstance(count, int) else None,
                is_partial_response=partial if isinstance(partial, bool) else None,
                meta=meta.members,
            )
        )


def _check_content_type(content_type: str | None, request: ListRequest) -> None:
    if content_type is None:
        return
    kind = _refused_kind(content_type)
    if kind is not None:
        raise UnexpectedContentType(
            f"expected JSON, got content type {kind!r}",
            account_id=request.account_id,
            path=request.path,
        )


@lru_cache(maxsize=64)
def _refused_kind(content_type: str) -> str | None:
    """The media type of a content type that cannot be JSON (None: it may be); the few
    values a server sends are looked at once each."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind if kind.startswith(("text/html", "image/", "audio/", "video/")) else None


async def _read_error_body(body: BodySource) -> dict[str, Any] | None:
    """Truto's error object, read up to ``_ERROR_BODY_MAX`` bytes; None if it is not one."""
    chunks: list[bytes] = []
    size = 0
    try:
        while size < _ERROR_BODY_MAX and (chunk := await body.read(_ERROR_BODY_MAX - size)):
            chunks.append(chunk)
            size += len(chunk)
        document = orjson.loads(b"".join(chunks))
    except (TrutoError, orjson.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None
