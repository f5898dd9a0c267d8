"""Query-string parsing for the unified users route (pure: no I/O, no server state)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from truto_stream.emulator.config import parse_day
from truto_stream.emulator.vendors import LimitRule, Vendor, vendor_for

__all__ = [
    "FORMATS",
    "DateError",
    "ParamError",
    "UsersQuery",
    "parse_bool",
    "parse_users_query",
]

FORMATS = ("unified", "normalized", "raw", "debug", "stream")
#: ``remote_query[name]`` followed by any nested ``[key]`` / ``[]`` parts.
_REMOTE_KEY = re.compile(r"^remote_query\[([^\[\]]+)\]((?:\[[^\[\]]*\])*)$")


class ParamError(ValueError):
    """A query parameter Truto would reject with 400."""


class DateError(ParamError):
    """A ``date`` the vendor rejects (malformed, not a calendar date, or in the future)."""


@dataclass(frozen=True)
class UsersQuery:
    """What a ``GET /unified/usage-metering/users`` request asks for."""

    integration: str
    response_format: str = "unified"
    limit: int | None = 100  # None: no paging (the whole team)
    date: str | None = None
    next_cursor: str | None = None
    vendor_cursor: str | None = None
    excluded: frozenset[str] = frozenset()
    key_by: str | None = None
    remote_query: dict[str, str | list[str]] = field(default_factory=dict)


def parse_bool(value: str | None) -> bool:
    """Truto-style booleans: ``true``/``1``/empty are true; ``false``/``0`` false."""
    if value is None:
        return False
    v = value.strip().lower()
    if v in ("", "true", "1", "yes", "on"):
        return True
    if v in ("false", "0", "no", "off"):
        return False
    raise ParamError(f"invalid boolean {value!r}")


def _excluded(items: list[tuple[str, str]]) -> set[str]:
    out: set[str] = set()
    for key, value in items:
        if key == "truto_exclude_fields" or (
            key.startswith("truto_exclude_fields[") and key.endswith("]")
        ):
            out.update(p.strip() for p in value.split(",") if p.strip())
    return out


def _remote_query(items: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    """``remote_query[k]...=v`` pairs as the vendor's own keys, brackets kept.

    ``remote_query[team][id]=42`` is ``team[id]=42`` for the vendor and
    ``remote_query[ids][]=1&remote_query[ids][]=2`` is ``ids[]=1&ids[]=2``: a repeated key
    keeps every value, in order.
    """
    out: dict[str, str | list[str]] = {}
    for key, value in items:
        m = _REMOTE_KEY.match(key)
        if m is None:
            continue
        name = m[1] + m[2]
        seen = out.get(name)
        if seen is None:
            out[name] = value
        elif isinstance(seen, list):
            seen.append(value)
        else:
            out[name] = [seen, value]
    return out


def _limit(vendor: Vendor, query: dict[str, str]) -> int | None:
    rule: LimitRule | None = vendor.limit
    if rule is None:
        return None
    raw_limit = query.get("limit")
    if raw_limit is None or raw_limit == "" or parse_bool(query.get("truto_ignore_limit", "0")):
        return rule.default
    try:
        limit = int(raw_limit)
    except ValueError:
        raise ParamError(f"limit must be an integer, got {raw_limit!r}") from None
    if not rule.minimum <= limit <= rule.maximum:
        raise ParamError(
            f"limit must be between {rule.minimum} and {rule.maximum} for {vendor.name}"
        )
    return limit


def _date(query: dict[str, str], today: dt.date | None) -> str:
    base = today if today is not None else dt.datetime.now(dt.UTC).date()
    raw_date = query.get("date")
    if not raw_date:
        return (base - dt.timedelta(days=3)).isoformat()
    try:
        day = parse_day(raw_date)
    except ValueError as exc:
        raise DateError(f"date must be a YYYY-MM-DD calendar date ({exc})") from None
    if day > base:
        raise DateError(f"date {raw_date} is in the future (today is {base.isoformat()})")
    return raw_date


def parse_users_query(
    integration: str,
    items: list[tuple[str, str]],
    *,
    today: dt.date | None = None,
) -> UsersQuery:
    """Validate and normalise the query (``items`` keeps repeated keys, decoded).

    ``today`` is the emulator's today (default: the UTC date): ``date`` defaults to three
    days before it and may not be after it.
    """
    vendor = vendor_for(integration)
    query: dict[str, str] = {}
    for key, value in items:
        query.setdefault(key, value)
    fmt = query.get("truto_response_format", "unified") or "unified"
    if fmt not in FORMATS:
        raise ParamError(
            f"Invalid truto_response_format {fmt!r}; expected one of {', '.join(FORMATS)}"
        )
    limit = _limit(vendor, query)
    date = _date(query, today) if vendor.takes_date else None
    excluded = _excluded(items)
    if "truto_ignore_remote_data" in query and parse_bool(query["truto_ignore_remote_data"]):
        excluded.add("remote_data")
    remote_query = _remote_query(items)
    return UsersQuery(
        integration=integration,
        response_format=fmt,
        limit=limit,
        date=date,
        next_cursor=query.get("next_cursor") or None,
        vendor_cursor=query.get("cursor") or None,
        excluded=frozenset(excluded),
        key_by=query.get("truto_key_by") or None,
        remote_query=remote_query,
    )
