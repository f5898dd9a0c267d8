"""The exact structural scan: where records end, bracket by bracket, across chunks (sans-IO).

JSON's structure is its brackets outside strings. :class:`Scanner` keeps a stack of the
open brackets, whether it is inside a string and whether a backslash is pending, so that
a chunk boundary may fall anywhere. Runs of plain bytes and whole strings are skipped by
one regex in C (possessive, so linear), leaving Python a step per bracket only. Each
byte is scanned once: the cost is linear in the body, bounded per chunk, and memory is
the stack, bounded by the depth limit.

The scan does not validate JSON: the bytes it cuts are decoded by orjson, which does.
It only has to be exact about where records end, which this bracket count is.
"""

from __future__ import annotations

import enum
import re
from typing import Final

from truto_stream.errors import MalformedBody

__all__ = ["INSIDE", "SUBTREES", "Container", "Scanner", "check_depth"]

_STRING: Final = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
#: Plain bytes and whole strings, up to the next bracket (or an unterminated string).
INSIDE: Final = re.compile(rb'(?:[^"\[\]{}]++|' + _STRING + rb")*+", re.S)
#: How many levels of nested values one regex match steps over whole.
SUBTREE_LEVELS: Final = 5


def _subtrees(levels: int) -> re.Pattern[bytes]:
    """Plain bytes, strings and whole values nested up to ``levels`` deep, in one match.

    A regex cannot count brackets, but it can match a fixed number of levels: this
    steps over a typical record in one call in C, leaving Python only the deeper
    brackets. Possessive, so it never backtracks: a value that does not close within
    reach (deeper, or cut by the chunk's end) fails the alternative after one pass, and
    the scan steps into it bracket by bracket instead; each byte is so passed over at
    most ``levels + 1`` times.
    """
    atom = rb'[^"\[\]{}]++|' + _STRING
    for _ in range(levels):
        atom = rb'[^"\[\]{}]++|' + _STRING + rb"|\[(?:" + atom + rb")*+\]|\{(?:" + atom + rb")*+\}"
    return re.compile(rb"(?:" + atom + rb")*+", re.S)


#: Like :data:`INSIDE`, stepping over whole values up to :data:`SUBTREE_LEVELS` deep.
SUBTREES: Final = _subtrees(SUBTREE_LEVELS)
#: The rest of a string after its opening quote, up to and including its closing quote.
_STRING_REST: Final = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.S)
_LBRACE: Final = 0x7B
_LBRACKET: Final = 0x5B
_QUOTE: Final = 0x22
_BACKSLASH: Final = 0x5C


class Container(enum.Enum):
    """What holds the records scanned, and so what may sit between them."""

    ARRAY = "array"  # [record, record]
    OBJECT = "object"  # {"key": record, "key": record}
    VALUES = "values"  # record record (top-level values)


_BETWEEN: Final = {
    Container.ARRAY: re.compile(rb"[ \t\r\n,]*+"),
    Container.OBJECT: re.compile(rb'(?:[ \t\r\n,:]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.S),
    Container.VALUES: re.compile(rb"[ \t\r\n]*+"),
}
_CLOSER: Final = {Container.ARRAY: 0x5D, Container.OBJECT: 0x7D, Container.VALUES: -1}


class Scanner:
    """Finds the ends of the records of one container in bytes fed chunk by chunk.

    ``depth`` is the container's own nesting level (2 for an envelope's ``result``), so
    that a record's levels count as they do in the whole body. Offsets are body offsets:
    each :meth:`scan` says where its ``data`` starts. Record ends accumulate in
    :attr:`ends`; :attr:`closed_at` is set when the container's closing bracket is seen.
    Between records the scan accepts what may separate them (whitespace, commas, member
    names) without validating it: the decoder validates what it cuts.
    """

    def __init__(
        self, container: Container, *, start: int, depth: int, max_depth: int, max_record_bytes: int
    ) -> None:
        self.pos = start
        self.ends: list[int] = []
        self.closed_at: int | None = None
        self._container = container
        self._between = _BETWEEN[container]
        self._closer = _CLOSER[container]
        self._room = max_depth - depth
        self._max_depth = max_depth
        self._max_record = max_record_bytes
        self._stack = bytearray()
        self._in_string = False
        self._escaped = False
        self._opened = start

    @property
    def between(self) -> bool:
        """True when the scan stands between records (not inside one, nor a name)."""
        return not self._stack and not self._in_string

    def scan(self, data: bytes | bytearray, offset: int) -> None:
        """Scan ``data`` (the body from ``offset`` on) from :attr:`pos` to its end."""
        if self.closed_at is not None:
            return
        n = len(data)
        i = self.pos - offset
        if self._in_string:
            i = self._string(data, i, n)
        while i < n:
            i = self._record(data, i, n, offset) if self._stack else self._gap(data, i, n, offset)
            if self.closed_at is not None:
                break
        self.pos = offset + min(i, n)
        if (self._stack or self._in_string) and self.pos - self._opened > self._max_record:
            raise MalformedBody(
                f"a record larger than {self._max_record} bytes (from byte {self._opened})"
            )

    def _record(self, data: bytes | bytearray, i: int, n: int, offset: int) -> int:
        """Inside a record: step over brackets until the record closes or the data ends."""
        stack = self._stack
        while True:
            # Whole values are stepped over unless they could reach beyond the depth limit.
            skip = SUBTREES if len(stack) + SUBTREE_LEVELS <= self._room else INSIDE
            i = skip.match(data, i).end()  # type: ignore[union-attr]  # always matches
            if i >= n:
                return i
            c = data[i]
            if c == _QUOTE:  # a string the data ends inside
                return self._string(data, i + 1, n)
            if c in (_LBRACKET, _LBRACE):
                stack.append(c)
                if len(stack) > self._room:
                    raise MalformedBody(
                        f"JSON nested deeper than {self._max_depth} levels (byte {offset + i})"
                    )
            elif stack.pop() != c - 2:  # ] and } are [ and { plus 2
                raise MalformedBody(f"a closing bracket that does not match (byte {offset + i})")
            elif not stack:
                end = offset + i + 1
                if end - self._opened > self._max_record:
                    raise MalformedBody(
                        f"a record larger than {self._max_record} bytes (from byte {self._opened})"
                    )
                self.ends.append(end)
                return i + 1
            i += 1

    def _gap(self, data: bytes | bytearray, i: int, n: int, offset: int) -> int:
        """Between records: the next record's start, or the container's end."""
        i = self._between.match(data, i).end()  # type: ignore[union-attr]  # always matches
        if i >= n:
            return i
        c = data[i]
        if c == _LBRACE:
            self._opened = offset + i
            self._stack.append(c)
            if self._room < 1:
                raise MalformedBody(
                    f"JSON nested deeper than {self._max_depth} levels (byte {offset + i})"
                )
            return i + 1
        if c == self._closer:
            self.closed_at = offset + i
            return i + 1
        if c == _QUOTE and self._container is Container.OBJECT:  # a member name cut short
            self._opened = offset + i
            return self._string(data, i + 1, n)
        raise MalformedBody(f"a record that is not a JSON object (byte {offset + i})")

    def _string(self, data: bytes | bytearray, j: int, n: int) -> int:
        """Skip the rest of a string from ``j``: the index past its closing quote, or ``n``."""
        if self._escaped:
            if j >= n:
                return n
            j += 1
            self._escaped = False
        m = _STRING_REST.match(data, j)
        if m is not None:
            self._in_string = False
            return m.end()
        self._in_string = True
        # An odd run of backslashes at the end escapes the next chunk's first byte.
        k = n
        while k > j and data[k - 1] == _BACKSLASH:
            k -= 1
        self._escaped = (n - k) % 2 == 1
        return n


def check_depth(
    data: bytes | bytearray | memoryview, max_depth: int, at: int = 0, depth: int = 0
) -> None:
    """Raise :class:`MalformedBody` if ``data`` (at nesting level ``depth``) nests deeper
    than ``max_depth``. For a limit below orjson's own; linear, a step per bracket."""
    n = len(data)
    i = 0
    while True:
        i = INSIDE.match(data, i).end()  # type: ignore[union-attr]  # always matches
        if i >= n or data[i] == _QUOTE:  # the end, or a string orjson will refuse
            return
        if data[i] in (_LBRACKET, _LBRACE):
            depth += 1
            if depth > max_depth:
                raise MalformedBody(f"JSON nested deeper than {max_depth} levels (byte {at + i})")
        else:
            depth -= 1
        i += 1
