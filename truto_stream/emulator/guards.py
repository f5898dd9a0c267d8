"""The checks in front of the routes: bearer token, rate-limit windows, the account."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from truto_stream.emulator.data import Account
from truto_stream.emulator.limits import Decision
from truto_stream.emulator.remote import needs_reauth
from truto_stream.emulator.replies import error_reply, too_many
from truto_stream.emulator.state import STATE

__all__ = ["Admitted", "admit_account", "admit_token", "authenticate", "route_of"]


def route_of(request: web.Request) -> str:
    """The route pattern a request matched (its path when none did)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


def authenticate(request: web.Request) -> tuple[str | None, web.Response | None]:
    """The bearer token, or a 401 (the refused request is still counted in stats)."""
    st = request.app[STATE]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        st.stats.request(route_of(request), None)
        return None, error_reply(
            401, "Missing or malformed Authorization header. Use: Bearer <token>."
        )
    if token not in st.tokens:
        st.stats.request(route_of(request), token)
        return None, error_reply(401, "Invalid API token.")
    return token, None


def admit_token(request: web.Request, route: str) -> tuple[str, Decision] | web.Response:
    """Auth and the per-token window: (token, its window decision) or the error."""
    st = request.app[STATE]
    token, err = authenticate(request)
    if err is not None:
        return err
    assert token is not None
    st.stats.request(route, token)
    decision = st.token_window.hit(token, time.monotonic())
    if not decision.allowed:
        return too_many(st, decision, "API token")
    return token, decision


@dataclass(frozen=True)
class Admitted:
    """A unified request that passed the checks: who asked, for which account."""

    token: str
    account: Account
    #: The ``ratelimit-*`` headers every answer from here on carries.
    headers: dict[str, str]


def _required_account(decision: Decision) -> web.Response:
    return error_reply(
        400,
        "integrated_account_id is required",
        decision.headers(),
        truto_error_insight={
            "missing_required_query_parameters": {
                "description": "These query parameters are required.",
                "value": ["integrated_account_id"],
            }
        },
    )


def admit_account(
    request: web.Request, route: str, *, check_status: bool = True
) -> Admitted | web.Response:
    """Auth, limits and account checks shared by the unified routes.

    In order: token (401), per-token window (429), ``integrated_account_id`` (400),
    account exists (404), per-account window (429), then with ``check_status`` blocked
    (503) and not ``active`` (remote 401).
    """
    st = request.app[STATE]
    admitted = admit_token(request, route)
    if isinstance(admitted, web.Response):
        return admitted
    token, tok = admitted
    acc_id = request.query.get("integrated_account_id")
    if not acc_id:
        return _required_account(tok)
    acc = st.dataset.get_account(acc_id)
    if acc is None:
        return error_reply(404, "Integrated account not found.", tok.headers())
    st.stats.account_hit(acc.id)
    decision = (
        st.account_window.hit(acc.id, time.monotonic()) if st.config.account_limit > 0 else tok
    )
    headers = decision.headers() if decision.limit > 0 else {}
    if not decision.allowed:
        return too_many(st, decision, "integrated account")
    if check_status and acc.is_blocked:
        return error_reply(503, "This integrated account is blocked. Contact support.", headers)
    if check_status and acc.status != "active":
        return needs_reauth(acc, headers)
    return Admitted(token, acc, headers)
