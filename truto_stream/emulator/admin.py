"""Truto's admin routes: ``GET /integrated-account`` and ``GET /integrated-account/{id}``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

from truto_stream.emulator.cursors import CursorError
from truto_stream.emulator.data import Account
from truto_stream.emulator.guards import admit_token
from truto_stream.emulator.params import ParamError, parse_bool
from truto_stream.emulator.replies import error_reply, json_reply
from truto_stream.emulator.state import STATE

__all__ = ["get_account", "list_accounts"]

_ADMIN_CURSOR_SCOPE = "integrated-account"


def _filtered(accounts: list[Account], q: Mapping[str, str]) -> list[Account]:
    """Accounts matching the filters (raises :class:`ParamError` on a bad boolean).

    ``id[in]=a,b`` keeps the accounts of those ids (in the dataset's order), as Truto's
    admin filter operators do.
    """
    if "id[in]" in q:
        wanted_ids = set(q["id[in]"].split(","))
        accounts = [a for a in accounts if a.id in wanted_ids]
    if "tenant_id" in q:
        accounts = [a for a in accounts if a.tenant_id == q["tenant_id"]]
    if "integration.name" in q:
        accounts = [a for a in accounts if a.integration == q["integration.name"]]
    if "status" in q:
        wanted = set(q["status"].split(","))
        accounts = [a for a in accounts if a.status in wanted]
    if "is_sandbox" in q and parse_bool(q["is_sandbox"]):
        accounts = []  # every emulated account is a production one
    return accounts


async def _admin_latency(ms: float) -> None:
    if ms > 0:  # after admission: a slow answer still counts against the rate limits
        await asyncio.sleep(ms / 1000)


async def list_accounts(request: web.Request) -> web.Response:
    """``GET /integrated-account``: filtered, paged with ``next_cursor`` and ``limit``."""
    st = request.app[STATE]
    admitted = admit_token(request, "/integrated-account")
    if isinstance(admitted, web.Response):
        return admitted
    _, decision = admitted
    await _admin_latency(st.config.admin_latency_ms)
    q = request.query
    try:
        limit = int(q.get("limit") or st.config.admin_default_limit)
    except ValueError:
        return error_reply(400, "limit must be an integer")
    if not 1 <= limit <= 5000:
        return error_reply(400, "limit must be between 1 and 5000")
    try:
        accounts = _filtered(st.dataset.accounts, q)
    except ParamError as exc:
        return error_reply(400, str(exc))
    offset = 0
    cursor = q.get("next_cursor")
    if cursor:
        try:
            offset = st.codec.decode(cursor, _ADMIN_CURSOR_SCOPE).offset
        except CursorError as exc:
            return error_reply(400, f"Invalid next_cursor: {exc}")
    page = accounts[offset : offset + limit]
    end = offset + len(page)
    next_cursor = st.codec.encode(_ADMIN_CURSOR_SCOPE, end, 0) if end < len(accounts) else None
    body = {"result": [a.to_admin() for a in page], "next_cursor": next_cursor, "limit": limit}
    return json_reply(200, body, decision.headers())


async def get_account(request: web.Request) -> web.Response:
    """``GET /integrated-account/{id}`` (includes ``is_blocked``)."""
    st = request.app[STATE]
    admitted = admit_token(request, "/integrated-account/{id}")
    if isinstance(admitted, web.Response):
        return admitted
    _, decision = admitted
    await _admin_latency(st.config.admin_latency_ms)
    acc = st.dataset.get_account(request.match_info["id"])
    if acc is None:
        return error_reply(404, "Integrated account not found.")
    return json_reply(200, acc.to_admin(), decision.headers())
