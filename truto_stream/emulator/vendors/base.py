"""What the emulator needs to know about one integration, in one place.

A :class:`Vendor` holds an integration's field support (the unified record and the
vendor's own record, as templates), its query semantics (page size bounds, ``date``, what
the unified ``cursor`` parameter means), its id scheme, the vendor request it stands for,
its raw page shape and its error bodies. The rest of the emulator asks the vendor and never
branches on an integration's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from truto_stream.emulator.codes import B58

__all__ = [
    "COMMON_FIELDS",
    "EMAILS",
    "MAX_GAP_DAYS",
    "ROLES",
    "CursorStyle",
    "LimitRule",
    "Vendor",
]

#: For integrations that take ``date``: how many days before it a user's last activity
#: may be (the ``gap`` slot fact is 0..MAX_GAP_DAYS).
MAX_GAP_DAYS = 30

#: What the unified ``cursor`` query parameter carries for an integration:
#: ``page_token`` the vendor's opaque next-page token, ``after_id`` the last user id seen,
#: ``none`` nothing (the parameter is ignored).
CursorStyle = Literal["page_token", "after_id", "none"]

EMAILS = '[{"email":"%(email)s","is_primary":true}]'
ROLES = '[{"id":"%(role)s","name":"%(role)s"}]'
#: Unified fields every integration supports, in output order, with their value templates.
COMMON_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", '"%(id)s"'),
    ("name", '"%(name)s"'),
    ("emails", EMAILS),
    ("status", '"%(status)s"'),
)


@dataclass(frozen=True)
class LimitRule:
    """The ``limit`` an integration takes: default and inclusive bounds."""

    default: int
    minimum: int
    maximum: int


class Vendor:
    """One integration the emulator serves (subclasses fill in the class attributes).

    A record has two descriptions: ``%``-format templates over a user's facts
    (:meth:`Dataset.facts`), which the byte renderer fills and which must render canonical
    JSON, and :meth:`record` / :meth:`remote_record`, which build the same record as a
    dict for the oracle (:class:`Dataset`) several times faster than parsing a rendered
    template. A property test pins ``orjson.dumps(record) == rendered template`` for every
    vendor and field subset.
    """

    #: Truto's integration name (``integration.name`` of an integrated account).
    name: ClassVar[str]
    #: The name Truto's docs show.
    label: ClassVar[str]
    #: The vendor endpoint one unified list request stands for.
    api_url: ClassVar[str]
    #: The vendor's documentation of that endpoint (``documentation_link`` in meta).
    docs_url: ClassVar[str]
    #: The seed document's description of each query parameter the integration takes.
    param_docs: ClassVar[dict[str, str]] = {}
    #: The credential headers of that vendor request, as ``debug.requestOptions`` shows them.
    credential_headers: ClassVar[dict[str, str]]
    #: User ids: ``prefix + 6-character code + 18-character tail``, or numeric when None.
    id_prefix: ClassVar[str | None] = None
    id_alphabet: ClassVar[str] = B58
    #: ``limit`` bounds; None: the whole team in one page, ``limit`` ignored.
    limit: ClassVar[LimitRule | None] = None
    #: Whether the endpoint takes ``date`` (per-day activity). Such a vendor's slot facts
    #: carry ``gap`` (days from ``lastday`` to the date, 0..MAX_GAP_DAYS) and its
    #: templates may use ``%(lastday)s``, the day of last activity.
    takes_date: ClassVar[bool] = False
    #: Template keys filled per record by the byte renderer (the rest is per slot): id,
    #: e-mail and number always; name and ``lastday`` too when activity depends on the date
    #: (the name follows the user, the activity follows the day).
    placeholders: ClassVar[tuple[str, ...]] = ("id", "email", "num")
    cursor_style: ClassVar[CursorStyle] = "none"
    #: Unified fields in output order (``remote_data`` last), with value templates.
    unified_fields: ClassVar[tuple[tuple[str, str], ...]]
    #: The vendor's own record (``remote_data``, one raw-page row).
    remote_template: ClassVar[str]

    def __init__(self) -> None:
        self._templates: dict[frozenset[str], str] = {}

    def record_template(self, excluded: frozenset[str]) -> str:
        """The template of one unified record without the ``excluded`` fields (cached)."""
        template = self._templates.get(excluded)
        if template is not None:
            return template
        excluded = self.known_fields(excluded)
        template = self._templates.get(excluded)
        if template is None:
            parts = [f'"{n}":{v}' for n, v in self.unified_fields if n not in excluded]
            template = self._templates[excluded] = "{" + ",".join(parts) + "}"
        return template

    def known_fields(self, names: frozenset[str]) -> frozenset[str]:
        """``names`` restricted to this vendor's unified fields (bounds every cache key)."""
        return names.intersection(n for n, _ in self.unified_fields)

    def record(self, f: dict[str, Any]) -> dict[str, Any]:
        """The unified record of a user's facts, as a dict (the oracle's form)."""
        out: dict[str, Any] = {
            "id": f["id"],
            "name": f["name"],
            "emails": [{"email": f["email"], "is_primary": True}],
            "status": f["status"],
        }
        out.update(self.extra_fields(f))
        out["remote_data"] = self.remote_record(f)
        return out

    def extra_fields(self, f: dict[str, Any]) -> dict[str, Any]:
        """The unified fields beyond :data:`COMMON_FIELDS`, in output order."""
        return {}

    def remote_record(self, f: dict[str, Any]) -> dict[str, Any]:
        """The vendor's own record of a user's facts (``remote_data``)."""
        raise NotImplementedError

    def slot_facts(self, h: int, status: str) -> dict[str, Any]:
        """Vendor-specific facts of one data slot (``h``: the slot's 64-bit hash)."""
        return {}

    # ---- the query schema (meta routes) ---------------------------------------------------

    def query_schema(self, default_date: str) -> dict[str, Any]:
        """The list method's query parameters as JSON Schema (``query_schema`` in meta).

        ``date`` when the integration takes it (with ``default_date``, three days before
        the emulator's today), ``limit`` with its bounds and default, ``cursor`` when it
        means something. Truto's own parameters (``truto_*``, ``next_cursor``) are not
        listed: they are the same for every integration.
        """
        props: dict[str, Any] = {}
        if self.takes_date:
            props["date"] = {"type": "string", "format": "date", "default": default_date,
                             "description": self.param_docs["date"]}  # fmt: skip
        if self.limit is not None:
            props["limit"] = {
                "type": "integer",
                "minimum": self.limit.minimum,
                "maximum": self.limit.maximum,
                "default": self.limit.default,
                "description": self.param_docs["limit"],
            }
        if self.cursor_style != "none":
            props["cursor"] = {"type": "string", "description": self.param_docs["cursor"]}
        return {"type": "object", "properties": props}

    # ---- the vendor request ------------------------------------------------------------

    def request_params(
        self, limit: int | None, date: str | None, vendor_cursor: str | None
    ) -> dict[str, str]:
        """The vendor's query parameters for one page."""
        return {}

    def request(
        self,
        limit: int | None,
        date: str | None,
        vendor_cursor: str | None,
        remote_query: dict[str, Any],
    ) -> tuple[str, dict[str, Any]]:
        """(URL with query, request options) of the vendor call, for ``debug``."""
        params: dict[str, Any] = self.request_params(limit, date, vendor_cursor)
        params.update(remote_query)
        url = self.api_url
        if params:
            # Brackets stay literal: nested remote_query keys read as the vendor sees them.
            url += "?" + urlencode(params, doseq=True, safe="[]")
        return url, {"method": "GET", "headers": dict(self.credential_headers)}

    # ---- raw pages -------------------------------------------------------------------

    def vendor_next(self, next_cursor: str | None, last_id: str | None) -> str | None:
        """The vendor's next-page token shown in raw pages (None on the last page)."""
        return next_cursor

    def raw_page(
        self, rows: bytes, first_id: str | None, last_id: str | None, vendor_next: str | None
    ) -> bytes:
        """The vendor's own page body around the rendered ``rows``."""
        raise NotImplementedError

    # ---- error bodies ------------------------------------------------------------------

    def error_401(self) -> Any:
        """The vendor's body for rejected credentials."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        """The vendor's JSON error body for ``status`` with ``message``."""
        raise NotImplementedError

    def error_5xx(self, status: int) -> Any:
        """What the vendor side sends with a 5xx: its JSON body for 500, a gateway's HTML
        page (``raw_response`` is then text) for 502 and 504."""
        if status == 500:
            return self.error_body(500, "Internal server error")
        phrase = HTTPStatus(status).phrase
        return (
            f"<html><head><title>{status} {phrase}</title></head><body>"
            f"<center><h1>{status} {phrase}</h1></center></body></html>"
        )

    def error_429(self, retry_after: str) -> tuple[Any, dict[str, str]]:
        """The vendor's rate-limit body and its own headers (the caller adds Retry-After)."""
        raise NotImplementedError
