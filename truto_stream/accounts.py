"""Which integrated accounts a sweep or a plan covers: a discovery query, or a given list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from truto_stream._fetch import ListRequest

__all__ = ["AccountQuery", "Accounts"]


@dataclass(frozen=True)
class AccountQuery:
    """Which integrated accounts to discover (``GET /integrated-account`` filters).

    With ``status=None`` every account is listed and the ones that are not active (or are
    blocked) are reported as skipped, with the reason.
    """

    tenant_id: str | None = None
    integration: str | None = None
    status: str | None = None

    def request(self, params: Mapping[str, Any] | None = None) -> ListRequest:
        """The ``GET /integrated-account`` list for these filters (plus ``params``)."""
        query = dict(params or {})
        for key, value in (
            ("tenant_id", self.tenant_id),
            ("integration.name", self.integration),
            ("status", self.status),
        ):
            if value is not None:
                query[key] = value
        return ListRequest("/integrated-account", query, None)


#: What ``accounts=`` takes: a query to discover them, or integrated account ids, or the
#: account objects ``client.integrated_accounts()`` yields (their integration is known).
Accounts = AccountQuery | str | Iterable[str | Mapping[str, Any]]
