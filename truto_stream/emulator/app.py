"""The aiohttp application: the routes and the middleware that counts every response."""

from __future__ import annotations

import asyncio
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


@web.middleware
async def _track(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Response gauges and status counts for every request."""
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
    app = web.Application(middlewares=[_track])
    app[STATE] = state
    app.router.add_get("/_emulator/stats", stats_handler)
    app.router.add_post("/_emulator/reset", reset_handler)
    app.router.add_get("/_emulator/config", config_handler)
    app.router.add_get("/integrated-account", list_accounts)
    app.router.add_get("/integrated-account/{id}", get_account)
    app.router.add_get(USERS_PATH, users_handler)
    app.router.add_get(USERS_PATH + "/{id}", user_handler)
    app.router.add_get(META_PATH, account_meta)
    app.router.add_get(META_PATH_BY_INTEGRATION, integration_meta)
    return app
