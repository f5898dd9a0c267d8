"""``GET /unified/usage-metering/users`` and ``/users/{id}``: the request flow.

Checks (:mod:`.guards`), query parsing (:mod:`.params`), the page's fault and behaviour
(:mod:`.faults`), page planning (:mod:`.paging`), then the body (:mod:`.bodies`) sent by
:mod:`.sending`.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from truto_stream.emulator.bodies import debug_body, raw_body, unified_body
from truto_stream.emulator.cursors import CursorError
from truto_stream.emulator.data import Account
from truto_stream.emulator.faults import BEHAVIOURS, BODY_FAULTS, STATUS_FAULTS, choose_fault
from truto_stream.emulator.guards import Admitted, admit_account
from truto_stream.emulator.paging import Page, Start, plan_page, start_of
from truto_stream.emulator.params import DateError, ParamError, UsersQuery, parse_users_query
from truto_stream.emulator.remote import status_fault, vendor_rejected
from truto_stream.emulator.replies import error_reply
from truto_stream.emulator.sending import send_body, send_chunked
from truto_stream.emulator.state import STATE, EmulatorState

__all__ = ["USERS_PATH", "user_handler", "users_handler"]

USERS_PATH = "/unified/usage-metering/users"
#: Faults that come and go between attempts (behaviours stay for every attempt).
TRANSIENT = STATUS_FAULTS | BODY_FAULTS


async def _sleep_latency(st: EmulatorState) -> None:
    latency = st.latency_s()
    if latency > 0:
        await asyncio.sleep(latency)


async def user_handler(request: web.Request) -> web.StreamResponse:
    """``GET /unified/usage-metering/users/{id}``: one user, no envelope (no faults)."""
    st = request.app[STATE]
    admitted = admit_account(request, USERS_PATH + "/{id}")
    if isinstance(admitted, web.Response):
        return admitted
    acc, headers = admitted.account, admitted.headers
    try:
        q = _query(st, acc, request)
    except DateError as exc:
        return vendor_rejected(acc, str(exc), headers)
    except ParamError as exc:
        return error_reply(400, str(exc), headers)
    if q.response_format not in ("unified", "normalized", "raw"):
        return error_reply(400, f"truto_response_format={q.response_format} is not supported here")
    index = st.dataset.index_of(acc.id, request.match_info["id"])
    if index is None:
        return error_reply(404, "User not found.", headers)
    st.stats.by_format[q.response_format] += 1
    await _sleep_latency(st)
    if q.response_format == "raw":
        body = st.renderer.remote_records(acc, index, index + 1, date=q.date)
    else:
        body = st.renderer.record(acc, index, q.excluded, date=q.date)
    return web.Response(body=body, headers=headers, content_type="application/json",
                        charset="utf-8")  # fmt: skip


def _query(st: EmulatorState, acc: Account, request: web.Request) -> UsersQuery:
    items = list(request.query.items())
    return parse_users_query(acc.integration, items, today=st.config.today_date())


def _parse(st: EmulatorState, acc: Account, request: web.Request) -> tuple[UsersQuery, Start]:
    """The query and where it starts (raises ParamError / CursorError for a 400)."""
    q = _query(st, acc, request)
    return q, start_of(st, acc, q)


async def users_handler(request: web.Request) -> web.StreamResponse:
    """``GET /unified/usage-metering/users``."""
    st = request.app[STATE]
    admitted = admit_account(request, USERS_PATH)
    if isinstance(admitted, web.Response):
        return admitted
    acc = admitted.account
    try:
        q, start = _parse(st, acc, request)
    except DateError as exc:
        return vendor_rejected(acc, str(exc), admitted.headers)
    except (ParamError, CursorError) as exc:
        return error_reply(400, str(exc), admitted.headers)
    st.stats.by_format[q.response_format] += 1
    st.stats.list_query(acc.id, acc.integration, q.date, q.limit)
    if q.response_format == "stream":
        return await _stream(request, st, admitted, q, start)
    return await _paged(request, st, admitted, q, start)


async def _paged(
    request: web.Request, st: EmulatorState, admitted: Admitted, q: UsersQuery, start: Start
) -> web.StreamResponse:
    acc, headers = admitted.account, admitted.headers
    seed = st.config.seed
    attempt = st.next_attempt(acc.id, "paged", start.page, start.offset)
    # Behaviours (loop, empty) shape the page the same way on every attempt; transient
    # faults come and go. Choosing them apart keeps a retried page's content stable.
    behaviour = choose_fault(acc.faults, seed, acc.id, start.page, attempt, BEHAVIOURS)
    rule = choose_fault(acc.faults, seed, acc.id, start.page, attempt, TRANSIENT)
    if rule is not None and rule.kind in STATUS_FAULTS:
        return status_fault(st, acc, rule, admitted.token, headers)
    await _sleep_latency(st)
    page = plan_page(st, acc, q, start.offset, start.page, behaviour)
    body_rule = rule if rule is not None and rule.kind in BODY_FAULTS else None
    if q.response_format in ("unified", "normalized") and page.count > st.config.large_page_records:
        # A huge single page (a whole team in one page): chunked, never built whole.
        return await send_chunked(request, st, acc, q, page, "page", "after", headers, body_rule)
    if q.response_format == "raw":
        body = raw_body(st, acc, q, page)
    elif q.response_format == "debug":
        body = debug_body(st, acc, q, page, start.incoming)
    else:
        body = unified_body(st, acc, q, page)
    return await send_body(request, st, body, headers, body_rule)


async def _stream(
    request: web.Request, st: EmulatorState, admitted: Admitted, q: UsersQuery, start: Start
) -> web.StreamResponse:
    """``truto_response_format=stream``: chunked writes of rendered batches."""
    acc, headers = admitted.account, admitted.headers
    cfg = st.config
    framing = cfg.stream_framing
    paged = framing == "page"
    offset, page_index = (start.offset, start.page) if paged else (0, 0)
    attempt = st.next_attempt(acc.id, "stream", page_index, offset)
    behaviour = choose_fault(acc.faults, cfg.seed, acc.id, page_index, attempt, BEHAVIOURS)
    rule = choose_fault(acc.faults, cfg.seed, acc.id, page_index, attempt, TRANSIENT)
    if rule is not None and rule.kind in STATUS_FAULTS:
        return status_fault(st, acc, rule, admitted.token, headers)
    if paged:
        page = plan_page(st, acc, q, offset, page_index, behaviour)
    else:
        page = Page(0, acc.user_count, None)
    body_rule = rule if rule is not None and rule.kind in BODY_FAULTS else None
    await _sleep_latency(st)
    return await send_chunked(
        request, st, acc, q, page, framing, cfg.stream_meta, headers, body_rule
    )
