"""Method metadata: ``GET /unified/{model}/{resource}[/{integration}]/meta/{method}``.

Truto documents the fields of this answer (truto-api.md 2.2 and Truto's unified-API
reference): ``method``, ``schema``, ``documentation_link``, ``response_mapping``,
``query_schema``, ``request_body_schema``, ``default_query``, ``default_body``, plus
``response_schema`` on the per-integration form. Their content is the emulator's choice
(docs/emulator.md, "Meta routes"): ``query_schema`` is a JSON Schema object whose
``properties`` are the integration's own query parameters, so a client can read whether
``date`` is taken and the ``limit`` bounds.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from truto_stream.emulator.guards import admit_account, admit_token
from truto_stream.emulator.replies import error_reply, json_reply
from truto_stream.emulator.state import STATE
from truto_stream.emulator.vendors import VENDORS, Vendor

__all__ = ["META_PATH", "META_PATH_BY_INTEGRATION", "account_meta", "integration_meta"]

META_PATH = "/unified/{model}/{resource}/meta/{method}"
META_PATH_BY_INTEGRATION = "/unified/{model}/{resource}/{integration}/meta/{method}"

_STRING = {"type": "string"}
_NAMED = {"type": "object", "properties": {"id": _STRING, "name": _STRING}}
#: Truto's unified users model (usage-metering), field by field.
_USER_FIELDS: dict[str, dict[str, Any]] = {
    "id": {**_STRING, "description": "Unique identifier for the user inside the source "
           "application."},
    "name": {**_STRING, "description": "Display name of the user."},
    "emails": {"type": "array", "description": "Email addresses of the user.",
               "items": {"type": "object", "properties": {
                   "email": _STRING, "is_primary": {"type": "boolean"}}}},
    "status": {**_STRING, "enum": ["active", "inactive", "deleted", "invited"]},
    "roles": {"type": "array", "description": "The roles the user has.", "items": _NAMED},
    "created_at": {**_STRING, "format": "date-time"},
    "last_active_at": {**_STRING, "format": "date-time"},
    "remote_data": {"type": "object", "description": "Raw data returned from the remote API."},
}  # fmt: skip
#: (model, resource) -> methods with metadata.
_RESOURCES = {("usage-metering", "users"): ("list",)}
_DOCS = "https://truto.one/docs/api-reference/unified-usage-metering-api/users/list"


def _response_schema(vendor: Vendor) -> dict[str, Any]:
    """The unified fields this integration fills, as JSON Schema."""
    fields = [name for name, _ in vendor.unified_fields]
    return {"type": "object", "properties": {n: _USER_FIELDS[n] for n in fields}}


def _body(vendor: Vendor, method: str, default_date: str, *, per_integration: bool) -> Any:
    schema = _response_schema(vendor)
    body: dict[str, Any] = {
        "method": method,
        "schema": schema,
        "documentation_link": vendor.docs_url,
        "response_mapping": None,
        "query_schema": vendor.query_schema(default_date),
        "request_body_schema": None,
        "default_query": {},
        "default_body": None,
    }
    if per_integration:
        body["response_schema"] = schema
    return body


def _unknown_route(request: web.Request) -> web.Response | None:
    info = request.match_info
    methods = _RESOURCES.get((info["model"], info["resource"]))
    if methods is None:
        return error_reply(404, f"Unknown unified resource {info['model']}/{info['resource']}.")
    if info["method"] not in methods:
        return error_reply(404, f"No metadata for method {info['method']!r}.")
    return None


async def account_meta(request: web.Request) -> web.Response:
    """``GET /unified/{model}/{resource}/meta/{method}?integrated_account_id=...``.

    The account's integration's metadata. Counted like a unified call (token and account
    windows); the account's status does not matter (nothing reaches the vendor).
    """
    st = request.app[STATE]
    unknown = _unknown_route(request)
    if unknown is not None:  # after auth and the token window, before the account
        token_checked = admit_token(request, META_PATH)
        return token_checked if isinstance(token_checked, web.Response) else unknown
    admitted = admit_account(request, META_PATH, check_status=False)
    if isinstance(admitted, web.Response):
        return admitted
    vendor = admitted.account.vendor
    body = _body(vendor, request.match_info["method"], st.config.default_date(),
                 per_integration=False)  # fmt: skip
    return json_reply(200, body, admitted.headers)


async def integration_meta(request: web.Request) -> web.Response:
    """``GET /unified/{model}/{resource}/{integration}/meta/{method}`` (token window only)."""
    st = request.app[STATE]
    admitted = admit_token(request, META_PATH_BY_INTEGRATION)
    if isinstance(admitted, web.Response):
        return admitted
    _, decision = admitted
    unknown = _unknown_route(request)
    if unknown is not None:
        return unknown
    vendor = VENDORS.get(request.match_info["integration"])
    if vendor is None:
        return error_reply(404, f"Unknown integration {request.match_info['integration']!r}.")
    body = _body(vendor, request.match_info["method"], st.config.default_date(),
                 per_integration=True)  # fmt: skip
    return json_reply(200, body, decision.headers())
