"""Walking one integrated account's list, page by page, with retries and rate budgets.

This is the loop the client and the sweep share: build the request, wait for the rate
budget, send, classify the answer, parse the body into :class:`Page` parts, follow
``next_cursor``. A failed attempt is retried per the :class:`RetryPolicy`; a retried
response re-requests the same cursor and skips the records it already delivered, so
within one run every record is handed on exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote

import aiohttp
import anyio
import orjson

from truto_stream._framing import Framing
from truto_stream._http import Timeouts, Transport, translate_client_error
from truto_stream._paging import CursorWalk
from truto_stream._parse import BodyMeta, parse_body
from truto_stream._query import encode_query
from truto_stream._ratelimit import RateBudget, RateLimiter
from truto_stream._retry import Backoff, RetryPolicy, parse_retry_after
from truto_stream.errors import (
    RateLimited,
    TruncatedBody,
    TrutoError,
    UnexpectedContentType,
    error_for_status,
)

__all__ = ["Fetcher", "ListRequest", "Mode", "Page", "WalkStats"]

Mode = Literal["paged", "stream"]

#: An error body larger than this is not read further (it is only for diagnostics).
_ERROR_BODY_MAX: Final = 2**16


@dataclass(frozen=True)
class Page:
    """A batch of records from one response, with the page's metadata.

    A page parsed whole arrives as one ``Page``. A large page or a stream is handed on in
    several parts as it is parsed (``part`` counts them); only the last part has
    ``final=True`` and carries ``next_cursor``: once a caller has processed a final part,
    resuming from its ``next_cursor`` loses nothing.
    """

    records: list[Any]
    account_id: str | None
    cursor: str | None
    """The cursor sent for this page (None for the first page)."""
    index: int
    """The page's position in the walk, from 0."""
    part: int = 0
    final: bool = True
    next_cursor: str | None = None
    result_count: int | None = None
    is_partial_response: bool | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Every other envelope member (``prev_cursor``, ``debug``...) on the final part."""


@dataclass
class WalkStats:
    """Counters of one walk, for progress and reports."""

    requests: int = 0
    pages: int = 0
    records: int = 0
    retries: int = 0
    rate_limited: int = 0
    bytes: int = 0
    last_cursor: str | None = None


@dataclass(frozen=True)
class ListRequest:
    """What to list: a path, the caller's parameters (never mutated) and the mode."""

    path: str
    params: Mapping[str, Any]
    account_id: str | None
    mode: Mode = "paged"
    framing: Framing | None = None
    max_pages: int | None = None

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
    ) -> ListRequest:
        """A ``GET /unified/{model}/{resource}`` list for one integrated account."""
        if mode not in ("paged", "stream"):
            raise ValueError(f"mode must be 'paged' or 'stream', not {mode!r}")
        path = f"/unified/{quote(model, safe='')}/{quote(resource, safe='')}"
        if isinstance(framing, str):
            framing = Framing(framing)  # ValueError names the framings allowed
        return cls(path, dict(params or {}), account_id, mode, framing, max_pages)

    def query(self, cursor: str | None) -> str:
        """The encoded query string for the page at ``cursor``."""
        params = dict(self.params)
        if self.account_id is not None:
            params["integrated_account_id"] = self.account_id
        if self.mode == "stream":
            params["truto_response_format"] = "stream"
        if cursor:
            params["next_cursor"] = cursor
        return encode_query(params)

    @property
    def keyed(self) -> bool:
        return bool(self.params.get("truto_key_by"))

    @property
    def response_format(self) -> str:
        return (
            "stream"
            if self.mode == "stream"
            else str(self.params.get("truto_response_format") or "unified")
        )


Emit = Callable[[Page], Awaitable[None]]


class Fetcher:
    """Sends list requests through one transport under shared retry and rate budgets."""

    def __init__(
        self,
        transport: Transport,
        *,
        retry: RetryPolicy,
        timeouts: Timeouts,
        budget: RateBudget | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._retry = retry
        self._timeouts = timeouts
        self._budget = budget
        self._limiter = RateLimiter(budget, clock) if budget is not None else None
        self._clock = clock

    async def walk(
        self,
        request: ListRequest,
        emit: Emit,
        *,
        start_cursor: str | None = None,
        stats: WalkStats | None = None,
    ) -> WalkStats:
        """Fetch every page of ``request`` from ``start_cursor``, handing parts to ``emit``."""
        stats = stats or WalkStats()
        walk = CursorWalk(start_cursor, max_pages=request.max_pages)
        index = 0
        while not walk.done:
            cursor = walk.request_cursor()
            # Only the cursor is kept: holding the page's metadata (and so its records)
            # while the next request is in flight costs the garbage collector dearly.
            next_cursor = await self._fetch_page(request, cursor, index, emit, stats)
            walk.advance(next_cursor)
            stats.pages += 1
            stats.last_cursor = next_cursor
            index += 1
        return stats

    async def _fetch_page(
        self,
        request: ListRequest,
        cursor: str | None,
        index: int,
        emit: Emit,
        stats: WalkStats,
    ) -> str | None:
        """Fetch one page (retrying as the policy allows); return its ``next_cursor``."""
        backoff = Backoff(self._retry)
        delivered = 0
        part = 0
        while True:
            # Records handed on by an earlier attempt at this page are skipped on retry.
            before = skip = delivered

            async def on_batch(records: list[Any]) -> None:
                nonlocal skip, delivered, part
                if skip:
                    if len(records) <= skip:
                        skip -= len(records)
                        return
                    records, skip = records[skip:], 0
                delivered += len(records)
                stats.records += len(records)
                await emit(Page(records, request.account_id, cursor, index, part, final=False))
                part += 1

            try:
                meta = await self._attempt(request, cursor, on_batch, stats)
            except TrutoError as err:
                if delivered > before:
                    # This attempt made progress (a long stream cut part-way): the retry
                    # budget is for attempts that get nowhere, so it starts again.
                    backoff.reset()
                delay = backoff.next_delay(err)
                if delay is None:
                    raise
                stats.retries += 1
                await anyio.sleep(delay)
                continue
            records = meta.records[skip:] if skip < len(meta.records) else []
            stats.records += len(records)
            count = meta.members.get("result_count")
            partial = meta.members.get("is_partial_response")
            await emit(
                Page(
                    records,
                    request.account_id,
                    cursor,
                    index,
                    part,
                    final=True,
                    next_cursor=meta.next_cursor,
                    result_count=count if isinstance(count, int) else None,
                    is_partial_response=partial if isinstance(partial, bool) else None,
                    meta=meta.members,
                )
            )
            return meta.next_cursor

    async def _attempt(
        self,
        request: ListRequest,
        cursor: str | None,
        on_batch: Callable[[list[Any]], Awaitable[None]],
        stats: WalkStats,
    ) -> BodyMeta:
        account = request.account_id
        slot = await self._limiter.acquire(account) if self._limiter is not None else None
        stats.requests += 1
        try:
            response = await self._transport.send(request.path, request.query(cursor))
        finally:
            if self._budget is not None and slot is not None:
                # The server counted the request before its answer came back.
                self._budget.settle(account, slot, self._clock())
        try:
            if self._budget is not None:
                self._budget.observe_headers(account, response.headers, self._clock())
            if response.status >= 300:
                raise await self._error(request, response, stats)
            content_type = response.headers.get("Content-Type")
            _check_content_type(content_type, request)
            source = _SafeSource(response.content, request.path)
            try:
                meta = await parse_body(
                    source,
                    content_type=content_type,
                    content_length=response.content_length,
                    emit=on_batch,
                    framing=request.framing,
                    keyed=request.keyed,
                    whole=request.response_format in ("debug", "raw"),
                    raw=request.response_format == "raw",
                )
            finally:
                stats.bytes += source.bytes_read
            return meta
        finally:
            response.release()

    async def _error(
        self, request: ListRequest, response: aiohttp.ClientResponse, stats: WalkStats
    ) -> TrutoError:
        body = await _read_error_body(response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        err = error_for_status(
            response.status,
            body,
            retry_after=retry_after,
            account_id=request.account_id,
            path=request.path,
        )
        if isinstance(err, RateLimited):
            stats.rate_limited += 1
            if self._budget is not None:
                self._budget.on_rate_limited(
                    request.account_id, retry_after, self._clock(), remote=err.is_remote
                )
        return err


def _check_content_type(content_type: str | None, request: ListRequest) -> None:
    if content_type is None:
        return
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind.startswith(("text/html", "image/", "audio/", "video/")):
        raise UnexpectedContentType(
            f"expected JSON, got content type {kind!r}",
            account_id=request.account_id,
            path=request.path,
        )


async def _read_error_body(response: aiohttp.ClientResponse) -> dict[str, Any] | None:
    try:
        data = await response.content.read(_ERROR_BODY_MAX)
        document = orjson.loads(data)
    except (aiohttp.ClientError, OSError, TimeoutError, orjson.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


class _SafeSource:
    """A response body reader whose failures are truto-stream errors."""

    def __init__(self, content: aiohttp.StreamReader, path: str) -> None:
        self._content = content
        self._path = path
        self.bytes_read = 0

    async def read(self, n: int = -1) -> bytes:
        try:
            data = await self._content.read(n)
        except aiohttp.ClientPayloadError:
            raise TruncatedBody(
                f"the connection closed mid-body after {self.bytes_read} bytes", path=self._path
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise translate_client_error(exc, self._path) from None
        self.bytes_read += len(data)
        return data

    def read_buffered(self, n: int) -> bytes:
        """What has already arrived, up to ``n`` bytes, without waiting (may be empty)."""
        try:
            data = self._content.read_nowait(n)
        except aiohttp.ClientPayloadError:
            raise TruncatedBody(
                f"the connection closed mid-body after {self.bytes_read} bytes", path=self._path
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise translate_client_error(exc, self._path) from None
        self.bytes_read += len(data)
        return data

    def at_eof(self) -> bool:
        return self._content.at_eof()
