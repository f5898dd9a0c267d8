"""Truto query-string encoding (sans-IO).

Truto documents ``foo[bar]=baz`` for objects and ``foo[]=a&foo[]=b`` for arrays. The
official SDKs get this subtly wrong (``None`` sent as the string ``"None"``, ``+`` for
spaces, ambiguous ``k[][x]`` for lists of objects, the caller's dict mutated); this module
is the one place where parameters become a query string.

Rules, applied recursively:

* mappings nest as ``a[b][c]=v``; keys keep their insertion order;
* lists, tuples (and sets, sorted for determinism) of scalars repeat ``a[]=v``;
  a list holding any mapping or nested list is indexed ``a[0][k]=v`` so that several
  keys of one element stay together unambiguously (indices count emitted elements only);
* ``bool`` is ``true``/``false`` (tested before ``int``: ``bool`` is an ``int``);
* ``None`` is omitted at any depth, and so are empty lists/mappings (also those that
  become empty once their ``None`` members are dropped);
* ``datetime.date`` is ``YYYY-MM-DD``; ``datetime.datetime`` is ISO 8601, an aware UTC
  value rendered with ``Z``; ``enum.Enum`` members by value; ``int``/``float``/``Decimal``
  and ``uuid.UUID`` via ``str`` (non-finite numbers are rejected);
* anything else (bytes, arbitrary objects, generators...) raises ``TypeError``.

:func:`encode_query` percent-encodes RFC 3986 style: everything but unreserved characters
is escaped, so spaces are ``%20`` and brackets ``%5B``/``%5D``. The input is never mutated.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

__all__ = ["encode_query", "flatten_query"]

_SEQUENCES = (list, tuple)
_SETS = (set, frozenset)


def flatten_query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten ``params`` into ``(key, value)`` pairs, Truto style (see module docstring)."""
    if not isinstance(params, Mapping):
        raise TypeError(f"query parameters must be a mapping, not {type(params).__name__}")
    out: list[tuple[str, str]] = []
    active: set[int] = set()
    for key, value in params.items():
        if isinstance(key, enum.Enum) and isinstance(key.value, str):
            key = key.value  # a (str, Enum) member's str() is "Cls.NAME", not its value
        if not isinstance(key, str):
            raise TypeError(f"query parameter names must be str, not {type(key).__name__}")
        if not key:
            raise ValueError("query parameter names must not be empty")
        _flatten(key, value, out, active)
    return out


def encode_query(params: Mapping[str, Any]) -> str:
    """Return ``params`` as a percent-encoded query string (no leading ``?``)."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in flatten_query(params))


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]], active: set[int]) -> None:
    if value is None:
        return
    scalar = _scalar(value)
    if scalar is not None:
        out.append((prefix, scalar))
        return
    if isinstance(value, Mapping):
        with _guard(value, active, prefix):
            for k, v in value.items():
                if isinstance(k, enum.Enum):
                    k = k.value
                if not isinstance(k, str | int) or isinstance(k, bool):
                    raise TypeError(
                        f"nested keys must be str or int, not {type(k).__name__} (in {prefix!r})"
                    )
                _flatten(f"{prefix}[{k}]", v, out, active)
        return
    if isinstance(value, (*_SEQUENCES, *_SETS)):
        with _guard(value, active, prefix):
            items = _ordered(value, prefix)
            if any(isinstance(v, Mapping | list | tuple | set | frozenset) for v in items):
                index = 0
                for item in items:
                    before = len(out)
                    _flatten(f"{prefix}[{index}]", item, out, active)
                    if len(out) != before:  # only elements that emitted something get an index
                        index += 1
            else:
                for item in items:
                    _flatten(f"{prefix}[]", item, out, active)
        return
    raise TypeError(
        f"unsupported query value of type {type(value).__name__} for {prefix!r}; use str, "
        "int, float, Decimal, bool, date, datetime, UUID, Enum, None, a mapping or a list"
    )


def _ordered(value: Any, prefix: str) -> list[Any]:
    if isinstance(value, _SETS):
        # Sets have no order; sort so the same input always gives the same URL.
        try:
            return sorted(value)
        except TypeError:
            raise TypeError(f"cannot order the set given for {prefix!r}; pass a list") from None
    return list(value)


class _guard:
    """Detect reference cycles (a dict containing itself) instead of recursing forever."""

    def __init__(self, value: object, active: set[int], prefix: str) -> None:
        self.key = id(value)
        self.active = active
        if self.key in active:
            raise ValueError(f"query parameters contain a reference cycle at {prefix!r}")

    def __enter__(self) -> None:
        self.active.add(self.key)

    def __exit__(self, *exc: object) -> None:
        self.active.discard(self.key)


def _scalar(value: Any) -> str | None:
    """The wire form of a scalar, or None when ``value`` is not a scalar."""
    if isinstance(value, enum.Enum):
        inner = value.value
        if isinstance(inner, enum.Enum) or _scalar(inner) is None:
            raise TypeError(f"enum {value!r} has an unsupported value type")
        return _scalar(inner)
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} cannot be sent as a query value")
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError(f"non-finite number {value!r} cannot be sent as a query value")
        return str(value)
    if isinstance(value, _dt.datetime):  # before date: datetime is a date
        offset = value.utcoffset()
        if offset is not None and offset == _dt.timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return None
