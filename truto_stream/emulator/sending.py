"""Sending bodies: whole ones with ``Content-Length``, or chunked batch by batch.

Body faults (``cut``, ``reset``, ``stall``, ``malformed``) fire part-way through, and
the stats count how each response ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from truto_stream.emulator.bodies import envelope_meta
from truto_stream.emulator.data import Account
from truto_stream.emulator.faults import FaultRule
from truto_stream.emulator.paging import Page
from truto_stream.emulator.params import UsersQuery
from truto_stream.emulator.state import EmulatorState
from truto_stream.emulator.writer import MALFORMED, BodyWriter, ServerClosed

__all__ = ["NDJSON", "send_body", "send_chunked"]

NDJSON = "application/x-ndjson"


async def send_body(
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


async def send_chunked(
    request: web.Request,
    st: EmulatorState,
    acc: Account,
    q: UsersQuery,
    page: Page,
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


def _frame(
    st: EmulatorState, page: Page, framing: str, meta_at: str, keyed: bool
) -> tuple[bytes, bytes]:
    """The bytes before the first record and after the last one."""
    meta = envelope_meta(st, page.next_cursor, page.count)
    opener, closer = (b"{", b"}") if keyed else (b"[", b"]")
    if framing == "ndjson":
        return b"", b""
    if framing == "array":
        return b"[", b"]"
    if meta_at == "before":
        return b"{" + meta + b',"result":' + opener, closer + b"}"
    if meta_at == "both":
        count = b'"result_count":' + str(page.count).encode()
        rest = meta.replace(b',"result_count":' + str(page.count).encode(), b"")
        return b"{" + count + b',"result":' + opener, closer + b"," + rest + b"}"
    return b'{"result":' + opener, closer + b"," + meta + b"}"


def _batch(
    st: EmulatorState,
    acc: Account,
    q: UsersQuery,
    pos: int,
    end: int,
    framing: str,
    keyed: bool,
    comma: bool,
) -> bytes:
    """Records ``pos .. end-1`` as the stream writes them (``,`` first if ``comma``).

    Through the page cache, evicting nothing: rendering is most of the emulator's CPU in
    a stream, and a sweep asks for the same batches round after round.
    """
    key_by = q.key_by if keyed else None
    key = ("s", acc.id, pos, end, q.excluded, q.date, framing == "ndjson", key_by, comma)

    def render() -> bytes:
        chunk = _render_batch(st, acc, q, pos, end, framing, keyed)
        return b"," + chunk if comma and chunk else chunk

    return st.renderer.cache.through(key, render, evict=False)


def _render_batch(
    st: EmulatorState, acc: Account, q: UsersQuery, pos: int, end: int, framing: str, keyed: bool
) -> bytes:
    if framing == "ndjson":
        return st.renderer.records(acc, pos, end, q.excluded, "\n", date=q.date) + b"\n"
    if keyed:
        key_by = q.key_by or "id"
        return st.renderer.keyed_records(acc, pos, end, q.excluded, key_by, date=q.date)
    return st.renderer.records(acc, pos, end, q.excluded, date=q.date)


async def _write_stream(
    st: EmulatorState,
    writer: BodyWriter,
    acc: Account,
    q: UsersQuery,
    page: Page,
    framing: str,
    meta_at: str,
) -> None:
    keyed = q.key_by is not None and framing in ("envelope", "page")
    head, tail = _frame(st, page, framing, meta_at, keyed)
    await writer.write(head)
    batch = st.config.stream_batch
    vendor_page = q.limit or page.count or 1
    middle = page.start + page.count // 2
    first = True
    next_latency_at = page.start + vendor_page
    pos = page.start
    while pos < page.stop:
        end = min(pos + batch, page.stop, next_latency_at)
        chunk = _batch(st, acc, q, pos, end, framing, keyed, framing != "ndjson" and not first)
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
