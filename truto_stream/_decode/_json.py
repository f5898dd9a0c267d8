"""One ``loads`` with one error policy, the limits, and the byte-level helpers all share.

Error messages say what kind of fault a body has and where (a byte offset), never what
it contains: orjson's own messages are reduced to a category, so record content (user
names, e-mails) cannot reach a log or a report through a parse error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

from truto_stream._decode._scan import check_depth
from truto_stream.errors import MalformedBody, StreamError, TruncatedBody

__all__ = [
    "BOM",
    "DEFAULT_LIMITS",
    "ORJSON_MAX_DEPTH",
    "WS",
    "BodyLimits",
    "check_records",
    "json_error",
    "loads",
    "skip_ws",
]

#: orjson refuses documents nested deeper than this (1024 accepted, 1025 refused).
ORJSON_MAX_DEPTH: Final = 1024

BOM: Final = b"\xef\xbb\xbf"
WS: Final = re.compile(rb"[ \t\r\n]*+")


@dataclass(frozen=True)
class BodyLimits:
    """Bounds on what one response body may hold; each breach is a :class:`MalformedBody`.

    The defaults never cut healthy data: Truto's records are a few KiB, nested a few
    levels, with a few envelope members besides ``result``.

    - ``max_depth``: nesting levels of a body, counted as orjson counts them (the
      envelope is level 1). At most 1024, orjson's own limit; a lower value makes every
      record go through the exact structural scan (correct, about 2x slower).
    - ``max_record_bytes``: one record (an NDJSON line; a body read whole, such as a
      ``debug`` or ``raw`` page). Memory per body parsed is about one record plus one
      network chunk.
    - ``max_metadata_bytes``: the envelope's members besides ``result``, on each side
      of it (a ``result`` key that is not found within this many bytes is refused too).
    """

    max_depth: int = ORJSON_MAX_DEPTH
    max_record_bytes: int = 64 * 2**20
    max_metadata_bytes: int = 2**20

    def __post_init__(self) -> None:
        if not 1 <= self.max_depth <= ORJSON_MAX_DEPTH:
            raise ValueError(f"max_depth must be between 1 and {ORJSON_MAX_DEPTH}")
        if self.max_record_bytes < 1 or self.max_metadata_bytes < 1:
            raise ValueError("byte limits must be at least 1")

    @property
    def exact_depth(self) -> bool:
        """True when orjson's own depth check is not the limit (a lower one was set)."""
        return self.max_depth < ORJSON_MAX_DEPTH


DEFAULT_LIMITS: Final = BodyLimits()


def skip_ws(data: bytes | bytearray, i: int) -> int:
    """Index of the first byte at or after ``i`` that is not JSON whitespace."""
    m = WS.match(data, i)
    return m.end() if m else i


def loads(
    data: bytes | bytearray | memoryview,
    at: int = 0,
    limits: BodyLimits | None = None,
    depth: int = 0,
) -> Any:
    """``orjson.loads`` with the project's error policy.

    ``at`` is ``data``'s offset in the body (for messages), ``depth`` the nesting level
    it sits at there (for a depth limit below orjson's own, checked when ``limits`` say).
    """
    if limits is not None and limits.exact_depth:
        check_depth(data, limits.max_depth, at, depth)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise json_error(exc, data, at) from None


def json_error(
    exc: orjson.JSONDecodeError, data: bytes | bytearray | memoryview, at: int
) -> StreamError:
    """A typed error for a failed decode of ``data`` (at body offset ``at``): category and
    byte offset only."""
    where = at + _byte_offset(data, exc.pos)
    message = exc.msg.lower()
    if "unexpected end of data" in message:
        return TruncatedBody(f"body ended before its JSON did (byte {where})")
    if "depth limit" in message:
        return MalformedBody(f"JSON nested deeper than {ORJSON_MAX_DEPTH} levels (byte {where})")
    if "utf-8" in message or "surrogate" in message or "escape" in message:
        return MalformedBody(f"invalid string encoding in JSON (byte {where})")
    if "after document" in message:
        return MalformedBody(f"unexpected bytes after a JSON value (byte {where})")
    return MalformedBody(f"invalid JSON (byte {where})")


def _byte_offset(data: bytes | bytearray | memoryview, char_pos: int) -> int:
    # orjson reports a character index; bytes and characters differ past non-ASCII text.
    head = bytes(data[: char_pos * 4])
    if head.isascii():
        return char_pos
    return len(head.decode("utf-8", "replace")[:char_pos].encode("utf-8", "replace"))


def check_records(records: list[Any], where: str) -> list[Any]:
    """``records`` if every one is a JSON object; a unified list's records are objects."""
    if records and set(map(type, records)) != {dict}:
        raise MalformedBody(f"a record that is not a JSON object ({where})")
    return records
