"""The fetch loop driven by an in-memory transport: retries, skip-on-retry, 429s, labels.

No sockets here: :mod:`tests.unit.fake_transport` answers each request from a script, so
each path of the loop is reached on purpose. The same paths over real HTTP are in
``tests/client/``.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truto_stream._fetch import Fetcher, ListRequest, WalkStats
from truto_stream._parse import MIN_READ_BYTES, PAGE_BUFFER_BYTES
from truto_stream._ratelimit import RateBudget
from truto_stream._retry import RetryPolicy
from truto_stream.errors import (
    AccountBlocked,
    BadRequest,
    CursorLoop,
    MalformedBody,
    PageLimitExceeded,
    RateLimited,
    RequestTimeout,
    ServerError,
    TruncatedBody,
    UnexpectedContentType,
)
from truto_stream.page import Page

from .fake_transport import FakeTransport, Reply, Sent, scripted

NO_WAIT = RetryPolicy(
    max_attempts=4, base_delay=0.0, max_delay=0.0, max_retry_after=0.2, retry_after_jitter=0.0
)
ACCOUNT = "acc-1"
PATH = "/unified/usage-metering/users"


def users(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"id": f"u{i:05d}", "name": f"user {i}"} for i in range(start, stop)]


def request(**kwargs: Any) -> ListRequest:
    return ListRequest.unified("usage-metering", "users", account_id=ACCOUNT, **kwargs)


async def walk(
    transport: FakeTransport,
    req: ListRequest | None = None,
    *,
    retry: RetryPolicy = NO_WAIT,
    budget: RateBudget | None = None,
    start_cursor: str | None = None,
) -> tuple[list[Page], WalkStats]:
    pages: list[Page] = []

    async def sink(page: Page) -> None:
        pages.append(page)

    fetcher = Fetcher(transport, retry=retry, budget=budget)
    stats = await fetcher.walk(req or request(), sink, start_cursor=start_cursor)
    return pages, stats


def ids(pages: list[Page]) -> list[str]:
    return [r["id"] for p in pages for r in p.records]


def paged(total: int, per_page: int) -> FakeTransport:
    """A healthy paged list: cursor ``cN`` is the page starting at record N."""

    def answer(sent: Sent, _: int) -> Reply:
        start = int(sent.cursor[1:]) if sent.cursor else 0
        stop = min(total, start + per_page)
        nxt = f"c{stop}" if stop < total else None
        return Reply.json({"result": users(start, stop), "next_cursor": nxt})

    return FakeTransport(answer)


@pytest.mark.anyio
async def test_a_healthy_walk_follows_cursors_and_counts_once() -> None:
    transport = paged(250, 100)
    pages, stats = await walk(transport)
    assert ids(pages) == [u["id"] for u in users(0, 250)]
    assert [p.index for p in pages] == [0, 1, 2]
    assert [p.cursor for p in pages] == [None, "c100", "c200"]
    assert [p.next_cursor for p in pages] == ["c100", "c200", None]
    assert all(p.final and p.account_id == ACCOUNT for p in pages)
    assert (stats.pages, stats.requests, stats.records, stats.retries) == (3, 3, 250, 0)
    assert stats.bytes == transport.served_bytes
    assert [s.cursor for s in transport.sent] == [None, "c100", "c200"]
    assert transport.sent[0].query["integrated_account_id"] == [ACCOUNT]
    assert transport.released == 3


@pytest.mark.anyio
async def test_a_page_may_arrive_whole_a_stream_keeps_its_read_share() -> None:
    # A walk of many at once reads little (its share); its pages still arrive without
    # the connection pausing and resuming once per page, but a stream buffers its share.
    transport = paged(250, 100)
    await walk(transport, request(read_bytes=MIN_READ_BYTES))
    assert transport.read_bytes == [PAGE_BUFFER_BYTES] * 3
    transport = scripted([Reply.json({"result": users(0, 3), "next_cursor": None})])
    await walk(transport, request(mode="stream", read_bytes=MIN_READ_BYTES))
    assert transport.read_bytes == [MIN_READ_BYTES]
    transport = paged(10, 10)
    await walk(transport, request(read_bytes=4 * PAGE_BUFFER_BYTES))
    assert transport.read_bytes == [4 * PAGE_BUFFER_BYTES]


@pytest.mark.anyio
async def test_resume_from_a_cursor_indexes_from_zero() -> None:
    pages, stats = await walk(paged(250, 100), start_cursor="c100")
    assert ids(pages) == [u["id"] for u in users(100, 250)]
    assert [p.index for p in pages] == [0, 1]
    assert stats.pages == 2


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_transient_server_error_is_retried_on_the_same_cursor(status: int) -> None:
    good = paged(150, 100)

    def answer(sent: Sent, i: int) -> Reply:
        if i == 1:  # the second page fails once
            return Reply.json({"statusCode": status, "error": "Oops"}, status=status)
        return good._answer(sent, i)

    transport = FakeTransport(answer)
    pages, stats = await walk(transport)
    assert ids(pages) == [u["id"] for u in users(0, 150)]
    assert [s.cursor for s in transport.sent] == [None, "c100", "c100"]
    assert (stats.requests, stats.retries, stats.pages) == (3, 1, 2)
    assert transport.released == 3


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "error"), [(400, BadRequest), (503, AccountBlocked)])
async def test_final_errors_are_raised_at_once_with_truto_fields(
    status: int, error: type[Exception]
) -> None:
    body = {"statusCode": status, "error": "Nope", "message": "because", "truto_error_insight": {}}
    transport = scripted([Reply.json(body, status=status, split=7)])
    with pytest.raises(error) as info:
        await walk(transport)
    err = info.value
    assert (err.status, err.error, err.truto_message) == (status, "Nope", "because")  # type: ignore[attr-defined]
    assert (err.account_id, err.path) == (ACCOUNT, PATH)  # type: ignore[attr-defined]
    assert len(transport.sent) == 1


@pytest.mark.anyio
async def test_an_error_body_that_is_not_json_still_gives_the_typed_error() -> None:
    transport = scripted([Reply(400, [b"<html>", b"bad"], {"Content-Type": "text/html"})])
    with pytest.raises(BadRequest) as info:
        await walk(transport)
    assert info.value.error is None


@pytest.mark.anyio
async def test_retries_give_up_after_max_attempts() -> None:
    transport = scripted([Reply.json({"error": "x"}, status=502)] * 10)
    with pytest.raises(ServerError):
        await walk(transport)
    assert len(transport.sent) == NO_WAIT.max_attempts


@pytest.mark.anyio
async def test_a_429_waits_for_retry_after_and_pauses_the_account_budget() -> None:
    budget = RateBudget(token_limit=1000, account_limit=1000, window=1.0, safety_fraction=0)
    times: list[float] = []
    good = paged(50, 100)

    def answer(sent: Sent, i: int) -> Reply:
        times.append(time.monotonic())
        if i == 0:
            return Reply.json({"statusCode": 429}, status=429, headers={"Retry-After": "0.05"})
        return good._answer(sent, i)

    transport = FakeTransport(answer)
    pages, stats = await walk(transport, budget=budget)
    assert ids(pages) == [u["id"] for u in users(0, 50)]
    assert (stats.rate_limited, stats.retries, stats.requests) == (1, 1, 2)
    assert times[1] - times[0] >= 0.05
    assert budget.blocked_until(ACCOUNT) > 0  # the account's window was paused


@pytest.mark.anyio
async def test_429s_exhaust_the_retry_budget_as_rate_limited() -> None:
    transport = scripted(
        [Reply.json({"truto_is_remote_error": True}, status=429, headers={"Retry-After": "0"})] * 10
    )
    with pytest.raises(RateLimited) as info:
        await walk(transport)
    assert info.value.is_remote
    assert len(transport.sent) == NO_WAIT.max_attempts


def _cut_stream(total: int, cut_at: list[int]) -> FakeTransport:
    """An NDJSON stream of ``total`` records, cut after ``cut_at[i]`` records on attempt i."""
    lines = [orjson_line(u) for u in users(0, total)]

    def answer(_: Sent, i: int) -> Reply:
        upto = cut_at[i] if i < len(cut_at) else total
        chunks = lines[:upto]
        fail = TruncatedBody("cut") if upto < total else None
        return Reply(200, chunks, {"Content-Type": "application/x-ndjson"}, fail=fail)

    return FakeTransport(answer)


def orjson_line(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


@pytest.mark.anyio
async def test_a_retried_stream_skips_what_it_delivered() -> None:
    transport = _cut_stream(3_000, [1_000, 500, 2_000])
    pages, stats = await walk(transport, request(mode="stream"))
    assert ids(pages) == [u["id"] for u in users(0, 3_000)]
    assert [p.part for p in pages] == list(range(len(pages)))
    assert [p.final for p in pages] == [False] * (len(pages) - 1) + [True]
    assert {p.index for p in pages} == {0}
    assert stats.retries == 3
    assert stats.records == 3_000


@pytest.mark.anyio
async def test_attempts_that_progress_restart_the_retry_budget() -> None:
    # Six cuts in a row, more than max_attempts=4, each further in: the walk finishes.
    transport = _cut_stream(700, [100, 200, 300, 400, 500, 600])
    pages, _ = await walk(transport, request(mode="stream"))
    assert ids(pages) == [u["id"] for u in users(0, 700)]


@pytest.mark.anyio
async def test_attempts_that_do_not_progress_give_up() -> None:
    transport = _cut_stream(700, [100] * 10)
    with pytest.raises(TruncatedBody):
        await walk(transport, request(mode="stream"))
    # The budget restarts with the attempt that progressed, which counts as its first.
    assert len(transport.sent) == NO_WAIT.max_attempts


@settings(max_examples=40)
@given(cuts=st.lists(st.integers(0, 400), max_size=6))
def test_any_sequence_of_cuts_delivers_each_record_once(cuts: list[int]) -> None:
    retry = RetryPolicy(max_attempts=20, base_delay=0.0, max_delay=0.0)
    pages, _ = anyio.run(
        lambda: walk(_cut_stream(400, cuts), request(mode="stream"), retry=retry),
        backend="asyncio",
    )
    assert ids(pages) == [u["id"] for u in users(0, 400)]


@pytest.mark.anyio
async def test_a_timeout_while_reading_is_retried() -> None:
    good = paged(120, 100)

    def answer(sent: Sent, i: int) -> Reply:
        if i == 0:
            return Reply(200, [b'{"result": [{"id"'], fail=RequestTimeout("idle"))
        return good._answer(sent, i)

    pages, stats = await walk(FakeTransport(answer))
    assert ids(pages) == [u["id"] for u in users(0, 120)]
    assert stats.retries == 1


@pytest.mark.anyio
async def test_persistent_malformed_body_gives_up() -> None:
    transport = scripted([Reply(200, [b'{"result": [{"id": 1}, oops'])] * 10)
    with pytest.raises(MalformedBody):
        await walk(transport)
    assert len(transport.sent) == NO_WAIT.max_attempts


@pytest.mark.anyio
async def test_html_is_refused_without_retry() -> None:
    transport = scripted([Reply(200, [b"<html></html>"], {"Content-Type": "text/html"})] * 3)
    with pytest.raises(UnexpectedContentType):
        await walk(transport)
    assert len(transport.sent) == 1


@pytest.mark.anyio
async def test_a_looping_cursor_names_the_account_and_path() -> None:
    def answer(sent: Sent, _: int) -> Reply:
        return Reply.json({"result": users(0, 2), "next_cursor": "same"})

    with pytest.raises(CursorLoop) as info:
        await walk(FakeTransport(answer))
    assert (info.value.account_id, info.value.path) == (ACCOUNT, PATH)


@pytest.mark.anyio
async def test_the_page_cap_names_the_account_and_path() -> None:
    with pytest.raises(PageLimitExceeded) as info:
        await walk(paged(1_000, 100), request(max_pages=3))
    assert (info.value.account_id, info.value.path) == (ACCOUNT, PATH)


@pytest.mark.anyio
async def test_errors_leave_the_loop_scrubbed_escaped_and_labelled() -> None:
    body = {"error": "fake-token", "message": "echo Bearer fake-token \x1b[2J"}
    transport = scripted([Reply.json(body, status=400)])
    with pytest.raises(BadRequest) as info:
        await walk(transport)
    assert "fake-token" not in repr(info.value) + repr(vars(info.value))
    assert "\x1b" not in str(info.value)
    # A body error raised below the loop, knowing neither account nor path, is labelled.
    transport = scripted([Reply(200, [b'{"result": [fake-token'])] * NO_WAIT.max_attempts)
    with pytest.raises(MalformedBody) as malformed:
        await walk(transport)
    assert (malformed.value.account_id, malformed.value.path) == (ACCOUNT, PATH)
    assert "fake-token" not in repr(malformed.value)


def _full_query(req: ListRequest, cursor: str | None) -> str:
    """The query as encoded whole for each page (before the per-walk cache)."""
    from truto_stream._query import encode_query

    params = dict(req.params)
    if req.account_id is not None:
        params["integrated_account_id"] = req.account_id
    if req.mode == "stream":
        params["truto_response_format"] = "stream"
    if cursor:
        params["next_cursor"] = cursor
    return encode_query(params)


_names = st.sampled_from(["limit", "next_cursor", "integrated_account_id", "a b", "x[y]", "é"])
_values = st.one_of(st.none(), st.text(max_size=8), st.integers(), st.booleans())


@settings(max_examples=300, deadline=None)
@given(
    params=st.dictionaries(_names, _values, max_size=5),
    account=st.one_of(st.none(), st.text(min_size=1, max_size=6)),
    mode=st.sampled_from(["paged", "stream"]),
    cursors=st.lists(
        st.one_of(
            st.none(),
            st.text(max_size=12),
            # base64(url) cursors, kept as they are when quote() would keep them
            st.from_regex(r"[A-Za-z0-9_.~=+/-]{0,16}", fullmatch=True),
        ),
        max_size=4,
    ),
)
def test_query_encoded_once_per_walk_is_the_full_encoding(
    params: dict[str, Any], account: str | None, mode: Any, cursors: list[str | None]
) -> None:
    req = ListRequest("/unified/m/r", params, account, mode)
    for cursor in cursors:
        assert req.query(cursor) == _full_query(req, cursor)


@settings(max_examples=300, deadline=None)
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["limit", "next_cursor", "integrated_account_id", "truto_response_format", "a b", "é"]
        ),
        _values,
        max_size=5,
    ),
    template_account=st.text(min_size=1, max_size=6),
    account=st.one_of(
        st.text(min_size=1, max_size=8), st.from_regex(r"[A-Za-z0-9_.~-]{1,12}", fullmatch=True)
    ),
    mode=st.sampled_from(["paged", "stream"]),
    cursor=st.one_of(st.none(), st.text(max_size=12)),
)
def test_a_request_for_another_account_is_the_request_built_for_it(
    params: dict[str, Any], template_account: str, account: str, mode: Any, cursor: str | None
) -> None:
    """A sweep's per-account requests come from one template: each is the request (and
    the query, first page or later) that building it for the account would give."""
    template = ListRequest("/unified/m/r", params, template_account, mode)
    template.query(None)  # what is cached of the template must not leak into the copy
    built = ListRequest("/unified/m/r", params, account, mode)
    copied = template.for_account(account)
    assert copied == built
    assert copied.account_id == account
    assert copied.query(cursor) == _full_query(built, cursor)
    assert copied.read_size == built.read_size
    assert copied.response_format == built.response_format
