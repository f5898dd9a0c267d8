"""Claude: Anthropic's ``GET /v1/organizations/analytics/users`` behind Truto."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from truto_stream.emulator.codes import B58, mix64
from truto_stream.emulator.vendors.base import (
    COMMON_FIELDS,
    MAX_GAP_DAYS,
    CursorStyle,
    LimitRule,
    Vendor,
)

__all__ = ["Claude"]

_ROW = (
    '{"user":{"id":"%(id)s","email_address":"%(email)s","type":"user"},'
    '"chat_metrics":{"distinct_conversation_count":%(conv)s,"message_count":%(msgs)s},'
    '"claude_code_metrics":{"core_metrics":{"commit_count":%(commits)s,'
    '"distinct_session_count":%(sessions)s,"lines_of_code":{"added_count":%(added)s,'
    '"removed_count":%(removed)s},"pull_request_count":%(prs)s},"tool_actions":'
    '{"edit_tool":{"accepted_count":%(sessions)s,"rejected_count":0}}},'
    '"web_search_count":%(searches)s,"last_activity_date":"%(lastday)s",'
    '"rbac_group_id":null,"rbac_group_name":null,"distinct_user_count":null}'
)


#: Anthropic's error ``type`` per status (https://platform.claude.com/docs/en/api/errors).
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class Claude(Vendor):
    """Per-user activity rows for one ``date``; ``limit`` 1-1000 (default 100), page tokens.

    The same users every day; status, metrics and ``last_active_at`` change with the date
    (``last_active_at`` is on or before it).
    """

    name: ClassVar[str] = "claude"
    label: ClassVar[str] = "Claude"
    api_url: ClassVar[str] = "https://api.anthropic.com/v1/organizations/analytics/users"
    docs_url: ClassVar[str] = "https://platform.claude.com/docs/en/api/organization/analytics/users"
    param_docs: ClassVar[dict[str, str]] = {
        "date": "Date to retrieve per-user activity for, in YYYY-MM-DD format. Defaults to "
        "three days ago when omitted.",
        "limit": "Maximum number of records to return. Defaults to 100 when omitted.",
        "cursor": "Pagination cursor from the previous response.",
    }
    credential_headers: ClassVar[dict[str, str]] = {
        "x-api-key": "[redacted]",
        "anthropic-version": "2023-06-01",
    }
    id_prefix: ClassVar[str | None] = "user_"
    id_alphabet: ClassVar[str] = B58
    limit: ClassVar[LimitRule | None] = LimitRule(default=100, minimum=1, maximum=1000)
    takes_date: ClassVar[bool] = True
    placeholders: ClassVar[tuple[str, ...]] = ("id", "email", "num", "name", "lastday")
    cursor_style: ClassVar[CursorStyle] = "page_token"
    unified_fields: ClassVar[tuple[tuple[str, str], ...]] = (
        *COMMON_FIELDS,
        ("last_active_at", '"%(lastday)sT%(time)s.000Z"'),
        ("remote_data", _ROW),
    )
    remote_template: ClassVar[str] = _ROW

    def slot_facts(self, h: int, status: str) -> dict[str, Any]:
        # A row describes one day: ~60 % of active users were active that day (gap 0,
        # non-zero metrics); the others were last active 1-30 days before it.
        m = mix64(h)
        r = mix64(h ^ 0xDA7E)  # independent bits for the day's presence and timing
        active_that_day = status == "active" and r % 10 < 6
        gap = 0 if active_that_day else 1 + (r >> 8) % MAX_GAP_DAYS
        secs = (r >> 16) % 86400
        k = 1 if active_that_day else 0  # metrics count that day only
        conv = k * (m % 40)
        return {
            "gap": gap,
            "time": f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}",
            "conv": conv,
            "msgs": k * (conv * 3 + (m >> 8) % 7),
            "sessions": k * ((m >> 16) % 12),
            "commits": k * ((m >> 24) % 9),
            "added": k * ((m >> 32) % 900),
            "removed": k * ((m >> 42) % 300),
            "prs": k * ((m >> 52) % 4),
            "searches": k * ((m >> 56) % 20),
        }

    def extra_fields(self, f: dict[str, Any]) -> dict[str, Any]:
        return {"last_active_at": f"{f['lastday']}T{f['time']}.000Z"}

    def remote_record(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            "user": {"id": f["id"], "email_address": f["email"], "type": "user"},
            "chat_metrics": {
                "distinct_conversation_count": f["conv"],
                "message_count": f["msgs"],
            },
            "claude_code_metrics": {
                "core_metrics": {
                    "commit_count": f["commits"],
                    "distinct_session_count": f["sessions"],
                    "lines_of_code": {"added_count": f["added"], "removed_count": f["removed"]},
                    "pull_request_count": f["prs"],
                },
                "tool_actions": {
                    "edit_tool": {"accepted_count": f["sessions"], "rejected_count": 0}
                },
            },
            "web_search_count": f["searches"],
            "last_activity_date": f["lastday"],
            "rbac_group_id": None,
            "rbac_group_name": None,
            "distinct_user_count": None,
        }

    def request_params(
        self, limit: int | None, date: str | None, vendor_cursor: str | None
    ) -> dict[str, str]:
        params = {"date": date or "", "limit": str(limit)}
        if vendor_cursor:
            params["page"] = vendor_cursor
        return params

    def raw_page(
        self, rows: bytes, first_id: str | None, last_id: str | None, vendor_next: str | None
    ) -> bytes:
        return b'{"data":[' + rows + b'],"next_page":' + orjson.dumps(vendor_next) + b"}"

    def error_401(self) -> Any:
        return {"type": "error", "error": {"type": "authentication_error",
                                           "message": "invalid x-api-key"}}  # fmt: skip

    def error_body(self, status: int, message: str) -> Any:
        kind = _ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def error_429(self, retry_after: str) -> tuple[Any, dict[str, str]]:
        body = {"type": "error", "error": {"type": "rate_limit_error",
                                           "message": "Rate limit exceeded"}}  # fmt: skip
        return body, {"anthropic-ratelimit-requests-remaining": "0"}
