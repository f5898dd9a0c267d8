"""What each integration's list endpoint takes: page-size bounds and ``date`` (sans-IO).

Two sources, in order of trust: the endpoint's own query schema, when Truto serves it
(``GET /unified/{model}/{resource}/{integration}/meta/list``: ``query_schema`` is a JSON
Schema whose ``properties`` are the integration's own parameters), and otherwise the
built-in table below, taken from Truto's documentation of ``usage-metering/users`` (the
seed document): Claude ``limit`` 1-1000 and ``date``; OpenAI Codex ``limit`` 1-100; Cursor
the whole team in one page, no ``limit``.

This table is the one place in the library that names integrations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

__all__ = [
    "BUILTIN",
    "Capability",
    "PageBounds",
    "Source",
    "builtin",
    "from_query_schema",
    "known_integrations",
]

#: Where a capability came from: the endpoint's query schema, or the built-in table.
Source = Literal["meta", "table"]


@dataclass(frozen=True)
class PageBounds:
    """The ``limit`` an endpoint takes: inclusive bounds and the default page size."""

    minimum: int
    maximum: int
    default: int | None = None


@dataclass(frozen=True)
class Capability:
    """What one integration's list endpoint takes.

    ``limit`` is ``None`` when the endpoint has no ``limit`` (it answers in one page, or
    pages at the vendor's own size); ``takes_date`` says whether it describes one day
    (``date=YYYY-MM-DD``); ``default_date`` is the day it reports without one, when the
    schema says so.
    """

    integration: str
    label: str
    limit: PageBounds | None
    takes_date: bool
    source: Source = "table"
    default_date: str | None = None


_USERS: Final = {
    "claude": Capability("claude", "Claude", PageBounds(1, 1000, 100), takes_date=True),
    "openai": Capability("openai", "OpenAI Codex", PageBounds(1, 100, 100), takes_date=False),
    "cursor": Capability("cursor", "Cursor", None, takes_date=False),
}

#: (model, resource) -> integration name -> capability, from Truto's documentation.
BUILTIN: Final[Mapping[tuple[str, str], Mapping[str, Capability]]] = {
    ("usage-metering", "users"): _USERS,
}


def builtin(model: str, resource: str, integration: str) -> Capability | None:
    """The built-in capability of ``integration`` for ``model/resource`` (None: unknown)."""
    return BUILTIN.get((model, resource), {}).get(integration)


def known_integrations(model: str | None = None, resource: str | None = None) -> list[str]:
    """Integration names the built-in table knows (for one resource, or for any)."""
    if model is not None and resource is not None:
        return list(BUILTIN.get((model, resource), {}))
    return list(dict.fromkeys(name for table in BUILTIN.values() for name in table))


def from_query_schema(
    integration: str, schema: Any, *, fallback: Capability | None = None
) -> Capability | None:
    """The capability a meta answer's ``query_schema`` describes (None if it is unusable).

    ``"date" in properties`` means the endpoint takes a date (its ``default``, if a
    ``YYYY-MM-DD`` string, is the day it reports without one); ``properties.limit`` gives
    the page-size bounds (``minimum`` 1 when absent; without a usable ``maximum`` the
    table's bounds, if any, stand). ``fallback`` supplies the label.
    """
    if not isinstance(schema, Mapping):
        return None
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return None
    label = fallback.label if fallback is not None else integration
    date = props.get("date")
    default_date = date.get("default") if isinstance(date, Mapping) else None
    limit = _bounds(props.get("limit"))
    if limit is None and "limit" in props and fallback is not None:
        limit = fallback.limit  # declared but without usable bounds: trust the table's
    cap = Capability(integration, label, limit, takes_date="date" in props, source="meta")
    if isinstance(default_date, str) and len(default_date) == 10:
        cap = replace(cap, default_date=default_date)
    return cap


def _bounds(spec: Any) -> PageBounds | None:
    if not isinstance(spec, Mapping):
        return None
    low, high, default = _int(spec.get("minimum", 1)), _int(spec.get("maximum")), None
    if low is None or high is None or not 1 <= low <= high:
        return None
    given = _int(spec.get("default"))
    if given is not None and low <= given <= high:
        default = given
    return PageBounds(low, high, default)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
