"""``--param KEY=VALUE`` parsing: Truto's bracket syntax into the nested shape the client encodes.

The client's query encoder (:mod:`truto_stream._query`) turns mappings into ``a[b]=v`` and
lists into ``a[]=v``; this module is its inverse for the command line::

    date=2026-11-20                      {"date": "2026-11-20"}
    truto_exclude_fields[]=emails        {"truto_exclude_fields": ["emails"]}   (repeatable)
    remote_query[team][id]=42            {"remote_query": {"team": {"id": "42"}}}
    a[b][]=x                             {"a": {"b": ["x"]}}

Values stay strings (the encoder sends strings as they are). A key given twice without
``[]``, or used both as a scalar and as an object/list, is an error rather than a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["ParamError", "parse_params"]

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
