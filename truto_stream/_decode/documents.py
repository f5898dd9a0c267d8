"""Decoders for the framings that hold their records in JSON structure (sans-IO).

Each has ``feed(chunk) -> records`` and ``close() -> (last records, members)``; each is
handed the body from its first non-blank byte on (``start`` is that byte's offset).

- :class:`EnvelopeDecoder`: ``{"next_cursor": ..., "result": [...], ...}``. The members
  before ``result`` come from an exact scan of the head, ``result`` is cut into runs of
  records (:class:`~truto_stream._decode._runs.Runs`), the members after it are read
  whole once it has closed. ``result`` is never buffered whole nor parsed twice.
- :class:`ArrayDecoder`: a bare array of records.
- :class:`ValuesDecoder`: concatenated top-level objects, cut exactly by the scanner.
"""

from __future__ import annotations

from typing import Any

from truto_stream._decode._json import BodyLimits, check_records, loads, skip_ws
from truto_stream._decode._members import (
    check_unique,
    find_result_value,
    object_members,
    preview,
)
from truto_stream._decode._runs import Runs
from truto_stream._decode._scan import Container, Scanner
from truto_stream._decode._text import as_texts
from truto_stream.errors import MalformedBody, TruncatedBody

__all__ = [
    "ArrayDecoder",
    "EnvelopeDecoder",
    "ValuesDecoder",
    "check_cursor",
    "read_trailer",
]


def check_cursor(members: dict[str, Any]) -> None:
    """Truto's cursors are strings: any other ``next_cursor`` but null is refused."""
    cursor = members.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        kind = {bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}
        raise MalformedBody(
            f"'next_cursor' must be a string or null, not a {kind.get(type(cursor), 'value')}"
        )


def read_trailer(
    trailer: bytes | bytearray, at: int, members: dict[str, Any], limits: BodyLimits | None
) -> None:
    """Add the envelope's members after ``result`` to ``members`` (those before it).

    ``trailer`` is the rest of the body after ``result``'s value (at body offset ``at``):
    ``}`` or ``, "key": value ... }``, then only whitespace.
    """
    i = skip_ws(trailer, 0)
    if i >= len(trailer):
        raise TruncatedBody("body ended before its envelope did")
    if trailer[i] == 0x7D:  # }
        if skip_ws(trailer, i + 1) < len(trailer):
            raise MalformedBody("unexpected bytes after the envelope")
        return
    if trailer[i] != 0x2C:  # ,
        raise MalformedBody("expected ',' or '}' after 'result'")
    rest = b"{" + trailer[i + 1 :]
    after = loads(rest, at + i, limits)
    # Names are counted as bytes first (a superset of the members): most trailers hold one
    # next_cursor and nothing else to check.
    cursors = rest.count(b'"next_cursor"') + ("next_cursor" in members)
    if b'"result"' in rest or cursors > 1:
        check_unique([*members, "result", *(name for name, _ in object_members(rest, 0))])
    members.update(after)


class EnvelopeDecoder:
    """A Truto list envelope, ``result`` an array of records or an object of them."""

    def __init__(self, limits: BodyLimits, *, start: int, as_text: bool = False) -> None:
        self.keyed = False
        self._as_text = as_text
        self._limits = limits
        self._start = start
        self._head: bytearray | None = bytearray()
        self._tried = 0  # head size at the last scan that did not find 'result'
        self._members: dict[str, Any] = {}
        self._runs: Runs | None = None
        self._trailer: bytearray | None = None
        self._trailer_at = 0

    def feed(self, chunk: bytes | bytearray, *, more: bool = False) -> list[Any]:
        if self._runs is not None:
            return self._feed_runs(self._runs, chunk, more=more)
        if self._trailer is not None:
            self._trailer += chunk
            self._check_trailer()
            return []
        assert self._head is not None
        head: bytes | bytearray = chunk  # usually the first chunk holds the head: no copy
        if self._head:
            self._head += chunk
            head = self._head
        # Scan the head again only once it has doubled: linear however it trickles in.
        if len(head) < 2 * self._tried:
            return []
        records = self._find_result(head, final=False)
        if self._head is not None and head is chunk:  # not found yet: keep what came
            self._head += chunk
        return records

    def close(self) -> tuple[list[Any], dict[str, Any]]:
        records: list[Any] = []
        if self._head is not None:
            records = self._find_result(self._head, final=True)
        if self._runs is not None:
            records += self._flush_runs(self._runs)
        if self._runs is not None:
            self._runs.truncated_verdict()
        assert self._trailer is not None
        read_trailer(self._trailer, self._trailer_at, self._members, self._limits)
        check_cursor(self._members)
        return records, self._members

    def _find_result(self, head: bytes | bytearray, *, final: bool) -> list[Any]:
        found = find_result_value(head, self._limits)
        self._tried = len(head)
        if found is not None and b"null".startswith(head[found[1] : found[1] + 4]):
            found = found if len(head) - found[1] >= 4 else None  # "nu" may be "null"
        if found is None:
            if final:
                raise TruncatedBody(
                    f"body ended before its 'result' (byte {self._start + len(head)})"
                )
            if len(head) > self._limits.max_metadata_bytes:
                raise MalformedBody(
                    f"no 'result' in the first {self._limits.max_metadata_bytes} bytes"
                )
            return []
        self._members, at = found
        self._head = None
        value = head[at]
        offset = self._start + at
        if head[at : at + 4] == b"null":
            self._begin_trailer(head[at + 4 :], offset + 4)
            return []
        if value not in b"[{":
            raise MalformedBody("'result' is neither an array nor an object")
        self.keyed = value == 0x7B
        container = Container.OBJECT if self.keyed else Container.ARRAY
        self._runs = Runs(
            container, start=offset + 1, depth=2, limits=self._limits, as_text=self._as_text
        )
        with memoryview(head) as view, view[at + 1 :] as rest:
            return self._feed_runs(self._runs, rest)

    def _feed_runs(
        self, runs: Runs, chunk: bytes | bytearray | memoryview, *, more: bool = False
    ) -> list[Any]:
        records = runs.feed(chunk, more=more)
        if runs.done:
            self._begin_trailer(runs.rest, runs.end)
        return records

    def _flush_runs(self, runs: Runs) -> list[Any]:
        records = runs.flush()
        if runs.done:
            self._begin_trailer(runs.rest, runs.end)
        return records

    def _begin_trailer(self, data: bytes | bytearray, offset: int) -> None:
        self._runs = None
        self._trailer = bytearray(data)
        self._trailer_at = offset
        self._check_trailer()

    def _check_trailer(self) -> None:
        assert self._trailer is not None
        if len(self._trailer) > self._limits.max_metadata_bytes:
            raise MalformedBody(
                f"more than {self._limits.max_metadata_bytes} bytes after the records"
            )


class ArrayDecoder:
    """A bare JSON array of records."""

    def __init__(self, limits: BodyLimits, *, start: int, as_text: bool = False) -> None:
        self._limits = limits
        self._as_text = as_text
        self._start = start
        self._runs: Runs | None = None
        self._closed = False

    def feed(self, chunk: bytes | bytearray, *, more: bool = False) -> list[Any]:
        if self._closed:
            self._check_after(chunk)
            return []
        if self._runs is None:
            if not chunk:
                return []
            if chunk[0] != 0x5B:
                raise MalformedBody(f"expected a JSON array (starts with {preview(chunk[:40])!r})")
            self._runs = Runs(
                Container.ARRAY,
                start=self._start + 1,
                depth=1,
                limits=self._limits,
                as_text=self._as_text,
            )
            chunk = chunk[1:]
        records = self._runs.feed(chunk, more=more)
        if self._runs.done:
            self._closed = True
            self._check_after(self._runs.rest)
        return records

    def close(self) -> tuple[list[Any], dict[str, Any]]:
        if self._runs is None:
            raise MalformedBody("empty body")
        if self._closed:
            return [], {}
        records = self._runs.flush()
        if not self._runs.done:
            self._runs.truncated_verdict()
        self._closed = True
        self._check_after(self._runs.rest)
        return records, {}

    @staticmethod
    def _check_after(data: bytes | bytearray) -> None:
        if skip_ws(data, 0) < len(data):
            raise MalformedBody("unexpected bytes after the JSON array")


class ValuesDecoder:
    """Concatenated JSON objects (``{...} {...}{...}``), each a record.

    When the framing was only sniffed (``single=False``), a body of one object is not a
    list body (an envelope whose ``result`` comes too late to be seen looks like one):
    the first record is held back until a second one arrives, and a body that ends
    with one record is refused. With ``as_text`` the records are decoded, then re-encoded (a
    rare framing: correct, not fast).
    """

    def __init__(
        self, limits: BodyLimits, *, start: int, single: bool = True, as_text: bool = False
    ) -> None:
        self._limits = limits
        self._as_text = as_text
        self._buf = bytearray()
        self._at = start
        self._held: list[Any] | None = None if single else []
        self._scanner = Scanner(
            Container.VALUES,
            start=start,
            depth=0,
            max_depth=limits.max_depth,
            max_record_bytes=limits.max_record_bytes,
        )

    def feed(self, chunk: bytes | bytearray, *, more: bool = False) -> list[Any]:
        buf = self._buf
        buf += chunk
        scanner = self._scanner
        scanner.scan(buf, self._at)
        records = []
        if scanner.ends:
            begin = 0
            for end in scanner.ends:
                records.append(loads(buf[begin : end - self._at], self._at + begin, self._limits))
                begin = end - self._at
            scanner.ends.clear()
            del buf[:begin]
            self._at += begin
        if scanner.between:  # what is left is whitespace: drop it
            self._at += len(buf)
            buf.clear()
        check_records(records, f"before byte {self._at}")
        if self._as_text:
            records = as_texts(records)
        if self._held is not None:
            records[:0] = self._held
            if len(records) < 2:
                self._held = records
                return []
            self._held = None
        return records

    def close(self) -> tuple[list[Any], dict[str, Any]]:
        if not self._scanner.between:
            loads(self._buf, self._at)  # a cut value (TruncatedBody) or a broken one
            raise MalformedBody(f"body ended inside a JSON value (byte {self._at})")
        if self._held is not None:
            raise MalformedBody("not a Truto list envelope (a single object with no 'result')")
        return [], {}
