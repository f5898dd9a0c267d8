"""An envelope's members besides ``result``, read exactly from its first bytes (sans-IO).

A tiny forward tokenizer: strings are matched whole with their escapes (a possessive
regex, linear time), nested values are skipped by counting brackets outside strings
(:data:`~truto_stream._decode._scan.INSIDE`). Each top-level member ``"key": value`` is
decoded with orjson from its raw bytes. The same walk gives the keys of a whole object,
which is how duplicated ``result`` / ``next_cursor`` members are found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from truto_stream._decode._json import BOM, BodyLimits, loads, skip_ws
from truto_stream._decode._scan import SUBTREES
from truto_stream.errors import MalformedBody, TruncatedBody

__all__ = [
    "RESULT_FIRST",
    "Cut",
    "check_unique",
    "find_result_value",
    "object_members",
    "preview",
    "value_end",
]

_STRING_REST: Final = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.S)
_SCALAR: Final = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
#: What may still follow a scalar's match up to the window's end, when the number goes on.
_NUMBER_GOES_ON: Final = re.compile(rb"[0-9.eE+-]*")
#: An envelope that starts with its ``result`` member (Truto's own shape).
RESULT_FIRST: Final = re.compile(rb'\{[ \t\r\n]*+"result"[ \t\r\n]*+:[ \t\r\n]*+')
#: Members that must appear at most once: which one a parser keeps is not defined.
_UNIQUE: Final = ("result", "next_cursor")


class Cut(Exception):
    """The window ended before the token did (not an error of the document)."""


def preview(data: bytes | bytearray, limit: int = 40) -> str:
    """A short, printable prefix of a body for error messages about its framing."""
    text = data[:limit].decode("utf-8", "replace")
    shown = "".join(c if c.isprintable() else "." for c in text)
    return shown + ("..." if len(data) > limit else "")


def skip_bom_ws(data: bytes | bytearray, i: int) -> int:
    if data.startswith(BOM, i):
        i += len(BOM)
    return skip_ws(data, i)


def string_end(data: bytes | bytearray, i: int) -> int:
    """``data[i]`` is an opening quote: the index just past its closing quote."""
    m = _STRING_REST.match(data, i + 1)
    if m is None:
        raise Cut
    return m.end()


def value_end(data: bytes | bytearray, i: int, complete: bool) -> int:
    """The index just past the JSON value starting at ``data[i]`` (not validated)."""
    c = data[i]
    if c == 0x22:
        return string_end(data, i)
    if c in (0x5B, 0x7B):
        depth, j, n = 1, i + 1, len(data)
        while True:
            # Inside the value: whole nested values are stepped over in one match.
            j = SUBTREES.match(data, j).end()  # type: ignore[union-attr]  # always matches
            if j >= n or data[j] == 0x22:
                raise Cut  # the data ends inside the value (or inside a string in it)
            depth += 1 if data[j] in (0x5B, 0x7B) else -1
            j += 1
            if depth == 0:
                return j
    m = _SCALAR.match(data, i)
    if m is None:
        if not complete and len(data) - i < 6:
            raise Cut  # maybe a literal or number cut short ("tru", "-")
        raise MalformedBody(f"invalid JSON value (byte {i})")
    if not complete and _NUMBER_GOES_ON.fullmatch(data, m.end()) is not None:
        raise Cut  # "12", "0." or "1e" at the window's end may be "123", "0.5", "1e5"
    return m.end()


def scan_object(
    data: bytes | bytearray,
    i: int,
    *,
    complete: bool,
    limits: BodyLimits | None = None,
    decode: bool = True,
) -> tuple[dict[str, Any], bool, int | None]:
    """Scan the object starting at ``data[i] == '{'``.

    Returns ``(members before "result" or the end, saw_result, end)``; ``end`` is the index
    just past the closing brace, or None when the window ran out inside a member (members
    decoded so far are returned); when ``saw_result``, it is the index just past the
    ``"result"`` key. ``decode=False`` records keys with None values.
    """
    out: dict[str, Any] = {}
    n = len(data)
    j = skip_ws(data, i + 1)
    if j < n and data[j] == 0x7D:  # {}
        return out, False, j + 1
    while True:
        if j >= n:
            return out, False, None
        if data[j] != 0x22:
            raise MalformedBody(f"expected a member name (byte {j})")
        try:
            key_end = string_end(data, j)
        except Cut:
            return out, False, None
        key = loads(data[j:key_end], j)
        if key == "result":
            return out, True, key_end
        if key in out and key in _UNIQUE:
            raise MalformedBody(f"the envelope has {key!r} twice")
        j = skip_ws(data, key_end)
        if j >= n:
            return out, False, None
        if data[j] != 0x3A:  # :
            raise MalformedBody(f"expected ':' (byte {j})")
        j = skip_ws(data, j + 1)
        if j >= n:
            return out, False, None
        try:
            end = value_end(data, j, complete)
        except Cut:
            return out, False, None
        out[key] = loads(data[j:end], j, limits, depth=1) if decode else None
        j = skip_ws(data, end)
        if j >= n:
            return out, False, None
        if data[j] == 0x2C:  # ,
            j = skip_ws(data, j + 1)
            continue
        if data[j] == 0x7D:  # }
            return out, False, j + 1
        raise MalformedBody(f"expected ',' or '}}' (byte {j})")


def find_result_value(
    head: bytes | bytearray, limits: BodyLimits | None = None
) -> tuple[dict[str, Any], int] | None:
    """Where an envelope's ``result`` value starts: ``(members before it, index)``.

    ``None`` when the head ends before the value's first byte. Raises
    :class:`MalformedBody` when the head is not the start of an envelope.
    """
    quick = RESULT_FIRST.match(head)
    if quick is not None and quick.end() < len(head):
        return {}, quick.end()
    i = skip_bom_ws(head, 0)
    if i >= len(head):
        return None
    if head[i] != 0x7B:
        raise MalformedBody(f"not a JSON object (starts with {preview(head[i : i + 40])!r})")
    members, saw_result, key_end = scan_object(head, i, complete=False, limits=limits)
    if not saw_result:
        if key_end is not None:  # the object closed without a result member
            raise MalformedBody("not a Truto list envelope (no 'result' member)")
        return None
    assert key_end is not None
    j = skip_ws(head, key_end)
    if j >= len(head):
        return None
    if head[j] != 0x3A:  # :
        raise MalformedBody(f"expected ':' (byte {j})")
    j = skip_ws(head, j + 1)
    if j >= len(head):
        return None
    return members, j


def object_members(data: bytes | bytearray, i: int) -> list[tuple[str, int]]:
    """Names and value offsets of the members of the whole object at ``data[i]``, in order
    (duplicates kept). For an object orjson has already accepted."""
    out: list[tuple[str, int]] = []
    n = len(data)
    j = skip_ws(data, i + 1)
    if j < n and data[j] == 0x7D:  # {}
        return out
    try:
        while True:
            if j >= n or data[j] != 0x22:
                raise MalformedBody(f"expected a member name (byte {j})")
            key_end = string_end(data, j)
            key = loads(data[j:key_end], j)
            j = skip_ws(data, key_end)
            if j >= n or data[j] != 0x3A:  # :
                raise MalformedBody(f"expected ':' (byte {j})")
            value = skip_ws(data, j + 1)
            out.append((key, value))
            j = skip_ws(data, value_end(data, value, True))
            if j < n and data[j] == 0x2C:  # ,
                j = skip_ws(data, j + 1)
            elif j < n and data[j] == 0x7D:  # }
                return out
            else:
                raise MalformedBody(f"expected ',' or '}}' (byte {j})")
    except Cut:
        raise TruncatedBody("body ended inside a JSON object") from None


def check_unique(keys: Iterable[str]) -> None:
    """Raise :class:`MalformedBody` if ``result`` or ``next_cursor`` appears twice."""
    seen: set[str] = set()
    for key in keys:
        if key in _UNIQUE:
            if key in seen:
                raise MalformedBody(f"the envelope has {key!r} twice")
            seen.add(key)
