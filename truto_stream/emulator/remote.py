"""Errors that come from the vendor: Truto's remote-error body around the vendor's own."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from aiohttp import web

from truto_stream.emulator.data import Account
from truto_stream.emulator.faults import FaultRule
from truto_stream.emulator.limits import format_seconds
from truto_stream.emulator.replies import error_reply
from truto_stream.emulator.state import EmulatorState

__all__ = [
    "ECHO_HEADER",
    "echo_text",
    "needs_reauth",
    "remote_error_extra",
    "status_fault",
    "vendor_rejected",
]

#: The response header an ``echo`` fault puts the caller's credentials in.
ECHO_HEADER = "x-vendor-debug"


def remote_error_extra(
    acc: Account, status: int, raw: Any, *, rate_limited: bool = False, detail: str = ""
) -> dict[str, Any]:
    """``truto_is_remote_error``, ``raw_response`` and ``truto_error_insight`` keys."""
    label = acc.vendor.label
    description = f"The {label} API returned an error ({status})."
    insight: dict[str, Any] = {
        "remote_error": {
            "description": f"{description} {detail}" if detail else description,
            "value": raw,
        }
    }
    if rate_limited:
        insight["rate_limit_error"] = {
            "description": f"The {label} API rate limit was exceeded; retry after "
            "the Retry-After header."
        }
    return {"truto_is_remote_error": True, "raw_response": raw, "truto_error_insight": insight}


def needs_reauth(acc: Account, headers: dict[str, str]) -> web.Response:
    """The remote 401 of an account whose status is not ``active``."""
    return error_reply(
        401,
        f"The integrated account needs to be re-authenticated (status: {acc.status}).",
        headers,
        **remote_error_extra(acc, 401, acc.vendor.error_401()),
    )


def vendor_rejected(acc: Account, message: str, headers: dict[str, str]) -> web.Response:
    """A 400 the vendor gives (a bad ``date``): its body inside Truto's remote error."""
    raw = acc.vendor.error_body(400, message)
    return error_reply(400, message, headers, **remote_error_extra(acc, 400, raw))


def _remote_429(
    st: EmulatorState, acc: Account, rule: FaultRule, headers: dict[str, str]
) -> web.Response:
    st.stats.rate_limited_remote += 1
    retry = rule.arg if rule.arg is not None else st.config.remote_retry_after_s
    retry_after = format_seconds(retry)
    raw, vendor_headers = acc.vendor.error_429(retry_after)
    vendor_headers["Retry-After"] = retry_after
    extra = remote_error_extra(acc, 429, raw, rate_limited=True)
    return error_reply(429, "", {**headers, **vendor_headers}, **extra)


def echo_text(token: str, account_id: str) -> str:
    """A vendor complaint quoting the caller's credentials: ``Bearer <token>``, its
    URL-encoded form and the token in base64 (what a scrubber must catch)."""
    bearer = f"Bearer {token}"
    b64 = base64.b64encode(token.encode()).decode()
    return (
        f"Bad request with credentials {bearer} for {account_id} "
        f"(authorization={quote(bearer, safe='')}, token_b64={b64})"
    )


def _echo(acc: Account, rule: FaultRule, token: str, headers: dict[str, str]) -> web.Response:
    status = int(rule.arg) if rule.arg is not None else 400
    text = echo_text(token, acc.id)
    raw = acc.vendor.error_body(status, text)
    extra = remote_error_extra(acc, status, raw, detail=text)
    return error_reply(status, text, {**headers, ECHO_HEADER: text}, **extra)


def _remote_5xx(acc: Account, status: int, headers: dict[str, str]) -> web.Response:
    raw = acc.vendor.error_5xx(status)
    return error_reply(status, "", headers, **remote_error_extra(acc, status, raw))


def status_fault(
    st: EmulatorState, acc: Account, rule: FaultRule, token: str, headers: dict[str, str]
) -> web.Response:
    """The error answer of a status fault (see :data:`~.faults.STATUS_FAULTS`).

    ``500``/``502``/``504`` are Truto's own; ``remote*`` and ``echo`` carry the vendor's
    body (``truto_is_remote_error``); ``echo`` quotes the caller's ``token``.
    """
    st.stats.faults[rule.kind] += 1
    if rule.kind == "remote429":
        return _remote_429(st, acc, rule, headers)
    if rule.kind == "echo":
        return _echo(acc, rule, token, headers)
    if rule.kind.startswith("remote"):
        return _remote_5xx(acc, int(rule.kind.removeprefix("remote")), headers)
    status = int(rule.kind)
    message = {
        500: "Internal server error (emulated).",
        502: f"Bad gateway: no clean response from {acc.integration} (emulated).",
        504: f"Gateway timeout: {acc.integration} did not answer in time (emulated).",
    }[status]
    return error_reply(status, message, headers)
