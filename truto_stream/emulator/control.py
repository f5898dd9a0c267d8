"""The emulator's own routes (no auth): ``/_emulator/stats``, ``reset`` and ``config``."""

from __future__ import annotations

from aiohttp import web

from truto_stream.emulator.params import ParamError, parse_bool
from truto_stream.emulator.replies import error_reply, json_reply
from truto_stream.emulator.state import STATE
from truto_stream.emulator.stats import token_fingerprint

__all__ = ["config_handler", "reset_handler", "stats_handler"]


async def stats_handler(request: web.Request) -> web.Response:
    """``GET /_emulator/stats``: what was served (no auth)."""
    st = request.app[STATE]
    return json_reply(200, st.stats.snapshot(st.connections()))


async def reset_handler(request: web.Request) -> web.Response:
    """``POST /_emulator/reset[?rate_limits=true&faults=true]``: clear stats (and more)."""
    st = request.app[STATE]
    try:
        rate_limits = parse_bool(request.query.get("rate_limits", "false"))
        faults = parse_bool(request.query.get("faults", "false"))
    except ParamError as exc:
        return error_reply(400, str(exc))
    st.reset(rate_limits=rate_limits, faults=faults)
    return json_reply(200, {"ok": True, "rate_limits": rate_limits, "faults": faults})


async def config_handler(request: web.Request) -> web.Response:
    """``GET /_emulator/config``: the running configuration (tokens fingerprinted)."""
    cfg = request.app[STATE].config.to_dict()
    cfg["tokens"] = [token_fingerprint(t) for t in cfg["tokens"]]
    return json_reply(200, cfg)
