"""Cursor: Cursor's ``GET /teams/members`` behind Truto (the whole team in one page)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

from truto_stream.emulator.vendors.base import COMMON_FIELDS, ROLES, Vendor

__all__ = ["Cursor"]

_MEMBER = (
    '{"id":%(num)s,"name":"%(name)s","email":"%(email)s","role":"%(role)s",'
    '"isRemoved":%(removed_js)s}'
)


class Cursor(Vendor):
    """Team members with numeric ids; no query parameters, one page."""

    name: ClassVar[str] = "cursor"
    label: ClassVar[str] = "Cursor"
    api_url: ClassVar[str] = "https://api.cursor.com/teams/members"
    docs_url: ClassVar[str] = "https://cursor.com/docs/api"
    credential_headers: ClassVar[dict[str, str]] = {"authorization": "[redacted]"}
    unified_fields: ClassVar[tuple[tuple[str, str], ...]] = (
        *COMMON_FIELDS,
        ("roles", ROLES),
        ("remote_data", _MEMBER),
    )
    remote_template: ClassVar[str] = _MEMBER

    def slot_facts(self, h: int, status: str) -> dict[str, Any]:
        r = (h >> 20) % 100
        return {
            "role": "owner" if r < 3 else "free-owner" if r < 5 else "member",
            "removed": status == "deleted",
            "removed_js": "true" if status == "deleted" else "false",
        }

    def extra_fields(self, f: dict[str, Any]) -> dict[str, Any]:
        return {"roles": [{"id": f["role"], "name": f["role"]}]}

    def remote_record(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f["num"],
            "name": f["name"],
            "email": f["email"],
            "role": f["role"],
            "isRemoved": f["removed"],
        }

    def raw_page(
        self, rows: bytes, first_id: str | None, last_id: str | None, vendor_next: str | None
    ) -> bytes:
        return b'{"teamMembers":[' + rows + b"]}"

    def error_401(self) -> Any:
        return {"error": "Unauthorized", "message": "Invalid API key"}

    def error_body(self, status: int, message: str) -> Any:
        return {"error": HTTPStatus(status).phrase, "message": message}

    def error_429(self, retry_after: str) -> tuple[Any, dict[str, str]]:
        body = {"error": "Too Many Requests",
                "message": "Rate limit exceeded. Please try again later."}  # fmt: skip
        return body, {}
