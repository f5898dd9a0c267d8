"""``--param KEY=VALUE`` parsing: Truto's bracket syntax into the nested shape the client encodes.

The client's query encoder (:mod:`truto_stream._query`) turns mappings into ``a[b]=v`` and
lists into ``a[]=v``; this module is its inverse for the command line::

    date=2026-11-20                      {"date": "2026-11-20"}
    truto_exclude_fields[]=emails        {"truto_exclude_fields": ["emails"]}   (repeatable)
    remote_query[team][id]=42            {"remote_query": {"team": {"id": "42"}}}
    a[b][]=x                             {"a": {"b": ["x"]}}

Values stay strings (the encoder sends strings as they are). A key given twice without
``[]``, or used both as a scalar and as an object/list, is an error rather than a guess.

``--date`` values (:func:`parse_date_args`) are the days a sweep covers, in the forms of
:func:`truto_stream.plan.dates.parse_date_spec` (``2026-11-20``, ``A..B``, ``yesterday``,
``last-7-days`` ...).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from typing import Any

from truto_stream.errors import ConfigurationError
from truto_stream.plan.dates import normalize_dates, parse_date, parse_date_spec, utc_today
from truto_stream.plan.estimate import DEFAULT_RECORDS_PER_UNIT

__all__ = ["ParamError", "add_plan_args", "parse_date_args", "parse_params"]

_KEY = re.compile(r"^(?P<name>[^\[\]]+)(?P<rest>(?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


class ParamError(ValueError):
    """A ``--param`` that cannot be parsed (a usage error)."""


def parse_params(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings (bracket syntax allowed in KEY) into one nested dict."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ParamError(f"--param {item!r}: expected KEY=VALUE")
        path = _split_key(key, item)
        _insert(out, path, value, key)
    return out


def _split_key(key: str, item: str) -> list[str]:
    """``a[b][]`` -> ``["a", "b", ""]`` (an empty part means "append to a list")."""
    match = _KEY.match(key.strip())
    if match is None:
        raise ParamError(f"--param {item!r}: malformed key (use name, name[] or name[key])")
    parts = [match.group("name"), *_PART.findall(match.group("rest"))]
    if "" in parts[:-1]:
        raise ParamError(f"--param {item!r}: '[]' may only end a key")
    return parts


def _insert(node: dict[str, Any], path: list[str], value: str, key: str) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        if head in node:
            raise ParamError(f"--param {key!r} given twice (use {key}[]=... for a list)")
        node[head] = value
        return
    if rest == [""]:
        existing = node.setdefault(head, [])
        if not isinstance(existing, list):
            raise ParamError(f"--param {key!r}: {head!r} is already set as a non-list")
        existing.append(value)
        return
    child = node.setdefault(head, {})
    if not isinstance(child, dict):
        raise ParamError(f"--param {key!r}: {head!r} is already set as a non-object")
    _insert(child, rest, value, key)


def parse_date_args(specs: Iterable[str], *, today: str | None = None) -> tuple[str, ...] | None:
    """``--date`` values (repeatable; every form of :func:`parse_date_spec`) as sorted,
    distinct ``YYYY-MM-DD`` days; None when none was given.

    ``today`` (``--today``) is the day relative forms count from and the last day allowed
    (default: the UTC date). Raises :class:`ParamError` for a malformed form or a day in
    the future.
    """
    specs = list(specs)
    if not specs:
        return None
    try:
        day = parse_date(today) if today is not None else utc_today()
        days = [d for spec in specs for d in parse_date_spec(spec, today=day)]
        return normalize_dates(days, today=day)
    except ConfigurationError as exc:
        raise ParamError(str(exc)) from None


def add_plan_args(parser: argparse.ArgumentParser) -> None:
    """The sweep plan's options: ``--date``, ``--today``, ``--assume-size``, ``--dry-run``."""
    group = parser.add_argument_group("plan (dates, estimate, dry run)")
    group.add_argument(
        "--date",
        action="append",
        default=[],
        metavar="SPEC",
        help="a day or days to sweep, repeatable: 2026-11-20, 2026-11-01..2026-11-27, today, "
        "yesterday, N-days-ago, last-N-days, this-month, last-month (integrations without a "
        "date are swept once)",
    )
    group.add_argument(
        "--today",
        metavar="YYYY-MM-DD",
        help="the day relative --date forms count from, and the last one allowed (default: "
        "today, UTC)",
    )
    group.add_argument(
        "--assume-size",
        dest="assume_records",
        type=int,
        default=DEFAULT_RECORDS_PER_UNIT,
        metavar="N",
        help="records per unit the request estimate assumes (Truto does not say; default "
        f"{DEFAULT_RECORDS_PER_UNIT:,})",
    )
    group.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (units, page sizes, skipped accounts, estimate) and exit, "
        "without any unified list request",
    )
