"""JSON replies and Truto's error bodies (``statusCode``, ``error``, ``message``, extras)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from truto_stream.emulator.limits import Decision, format_seconds
from truto_stream.emulator.state import EmulatorState

__all__ = ["error_body", "error_reply", "json_reply", "too_many"]


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    """Truto's error body for ``status``."""
    return {"statusCode": status, "error": HTTPStatus(status).phrase, "message": message, **extra}


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    """``payload`` as a JSON response."""
    return web.Response(
        status=status, body=orjson.dumps(payload), content_type="application/json",
        charset="utf-8", headers=headers,
    )  # fmt: skip


def error_reply(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    """A Truto error response."""
    return json_reply(status, error_body(status, message, **extra), headers)


def _retry_after(st: EmulatorState, decision: Decision) -> str:
    value = st.config.retry_after
    if value == "window":
        return format_seconds(st.config.rate_window_s)
    if value == "reset":
        return format_seconds(max(decision.reset_s, 0.001))
    return format_seconds(float(value))


def too_many(st: EmulatorState, decision: Decision, what: str) -> web.Response:
    """Truto's own 429 with the ``ratelimit-*`` headers and ``Retry-After``."""
    st.stats.rate_limited_truto += 1
    headers = decision.headers()
    headers["Retry-After"] = _retry_after(st, decision)
    return error_reply(429, f"Rate limit exceeded for this {what}. Please retry later.", headers)
