"""OpenAI Codex: OpenAI's ``GET /v1/organization/users`` behind Truto."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from truto_stream.emulator.codes import B62, iso_utc
from truto_stream.emulator.vendors.base import (
    COMMON_FIELDS,
    ROLES,
    CursorStyle,
    LimitRule,
    Vendor,
)

__all__ = ["OpenAICodex"]

_USER = (
    '{"object":"organization.user","id":"%(id)s","name":"%(name)s",'
    '"email":"%(email)s","role":"%(role)s","added_at":%(added_at)s}'
)


class OpenAICodex(Vendor):
    """Organization users; ``limit`` 1-100 (default 100); ``cursor`` is OpenAI's ``after``."""

    name: ClassVar[str] = "openai"
    label: ClassVar[str] = "OpenAI Codex"
    api_url: ClassVar[str] = "https://api.openai.com/v1/organization/users"
    docs_url: ClassVar[str] = (
        "https://developers.openai.com/api/reference/resources/admin/subresources/"
        "organization/subresources/users/methods/list"
    )
    param_docs: ClassVar[dict[str, str]] = {
        "limit": "Page size (1-100). Defaults to 100 when omitted.",
        "cursor": "Pagination cursor from the previous response (mapped to OpenAI's after param).",
    }
    credential_headers: ClassVar[dict[str, str]] = {"authorization": "[redacted]"}
    id_prefix: ClassVar[str | None] = "user-"
    id_alphabet: ClassVar[str] = B62
    limit: ClassVar[LimitRule | None] = LimitRule(default=100, minimum=1, maximum=100)
    cursor_style: ClassVar[CursorStyle] = "after_id"
    unified_fields: ClassVar[tuple[tuple[str, str], ...]] = (
        *COMMON_FIELDS,
        ("created_at", '"%(created_at)s"'),
        ("roles", ROLES),
        ("remote_data", _USER),
    )
    remote_template: ClassVar[str] = _USER

    def slot_facts(self, h: int, status: str) -> dict[str, Any]:
        added = 1640995200 + (h >> 32) % (4 * 365 * 86400)
        return {
            "added_at": added,
            "created_at": iso_utc(added),
            "role": "owner" if (h >> 20) % 25 == 0 else "reader",
        }

    def extra_fields(self, f: dict[str, Any]) -> dict[str, Any]:
        return {"created_at": f["created_at"], "roles": [{"id": f["role"], "name": f["role"]}]}

    def remote_record(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "organization.user",
            "id": f["id"],
            "name": f["name"],
            "email": f["email"],
            "role": f["role"],
            "added_at": f["added_at"],
        }

    def request_params(
        self, limit: int | None, date: str | None, vendor_cursor: str | None
    ) -> dict[str, str]:
        params = {"limit": str(limit)}
        if vendor_cursor:
            params["after"] = vendor_cursor
        return params

    def vendor_next(self, next_cursor: str | None, last_id: str | None) -> str | None:
        return None if next_cursor is None else last_id

    def raw_page(
        self, rows: bytes, first_id: str | None, last_id: str | None, vendor_next: str | None
    ) -> bytes:
        return (
            b'{"object":"list","data":['
            + rows
            + b'],"first_id":'
            + orjson.dumps(first_id)
            + b',"last_id":'
            + orjson.dumps(last_id)
            + b',"has_more":'
            + (b"true" if vendor_next is not None else b"false")
            + b"}"
        )

    def error_401(self) -> Any:
        return {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                          "param": None, "code": "invalid_api_key"}}  # fmt: skip

    def error_body(self, status: int, message: str) -> Any:
        kind = "invalid_request_error" if status < 500 else "server_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    def error_429(self, retry_after: str) -> tuple[Any, dict[str, str]]:
        body = {"error": {"message": "Rate limit reached for requests", "type": "requests",
                          "param": None, "code": "rate_limit_exceeded"}}  # fmt: skip
        headers = {
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{retry_after}s",
        }
        return body, headers
