"""The aiohttp application: Truto's routes, envelopes, errors, limits and faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from truto_stream.emulator.config import EmulatorConfig
from truto_stream.emulator.cursors import CursorError
from truto_stream.emulator.data import Account
from truto_stream.emulator.faults import (
    BEHAVIOURS,
    BODY_FAULTS,
    STATUS_FAULTS,
    FaultRule,
    choose_fault,
)
from truto_stream.emulator.limits import Decision, format_seconds
from truto_stream.emulator.params import ParamError, UsersQuery, parse_bool, parse_users_query
from truto_stream.emulator.state import EmulatorState
from truto_stream.emulator.writer import MALFORMED, BodyWriter, ServerClosed

#: Faults that come and go between attempts (behaviours stay for every attempt).
TRANSIENT = STATUS_FAULTS | BODY_FAULTS

__all__ = ["STATE", "build_app"]

STATE = web.AppKey("truto_emulator_state", EmulatorState)
JSON = "application/json; charset=utf-8"
NDJSON = "application/x-ndjson"
USERS_PATH = "/unified/usage-metering/users"
_ADMIN_CURSOR_SCOPE = "integrated-account"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ---- helpers ---------------------------------------------------------------------------


def _error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"statusCode": status, "error": HTTPStatus(status).phrase, "message": message, **extra}


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(payload), content_type="application/json",
        charset="utf-8", headers=headers,
    )  # fmt: skip


def _error(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    return _json(status, _error_body(status, message, **extra), headers)


def _retry_after(st: EmulatorState, decision: Decision) -> str:
    value = st.config.retry_after
    if value == "window":
        return format_seconds(st.config.rate_window_s)
    if value == "reset":
        return format_seconds(max(decision.reset_s, 0.001))
    return format_seconds(float(value))


def _too_many(st: EmulatorState, decision: Decision, what: str) -> web.Response:
    st.stats.rate_limited_truto += 1
    headers = decision.headers()
    headers["Retry-After"] = _retry_after(st, decision)
    return _error(429, f"Rate limit exceeded for this {what}. Please retry later.", headers)


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


def _authenticate(request: web.Request) -> tuple[str | None, web.Response | None]:
    """The bearer token, or a 401 (the refused request is still counted in stats)."""
    st = request.app[STATE]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        st.stats.request(_route(request), None, None)
        return None, _error(401, "Missing or malformed Authorization header. Use: Bearer <token>.")
    if token not in st.tokens:
        st.stats.request(_route(request), token, None)
        return None, _error(401, "Invalid API token.")
    return token, None


# ---- middleware --------------------------------------------------------------------------


@web.middleware
async def _track(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Response gauges and status counts for every request."""
    st = request.app[STATE]
    stats = st.stats
    stats.in_progress += 1
    try:
        response = await handler(request)
    except (ConnectionError, asyncio.CancelledError):
        stats.aborted += 1
        raise
    finally:
        stats.in_progress -= 1
    stats.status[response.status] += 1
    if isinstance(response, web.Response) and response.body is not None:
        stats.bytes_sent += len(response.body)  # type: ignore[arg-type]
        stats.completed += 1
    return response


# ---- emulator control ------------------------------------------------------------------


async def stats_handler(request: web.Request) -> web.Response:
    """``GET /_emulator/stats``: what was served (no auth)."""
    st = request.app[STATE]
    return _json(200, st.stats.snapshot(st.connections()))


async def reset_handler(request: web.Request) -> web.Response:
    """``POST /_emulator/reset[?rate_limits=true&faults=true]``: clear stats (and more)."""
    st = request.app[STATE]
    try:
        rate_limits = parse_bool(request.query.get("rate_limits", "false"))
        faults = parse_bool(request.query.get("faults", "false"))
    except ParamError as exc:
        return _error(400, str(exc))
    st.reset(rate_limits=rate_limits, faults=faults)
    return _json(200, {"ok": True, "rate_limits": rate_limits, "faults": faults})


async def config_handler(request: web.Request) -> web.Response:
    """``GET /_emulator/config``: the running configuration (tokens fingerprinted)."""
    from truto_stream.emulator.stats import token_fingerprint

    cfg = request.app[STATE].config.to_dict()
    cfg["tokens"] = [token_fingerprint(t) for t in cfg["tokens"]]
    return _json(200, cfg)


# ---- admin: integrated accounts ----------------------------------------------------------


async def list_accounts(request: web.Request) -> web.Response:
    """``GET /integrated-account``: filtered, paged with ``next_cursor`` and ``limit``."""
    st = request.app[STATE]
    token, err = _authenticate(request)
    if err is not None:
        return err
    assert token is not None
    st.stats.request("/integrated-account", token, None)
    decision = st.token_window.hit(token, time.monotonic())
    if not decision.allowed:
        return _too_many(st, decision, "API token")
    q = request.query
    try:
        limit = int(q.get("limit") or st.config.admin_default_limit)
    except ValueError:
        return _error(400, "limit must be an integer")
    if not 1 <= limit <= 5000:
        return _error(400, "limit must be between 1 and 5000")
    accounts = st.dataset.accounts
    if "tenant_id" in q:
        accounts = [a for a in accounts if a.tenant_id == q["tenant_id"]]
    if "integration.name" in q:
        accounts = [a for a in accounts if a.integration == q["integration.name"]]
    if "status" in q:
        wanted = set(q["status"].split(","))
        accounts = [a for a in accounts if a.status in wanted]
    if "is_sandbox" in q:
        try:
            if parse_bool(q["is_sandbox"]):
                accounts = []
        except ParamError as exc:
            return _error(400, str(exc))
    offset = 0
    cursor = q.get("next_cursor")
    if cursor:
        try:
            offset = st.codec.decode(cursor, _ADMIN_CURSOR_SCOPE).offset
        except CursorError as exc:
            return _error(400, f"Invalid next_cursor: {exc}")
    page = accounts[offset : offset + limit]
    end = offset + len(page)
    next_cursor = st.codec.encode(_ADMIN_CURSOR_SCOPE, end, 0) if end < len(accounts) else None
    body = {"result": [a.to_admin() for a in page], "next_cursor": next_cursor, "limit": limit}
    return _json(200, body, decision.headers())


async def get_account(request: web.Request) -> web.Response:
    """``GET /integrated-account/{id}`` (includes ``is_blocked``)."""
    st = request.app[STATE]
    token, err = _authenticate(request)
    if err is not None:
        return err
    assert token is not None
    st.stats.request("/integrated-account/{id}", token, None)
    decision = st.token_window.hit(token, time.monotonic())
    if not decision.allowed:
        return _too_many(st, decision, "API token")
    acc = st.dataset.get_account(request.match_info["id"])
    if acc is None:
        return _error(404, "Integrated account not found.")
    return _json(200, acc.to_admin(), decision.headers())


# ---- unified users -----------------------------------------------------------------------


def _vendor_request(
    acc: Account, q: UsersQuery, vendor_cursor: str | None
) -> tuple[str, dict[str, Any]]:
    params: dict[str, str] = {}
    if acc.integration == "claude":
        url = "https://api.anthropic.com/v1/organizations/analytics/users"
        params = {"date": q.date or "", "limit": str(q.limit)}
        if vendor_cursor:
            params["page"] = vendor_cursor
        headers = {"x-api-key": "[redacted]", "anthropic-version": "2023-06-01"}
    elif acc.integration == "openai":
        url = "https://api.openai.com/v1/organization/users"
        params = {"limit": str(q.limit)}
        if vendor_cursor:
            params["after"] = vendor_cursor
        headers = {"authorization": "[redacted]"}
    else:
        url = "https://api.cursor.com/teams/members"
        headers = {"authorization": "[redacted]"}
    params.update(q.remote_query)
    if params:
        url += "?" + urlencode(params)
    return url, {"method": "GET", "headers": headers}


def _remote_error_extra(acc: Account, status: int, raw: Any, insight_key: str) -> dict[str, Any]:
    insight: dict[str, Any] = {
        "remote_error": {
            "description": f"The {acc.integration} API returned an error ({status}).",
            "value": raw,
        }
    }
    if insight_key == "rate_limit_error":
        insight["rate_limit_error"] = {
            "description": f"The {acc.integration} API rate limit was exceeded; retry after "
            "the Retry-After header."
        }
    return {"truto_is_remote_error": True, "raw_response": raw, "truto_error_insight": insight}


def _vendor_429(acc: Account, retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
    ra = format_seconds(retry_after)
    if acc.integration == "claude":
        raw: Any = {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": "Rate limit exceeded"},
        }
        headers = {"anthropic-ratelimit-requests-remaining": "0"}
    elif acc.integration == "openai":
        raw = {
            "error": {
                "message": "Rate limit reached for requests",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
        headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": f"{ra}s"}
    else:
        raw = {
            "error": "Too Many Requests",
            "message": "Rate limit exceeded. Please try again later.",
        }
        headers = {}
    headers["Retry-After"] = ra
    return raw, headers


def _vendor_401(acc: Account) -> Any:
    if acc.integration == "claude":
        return {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        }
    if acc.integration == "openai":
        return {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                          "param": None, "code": "invalid_api_key"}}  # fmt: skip
    return {"error": "Unauthorized", "message": "Invalid API key"}


def _status_fault(
    st: EmulatorState, acc: Account, rule: FaultRule, headers: dict[str, str]
) -> web.Response:
    st.stats.faults[rule.kind] += 1
    if rule.kind == "remote429":
        st.stats.rate_limited_remote += 1
        retry = rule.arg if rule.arg is not None else st.config.remote_retry_after_s
        raw, vendor_headers = _vendor_429(acc, retry)
        extra = _remote_error_extra(acc, 429, raw, "rate_limit_error")
        return _error(429, "", {**headers, **vendor_headers}, **extra)
    status = int(rule.kind)
    message = {
        500: "Internal server error (emulated).",
        502: f"Bad gateway: no clean response from {acc.integration} (emulated).",
        504: f"Gateway timeout: {acc.integration} did not answer in time (emulated).",
    }[status]
    return _error(status, message, headers)


class _Page:
    """One page of an account: records ``start .. stop-1`` and the cursor after it."""

    def __init__(self, start: int, stop: int, next_cursor: str | None, looping: bool) -> None:
        self.start = start
        self.stop = stop
        self.next_cursor = next_cursor
        self.looping = looping

    @property
    def count(self) -> int:
        return self.stop - self.start


def _plan_page(
    st: EmulatorState, acc: Account, q: UsersQuery, offset: int, page: int, rule: FaultRule | None
) -> _Page:
    n = acc.user_count
    start = min(offset, n)
    if rule is not None and rule.kind == "empty":
        return _Page(start, start, st.codec.encode(acc.id, start, page + 1), False)
    stop = n if q.limit is None else min(start + q.limit, n)
    if rule is not None and rule.kind == "loop":
        return _Page(start, stop, st.codec.encode(acc.id, offset, page), True)
    next_cursor = st.codec.encode(acc.id, stop, page + 1) if stop < n else None
    return _Page(start, stop, next_cursor, False)


def _records(st: EmulatorState, acc: Account, q: UsersQuery, start: int, stop: int) -> bytes:
    if q.key_by is not None:
        return st.renderer.keyed_records(acc, start, stop, q.excluded, q.key_by)
    return st.renderer.cached_records(acc, start, stop, q.excluded)


def _envelope_meta(st: EmulatorState, next_cursor: str | None, count: int) -> bytes:
    partial = False if st.config.is_partial_response else None
    return st.renderer.meta(next_cursor, count, partial)


def _unified_body(st: EmulatorState, acc: Account, q: UsersQuery, page: _Page) -> bytes:
    records = _records(st, acc, q, page.start, page.stop)
    partial = False if st.config.is_partial_response else None
    return st.renderer.envelope(
        records, page.next_cursor, page.count, keyed=q.key_by is not None, partial=partial
    )


def _vendor_next(acc: Account, st: EmulatorState, page: _Page) -> str | None:
    if page.next_cursor is None:
        return None
    if acc.integration == "openai":
        return st.dataset.user_id(acc.id, page.stop - 1) if page.stop > page.start else None
    return page.next_cursor


def _raw_body(st: EmulatorState, acc: Account, page: _Page) -> bytes:
    return st.renderer.raw_page(acc, page.start, page.stop, _vendor_next(acc, st, page))


def _debug_body(
    st: EmulatorState, acc: Account, q: UsersQuery, page: _Page, incoming: str | None
) -> bytes:
    url, options = _vendor_request(acc, q, incoming)
    vendor_headers = {"content-type": "application/json"}
    return (
        b'{"result":'
        + _unified_body(st, acc, q, page)
        + b',"debug":{"requestUrl":'
        + orjson.dumps(url)
        + b',"requestOptions":'
        + orjson.dumps(options)
        + b',"data":'
        + _raw_body(st, acc, page)
        + b',"responseHeaders":'
        + orjson.dumps(vendor_headers)
        + b',"nextCursor":'
        + orjson.dumps(page.next_cursor)
        + b',"isLooping":'
        + (b"true" if page.looping else b"false")
        + b',"isEmptyResult":'
        + (b"true" if page.count == 0 else b"false")
        + b',"resultCount":'
        + str(page.count).encode()
        + b"}}"
    )


async def _send_body(
    request: web.Request,
    st: EmulatorState,
    body: bytes,
    headers: dict[str, str],
    rule: FaultRule | None,
) -> web.StreamResponse:
    """A whole, known body with ``Content-Length``; body faults damage it part-way."""
    if rule is not None and rule.kind == "malformed":
        at = int(rule.arg) if rule.arg is not None else len(body) // 2
        body = body[:at] + MALFORMED + body[at:]
        st.stats.faults["malformed"] += 1
        rule = None
    if rule is None and st.config.bandwidth_bps <= 0:
        # Fast path: aiohttp writes headers and body in one go (the middleware counts it).
        return web.Response(body=body, headers=headers, content_type="application/json",
                            charset="utf-8")  # fmt: skip
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = "application/json"
    response.charset = "utf-8"
    response.content_length = len(body)
    await response.prepare(request)
    trigger = None
    if rule is not None:
        trigger = int(rule.arg) if rule.arg is not None else len(body) // 2
    writer = BodyWriter(
        request, response, st.stats, fault=rule, trigger_at=trigger,
        bandwidth_bps=st.config.bandwidth_bps,
    )  # fmt: skip
    return await _finish(st, response, writer.write(body))


async def _unified_preamble(
    request: web.Request, route: str
) -> tuple[Account, dict[str, str]] | web.Response:
    """Auth, limits and account checks shared by the unified routes.

    Returns the account and the ``ratelimit-*`` headers, or the error response.
    """
    st = request.app[STATE]
    token, err = _authenticate(request)
    if err is not None:
        return err
    assert token is not None
    now = time.monotonic()
    st.stats.request(route, token, None)
    tok = st.token_window.hit(token, now)
    if not tok.allowed:
        return _too_many(st, tok, "API token")
    acc_id = request.query.get("integrated_account_id")
    if not acc_id:
        return _error(
            400,
            "integrated_account_id is required",
            tok.headers(),
            truto_error_insight={
                "missing_required_query_parameters": {
                    "description": "These query parameters are required.",
                    "value": ["integrated_account_id"],
                }
            },
        )
    acc = st.dataset.get_account(acc_id)
    if acc is None:
        return _error(404, "Integrated account not found.", tok.headers())
    st.stats.account_hit(acc.id)
    decision = st.account_window.hit(acc.id, now) if st.config.account_limit > 0 else tok
    headers = decision.headers() if decision.limit > 0 else {}
    if not decision.allowed:
        return _too_many(st, decision, "integrated account")
    if acc.is_blocked:
        return _error(503, "This integrated account is blocked. Contact support.", headers)
    if acc.status != "active":
        raw = _vendor_401(acc)
        return _error(
            401,
            f"The integrated account needs to be re-authenticated (status: {acc.status}).",
            headers,
            **_remote_error_extra(acc, 401, raw, "remote_error"),
        )
    return acc, headers


async def user_handler(request: web.Request) -> web.StreamResponse:
    """``GET /unified/usage-metering/users/{id}``: one user, no envelope (no faults)."""
    st = request.app[STATE]
    checked = await _unified_preamble(request, USERS_PATH + "/{id}")
    if isinstance(checked, web.Response):
        return checked
    acc, headers = checked
    try:
        q = parse_users_query(acc.integration, list(request.query.items()))
    except ParamError as exc:
        return _error(400, str(exc), headers)
    if q.response_format not in ("unified", "normalized", "raw"):
        return _error(400, f"truto_response_format={q.response_format} is not supported here")
    index = st.dataset.index_of(acc.id, request.match_info["id"])
    if index is None:
        return _error(404, "User not found.", headers)
    st.stats.by_format[q.response_format] += 1
    latency = st.latency_s()
    if latency > 0:
        await asyncio.sleep(latency)
    if q.response_format == "raw":
        body = st.renderer.remote_records(acc, index, index + 1)
    else:
        body = st.renderer.record(acc, index, q.excluded)
    return web.Response(body=body, headers=headers, content_type="application/json",
                        charset="utf-8")  # fmt: skip


async def users_handler(request: web.Request) -> web.StreamResponse:
    """``GET /unified/usage-metering/users``."""
    st = request.app[STATE]
    checked = await _unified_preamble(request, USERS_PATH)
    if isinstance(checked, web.Response):
        return checked
    acc, headers = checked
    try:
        q = parse_users_query(acc.integration, list(request.query.items()))
        offset, page_index = 0, 0
        incoming = q.next_cursor
        if q.next_cursor is not None:
            state = st.codec.decode(q.next_cursor, acc.id)
            offset, page_index = state.offset, state.page
        elif q.vendor_cursor is not None:
            offset, page_index, incoming = _vendor_cursor(st, acc, q)
    except (ParamError, CursorError) as exc:
        return _error(400, str(exc), headers)
    st.stats.by_format[q.response_format] += 1
    if q.response_format == "stream":
        return await _stream(request, st, acc, q, offset, page_index, headers)
    attempt = st.next_attempt(acc.id, "paged", page_index, offset)
    # Behaviours (loop, empty) shape the page the same way on every attempt; transient
    # faults come and go. Choosing them apart keeps a retried page's content stable.
    behaviour = choose_fault(acc.faults, st.config.seed, acc.id, page_index, attempt, BEHAVIOURS)
    rule = choose_fault(acc.faults, st.config.seed, acc.id, page_index, attempt, TRANSIENT)
    if rule is not None and rule.kind in STATUS_FAULTS:
        return _status_fault(st, acc, rule, headers)
    latency = st.latency_s()
    if latency > 0:
        await asyncio.sleep(latency)
    page = _plan_page(st, acc, q, offset, page_index, behaviour)
    body_rule = rule if rule is not None and rule.kind in BODY_FAULTS else None
    if q.response_format in ("unified", "normalized") and page.count > st.config.large_page_records:
        # A huge single page (Cursor returns the whole team): chunked, never built whole.
        return await _chunked(request, st, acc, q, page, "page", "after", headers, body_rule)
    if q.response_format == "raw":
        body = _raw_body(st, acc, page)
    elif q.response_format == "debug":
        body = _debug_body(st, acc, q, page, incoming)
    else:
        body = _unified_body(st, acc, q, page)
    return await _send_body(request, st, body, headers, body_rule)


def _vendor_cursor(st: EmulatorState, acc: Account, q: UsersQuery) -> tuple[int, int, str]:
    """The unified ``cursor`` param: Claude's ``page`` token or OpenAI's ``after`` id."""
    token = q.vendor_cursor or ""
    if acc.integration == "openai":
        index = st.dataset.index_of(acc.id, token)
        if index is None:
            raise ParamError(f"cursor {token!r} is not a user of this account")
        offset = index + 1
        return offset, offset // (q.limit or 1), token
    if acc.integration == "claude":
        state = st.codec.decode(token, acc.id)
        return state.offset, state.page, token
    return 0, 0, token


# ---- stream ------------------------------------------------------------------------------


async def _stream(
    request: web.Request,
    st: EmulatorState,
    acc: Account,
    q: UsersQuery,
    offset: int,
    page_index: int,
    headers: dict[str, str],
) -> web.StreamResponse:
    """``truto_response_format=stream``: chunked writes of rendered batches."""
    cfg = st.config
    framing = cfg.stream_framing
    paged = framing == "page"
    if not paged:
        offset, page_index = 0, 0
    attempt = st.next_attempt(acc.id, "stream", page_index, offset)
    behaviour = choose_fault(acc.faults, cfg.seed, acc.id, page_index, attempt, BEHAVIOURS)
    rule = choose_fault(acc.faults, cfg.seed, acc.id, page_index, attempt, TRANSIENT)
    if rule is not None and rule.kind in STATUS_FAULTS:
        return _status_fault(st, acc, rule, headers)
    if paged:
        page = _plan_page(st, acc, q, offset, page_index, behaviour)
    else:
        page = _Page(0, acc.user_count, None, False)
    body_rule = rule if rule is not None and rule.kind in BODY_FAULTS else None
    latency = st.latency_s()
    if latency > 0:
        await asyncio.sleep(latency)
    return await _chunked(request, st, acc, q, page, framing, cfg.stream_meta, headers, body_rule)


async def _chunked(
    request: web.Request,
    st: EmulatorState,
    acc: Account,
    q: UsersQuery,
    page: _Page,
    framing: str,
    meta_at: str,
    headers: dict[str, str],
    body_rule: FaultRule | None,
) -> web.StreamResponse:
    """A chunked response written batch by batch (never built whole)."""
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = NDJSON if framing == "ndjson" else "application/json"
    if framing != "ndjson":
        response.charset = "utf-8"
    response.enable_chunked_encoding()
    await response.prepare(request)
    trigger = int(body_rule.arg) if body_rule is not None and body_rule.arg is not None else None
    writer = BodyWriter(
        request, response, st.stats, fault=body_rule, trigger_at=trigger,
        bandwidth_bps=st.config.bandwidth_bps,
    )  # fmt: skip
    return await _finish(st, response, _write_stream(st, writer, acc, q, page, framing, meta_at))


async def _finish(
    st: EmulatorState, response: web.StreamResponse, body: Coroutine[Any, Any, None]
) -> web.StreamResponse:
    """Write a streamed body to its end, counting how the response ended."""
    try:
        await body
        await response.write_eof()
    except ServerClosed:
        st.stats.closed_by_fault += 1
    except ConnectionError:
        st.stats.aborted += 1
    else:
        st.stats.completed += 1
    return response


async def _write_stream(
    st: EmulatorState,
    writer: BodyWriter,
    acc: Account,
    q: UsersQuery,
    page: _Page,
    framing: str,
    meta_at: str,
) -> None:
    cfg = st.config
    keyed = q.key_by is not None and framing in ("envelope", "page")
    meta = _envelope_meta(st, page.next_cursor, page.count)
    opener, closer = (b"{", b"}") if keyed else (b"[", b"]")
    if framing == "ndjson":
        head, tail = b"", b""
    elif framing == "array":
        head, tail = b"[", b"]"
    elif meta_at == "before":
        head, tail = b"{" + meta + b',"result":' + opener, closer + b"}"
    elif meta_at == "both":
        count = b'"result_count":' + str(page.count).encode()
        rest = meta.replace(b',"result_count":' + str(page.count).encode(), b"")
        head, tail = b"{" + count + b',"result":' + opener, closer + b"," + rest + b"}"
    else:
        head, tail = b'{"result":' + opener, closer + b"," + meta + b"}"
    await writer.write(head)
    batch = cfg.stream_batch
    vendor_page = q.limit or page.count or 1
    middle = page.start + page.count // 2
    first = True
    next_latency_at = page.start + vendor_page
    pos = page.start
    while pos < page.stop:
        end = min(pos + batch, page.stop, next_latency_at)
        if framing == "ndjson":
            chunk = st.renderer.records(acc, pos, end, q.excluded, "\n") + b"\n"
        else:
            if keyed:
                chunk = st.renderer.keyed_records(acc, pos, end, q.excluded, q.key_by or "id")
            else:
                chunk = st.renderer.records(acc, pos, end, q.excluded)
            if not first and chunk:
                chunk = b"," + chunk
        if chunk:
            first = False
        await writer.write(chunk, arm=pos <= middle < end)
        pos = end
        if pos == next_latency_at and pos < page.stop:
            next_latency_at += vendor_page
            latency = st.latency_s()  # one simulated upstream page per `limit` records
            if latency > 0:
                await asyncio.sleep(latency)
        transport = writer.request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client went away")
    await writer.write(tail, arm=True)


# ---- application -------------------------------------------------------------------------


def build_app(config: EmulatorConfig | EmulatorState) -> web.Application:
    """The aiohttp application for ``config`` (or an existing state)."""
    state = config if isinstance(config, EmulatorState) else EmulatorState(config)
    app = web.Application(middlewares=[_track])
    app[STATE] = state
    app.router.add_get("/_emulator/stats", stats_handler)
    app.router.add_post("/_emulator/reset", reset_handler)
    app.router.add_get("/_emulator/config", config_handler)
    app.router.add_get("/integrated-account", list_accounts)
    app.router.add_get("/integrated-account/{id}", get_account)
    app.router.add_get(USERS_PATH, users_handler)
    app.router.add_get(USERS_PATH + "/{id}", user_handler)
    return app
