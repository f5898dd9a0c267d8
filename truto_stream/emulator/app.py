"""The aiohttp application: the routes, each wrapped to count its responses."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from truto_stream.emulator.admin import get_account, list_accounts
from truto_stream.emulator.config import EmulatorConfig
from truto_stream.emulator.control import config_handler, reset_handler, stats_handler
from truto_stream.emulator.meta import (
    META_PATH,
    META_PATH_BY_INTEGRATION,
    account_meta,
    integration_meta,
)
from truto_stream.emulator.state import STATE, EmulatorState
from truto_stream.emulator.users import USERS_PATH, user_handler, users_handler

__all__ = ["STATE", "build_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _tracked(handler: Handler) -> Handler:
    """``handler`` counted by :func:`_track`.

    Not an aiohttp middleware: aiohttp memoises middleware chains per (handler, apps) in
    a module-level cache, which would keep every stopped emulator (and its page cache)
    reachable. A request no route matches is answered by aiohttp without a handler, as
    before (a raised 404/405 was never counted by status either).
    """

    @functools.wraps(handler)
    async def tracked(request: web.Request) -> web.StreamResponse:
        return await _track(request, handler)

    return tracked


async def _track(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Response gauges and status counts for every routed request."""
    stats = request.app[STATE].stats
    stats.in_progress += 1
    stats.most_in_progress = max(stats.most_in_progress, stats.in_progress)
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


def build_app(config: EmulatorConfig | EmulatorState) -> web.Application:
    """The aiohttp application for ``config`` (or an existing state)."""
    state = config if isinstance(config, EmulatorState) else EmulatorState(config)
    app = web.Application()
    app[STATE] = state
    routes = app.router
    routes.add_get("/_emulator/stats", _tracked(stats_handler))
    routes.add_post("/_emulator/reset", _tracked(reset_handler))
    routes.add_get("/_emulator/config", _tracked(config_handler))
    routes.add_get("/integrated-account", _tracked(list_accounts))
    routes.add_get("/integrated-account/{id}", _tracked(get_account))
    routes.add_get(USERS_PATH, _tracked(users_handler))
    routes.add_get(USERS_PATH + "/{id}", _tracked(user_handler))
    routes.add_get(META_PATH, _tracked(account_meta))
    routes.add_get(META_PATH_BY_INTEGRATION, _tracked(integration_meta))
    return app
