"""Body framing (sans-IO): which framing a list body uses, NDJSON splitting, envelope metadata.

``truto_response_format=stream`` has no documented wire format, so the client looks at the
content type and the first bytes: a Truto envelope ``{"result": [...], "next_cursor": ...}``,
a bare JSON array, NDJSON, or concatenated JSON values (:func:`detect_framing`).

Envelope metadata without buffering ``result``
----------------------------------------------
A large envelope's ``result`` items are parsed by ijson in one pass; a second pass to read
``next_cursor`` would nearly double the cost. The client therefore keeps only the first bytes
(the *head*) and a rolling window of the last bytes (the *tail*) of the body, and recovers
the envelope's other top-level members from those, wherever they sit:

* :func:`scan_envelope_head` scans forward from byte 0 with a tiny exact tokenizer: strings
  are matched whole with their escapes (a regex with possessive quantifiers, linear time),
  nested values are skipped by counting brackets outside strings. Each top-level member
  ``"key": value`` is decoded with orjson from its raw bytes, until the member whose key is
  ``"result"`` (its value is not scanned) or until the head runs out inside a member (that
  member is unknown and dropped; a number or literal touching the end of the head counts as
  cut, since more digits could follow).

* :func:`scan_envelope_tail` scans *backwards* from the final ``}``. Reading right to left,
  the tokens are just as unambiguous as left to right with one rule for strings: a quote is
  a string delimiter iff it is preceded by an even number of backslashes (inside a JSON
  string every backslash run is made of ``\\\\`` pairs plus at most one escaping backslash;
  the character before a run is never a pending escape). Scanning from the known end, each
  closing quote is found at structure level and its opening quote is the nearest unescaped
  quote to its left. The tail starts at an arbitrary byte, so whenever a decision needs a
  byte left of the window - a backslash run touching the window's start, a number whose
  first digit may be cut, a value still open - the scan stops. Members are collected as
  ``, "key": value`` runs until the ``"result"`` member or until the tail runs out (inside
  the huge ``result`` array, or inside a partly visible member, which is dropped). A member
  is accepted once its key's opening quote is decided, which needs one byte before it.

Both scans touch each byte of their window a bounded number of times: O(head + tail).
"""

from __future__ import annotations

import enum
import re
from typing import Any

import orjson

from truto_stream.errors import MalformedBody, TruncatedBody, UnexpectedContentType

__all__ = [
    "Framing",
    "LineSplitter",
    "detect_framing",
    "find_result_value",
    "is_json_seq",
    "scan_envelope_head",
    "scan_envelope_tail",
]


class Framing(enum.Enum):
    """How the records of a list body are laid out."""

    ENVELOPE = "envelope"  # {"result": [...], "next_cursor": ...}
    ARRAY = "array"  # [record, record, ...]
    NDJSON = "ndjson"  # one record per line
    CONCATENATED = "concatenated"  # record record ... (any whitespace, or none)


_BOM = b"\xef\xbb\xbf"
_WS = re.compile(rb"[ \t\r\n]*+")
# From just after an opening quote to just after the closing quote; possessive, so a
# missing closing quote fails in linear time.
_STRING_REST = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.S)
_NESTING = re.compile(rb'["\[\]{}]')
_SCALAR = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_SCALAR_CHARS_REV = re.compile(rb"[-+.0-9a-zA-Z]++")
_BACKSLASHES = re.compile(rb"\\*+")
_VALUE_START = frozenset(b'{["-0123456789tfn')

_NDJSON_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
        "application/json-seq",
        "application/stream+json",
        "application/jsonlines+json",
    }
)
_SNIFF_TYPES = frozenset(
    {
        "",
        "application/json",
        "application/x-json",
        "text/json",
        "text/x-json",
        "text/plain",
        "application/octet-stream",
        "binary/octet-stream",
    }
)
_ENVELOPE_KEYS = frozenset({"next_cursor", "prev_cursor", "result_count", "is_partial_response"})


class _Cut(Exception):
    """The window ended before the token did (not an error of the document)."""


def _preview(data: bytes, limit: int = 40) -> str:
    """A short, printable prefix of a body for error messages (never the full text)."""
    text = data[:limit].decode("utf-8", "replace")
    shown = "".join(c if c.isprintable() else "." for c in text)
    return shown + ("..." if len(data) > limit else "")


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


# --- detection ------------------------------------------------------------------------------


def detect_framing(content_type: str | None, head: bytes, *, complete: bool = False) -> Framing:
    """Decide the framing of a list body from its content type and first bytes.

    ``head`` is the start of the body (about 64 KiB), or all of it when ``complete``.
    NDJSON-family content types are trusted; HTML, images and other non-JSON types raise
    :class:`UnexpectedContentType`; JSON, text/plain, octet-stream or no type are decided
    by the bytes. When the head cannot tell NDJSON from concatenated values (the first
    value is cut, or nothing visible follows it), the answer is ``CONCATENATED``: a
    multiple-values parser reads NDJSON too.
    """
    media = _media_type(content_type)
    if media in _NDJSON_TYPES:
        return Framing.NDJSON
    if media not in _SNIFF_TYPES and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise UnexpectedContentType(
            f"unexpected content type {media[:80]!r} (body starts with {_preview(head)!r})"
        )
    start = _skip_bom_ws(head, 0)
    if start >= len(head):
        if complete or not head:
            raise MalformedBody("empty body")
        raise MalformedBody(f"no JSON in the first {len(head)} bytes of the body")
    first = head[start]
    if first == 0x5B:  # [
        return Framing.ARRAY
    if first != 0x7B:  # {
        raise MalformedBody(f"body is not JSON (starts with {_preview(head[start:])!r})")
    try:
        _members, saw_result, end = _scan_object(head, start, complete=complete, values=False)
    except _Cut:
        if complete:
            raise TruncatedBody("body ends inside its first JSON value") from None
        return Framing.CONCATENATED
    if saw_result:
        return Framing.ENVELOPE
    if end is None:  # the head ran out inside the first object
        if complete:
            raise TruncatedBody("body ends inside its first JSON value")
        # A big first record, unless the keys seen so far are an envelope's metadata.
        return Framing.ENVELOPE if _members.keys() & _ENVELOPE_KEYS else Framing.CONCATENATED
    after = _ws(head, end)
    if after >= len(head):
        if complete:
            raise MalformedBody("not a Truto list envelope (a single object with no 'result')")
        return Framing.CONCATENATED
    if head[after] not in _VALUE_START:
        raise MalformedBody(
            f"unexpected bytes after the first JSON value: {_preview(head[after:])!r}"
        )
    one_line = b"\n" not in head[start:end]
    separated = b"\n" in head[end:after]
    return Framing.NDJSON if one_line and separated else Framing.CONCATENATED


def _ws(data: bytes, i: int) -> int:
    """Index of the first non-whitespace byte at or after ``i``."""
    m = _WS.match(data, i)
    return m.end() if m else i


def _run_end(data: bytes, i: int) -> int:
    """Index just past the run of backslashes starting at ``i``."""
    m = _BACKSLASHES.match(data, i)
    return m.end() if m else i


def _skip_bom_ws(data: bytes, i: int) -> int:
    if data.startswith(_BOM, i):
        i += len(_BOM)
    return _ws(data, i)


def is_json_seq(content_type: str | None) -> bool:
    """True for ``application/json-seq`` (RFC 7464): build ``LineSplitter(json_seq=True)``."""
    return _media_type(content_type) == "application/json-seq"


# --- forward scan ---------------------------------------------------------------------------


def _string_end(data: bytes, i: int) -> int:
    """``data[i]`` is an opening quote: the index just past its closing quote."""
    m = _STRING_REST.match(data, i + 1)
    if m is None:
        raise _Cut
    return m.end()


def _value_end(data: bytes, i: int, complete: bool) -> int:
    """The index just past the JSON value starting at ``data[i]`` (not validated)."""
    c = data[i]
    if c == 0x22:
        return _string_end(data, i)
    if c in (0x5B, 0x7B):
        depth, j = 0, i
        while True:
            m = _NESTING.search(data, j)
            if m is None:
                raise _Cut
            k = m.start()
            ch = data[k]
            if ch == 0x22:
                j = _string_end(data, k)
                continue
            if ch in (0x5B, 0x7B):
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return k + 1
            j = k + 1
    m = _SCALAR.match(data, i)
    if m is None:
        if not complete and len(data) - i < 6:
            raise _Cut  # maybe a literal or number cut short ("tru", "-")
        raise MalformedBody(f"invalid JSON value at byte {i}: {_preview(data[i:], 20)!r}")
    if m.end() >= len(data) and not complete:
        raise _Cut  # "12" at the window's end may be "123"
    return m.end()


def _scan_object(
    data: bytes, i: int, *, complete: bool, values: bool
) -> tuple[dict[str, Any], bool, int | None]:
    """Scan the object starting at ``data[i] == '{'``.

    Returns ``(members before "result" or the end, saw_result, end)``; ``end`` is the index
    just past the closing brace, or None when the window ran out inside a member (members
    decoded so far are returned); when ``saw_result``, it is the index just past the
    ``"result"`` key. ``values=False`` records keys with None values.
    """
    out: dict[str, Any] = {}
    n = len(data)
    j = _ws(data, i + 1)
    if j < n and data[j] == 0x7D:  # {}
        return out, False, j + 1
    while True:
        if j >= n:
            return out, False, None
        if data[j] != 0x22:
            raise MalformedBody(f"expected a member name at byte {j}")
        try:
            key_end = _string_end(data, j)
        except _Cut:
            return out, False, None
        key = _loads(data[j:key_end])
        if not isinstance(key, str):  # pragma: no cover - a JSON string always decodes to str
            raise MalformedBody("bad member name")
        if key == "result":
            return out, True, key_end
        j = _ws(data, key_end)
        if j >= n:
            return out, False, None
        if data[j] != 0x3A:  # :
            raise MalformedBody(f"expected ':' at byte {j}")
        j = _ws(data, j + 1)
        if j >= n:
            return out, False, None
        try:
            end = _value_end(data, j, complete)
        except _Cut:
            return out, False, None
        out[key] = _loads(data[j:end]) if values else None
        j = _ws(data, end)
        if j >= n:
            return out, False, None
        if data[j] == 0x2C:  # ,
            j = _ws(data, j + 1)
            continue
        if data[j] == 0x7D:  # }
            return out, False, j + 1
        raise MalformedBody(f"expected ',' or '}}' at byte {j}")


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"invalid JSON in envelope metadata: {exc}") from None


def scan_envelope_head(head: bytes) -> dict[str, Any]:
    """The envelope's top-level members that precede ``result``, from the body's head.

    Stops at the ``result`` member or where the head runs out inside a member (that member
    is left out). Raises :class:`MalformedBody` if the head is not the start of an object.
    """
    if _BOM.startswith(head):
        return {}  # empty, or cut inside the byte-order mark
    i = _skip_bom_ws(head, 0)
    if i >= len(head):
        return {}
    if head[i] != 0x7B:
        raise MalformedBody(f"not a JSON object (starts with {_preview(head[i:])!r})")
    members, _saw_result, _end = _scan_object(head, i, complete=False, values=True)
    return members


def find_result_value(head: bytes) -> tuple[dict[str, Any], int] | None:
    """Where an envelope's ``result`` value starts: ``(members before it, index)``.

    ``None`` when the head ends before the value's first byte. Raises
    :class:`MalformedBody` when the head is not the start of an envelope.
    """
    i = _skip_bom_ws(head, 0)
    if i >= len(head):
        return None
    if head[i] != 0x7B:
        raise MalformedBody(f"not a JSON object (starts with {_preview(head[i:])!r})")
    try:
        members, saw_result, key_end = _scan_object(head, i, complete=False, values=True)
    except _Cut:
        return None
    if not saw_result:
        if key_end is not None:  # the object closed without a result member
            raise MalformedBody("not a Truto list envelope (no 'result' member)")
        return None
    assert key_end is not None
    j = _ws(head, key_end)
    if j >= len(head):
        return None
    if head[j] != 0x3A:  # :
        raise MalformedBody(f"expected ':' at byte {j}")
    j = _ws(head, j + 1)
    if j >= len(head):
        return None
    return members, j


# --- backward scan --------------------------------------------------------------------------


def scan_envelope_tail(tail: bytes) -> dict[str, Any]:
    """The envelope's top-level members that follow ``result``, from the body's last bytes.

    ``tail`` ends where the body ends and may start at any byte. Members appear in document
    order; a member only partly inside ``tail`` is left out.
    """
    rev = tail[::-1]  # scan right-to-left as left-to-right over the reversed bytes
    n = len(rev)
    k = _ws(rev, 0)
    if k >= n:
        return {}
    if rev[k] != 0x7D:  # }
        raise MalformedBody("body does not end with a JSON object")
    found: list[tuple[str, Any]] = []
    k = _ws(rev, k + 1)
    if k < n and rev[k] == 0x7B:  # {}
        return {}
    try:
        while k < n:
            # value
            v_end = _rev_value_end(rev, k)
            value_raw = rev[k:v_end][::-1]
            k = _ws(rev, v_end)
            if k >= n:
                break
            if rev[k] != 0x3A:  # :
                raise MalformedBody("unexpected bytes in the envelope's tail")
            k = _ws(rev, k + 1)
            if k >= n:
                break
            if rev[k] != 0x22:
                raise MalformedBody("expected a member name in the envelope's tail")
            key_end = _rev_string_end(rev, k)
            key = _loads(rev[k:key_end][::-1])
            if key == "result":
                break
            found.append((key, _loads(value_raw)))
            k = _ws(rev, key_end)
            if k >= n or rev[k] == 0x7B:  # window start, or the object's opening brace
                break
            if rev[k] != 0x2C:
                raise MalformedBody("expected ',' in the envelope's tail")
            k = _ws(rev, k + 1)
    except _Cut:
        pass
    # Collected last-first; replaying first-last keeps the last of duplicate keys, as
    # JSON parsers do.
    return dict(reversed(found))


def _rev_string_end(rev: bytes, k: int) -> int:
    """``rev[k]`` is a closing quote (reversed bytes): the index just past its opening one."""
    n = len(rev)
    q = k
    while True:
        q = rev.find(b'"', q + 1)
        if q < 0:
            raise _Cut
        run_end = _run_end(rev, q + 1)
        if run_end >= n:
            raise _Cut  # the backslash run (maybe empty) touches the window's start
        if (run_end - q - 1) % 2 == 0:
            return q + 1


def _rev_value_end(rev: bytes, k: int) -> int:
    """The value ending at ``rev[k]`` (reversed bytes): the index just past its start."""
    c = rev[k]
    if c == 0x22:
        return _rev_string_end(rev, k)
    if c in (0x5D, 0x7D):  # ] }
        depth, j = 0, k
        while True:
            m = _NESTING.search(rev, j)
            if m is None:
                raise _Cut
            i = m.start()
            ch = rev[i]
            if ch == 0x22:
                j = _rev_string_end(rev, i)
                continue
            if ch in (0x5D, 0x7D):
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return i + 1
            j = i + 1
    m = _SCALAR_CHARS_REV.match(rev, k)
    if m is None:
        raise MalformedBody("unexpected bytes in the envelope's tail")
    if m.end() >= len(rev):
        raise _Cut  # "45" at the window's start may be the end of "12345"
    return m.end()


# --- NDJSON ---------------------------------------------------------------------------------


class LineSplitter:
    """Split an NDJSON byte stream into complete, non-blank lines (``\\r`` stripped).

    Chunks are split with ``bytes.split`` (C speed); a partial line is kept as a list of
    pieces and joined once, when its newline arrives. A line longer than
    ``max_line_bytes`` raises :class:`MalformedBody`, bounding memory. With ``json_seq``
    (RFC 7464) a leading record separator ``\\x1e`` is stripped from each line.
    """

    def __init__(self, max_line_bytes: int = 16 * 2**20, *, json_seq: bool = False) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be >= 1")
        self.max_line_bytes = max_line_bytes
        self._json_seq = json_seq
        self._pending: list[bytes] = []
        self._pending_len = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add a chunk; return the lines it completed, in order."""
        limit = self.max_line_bytes
        if b"\n" not in chunk:
            if chunk:
                self._pending.append(chunk)
                self._pending_len += len(chunk)
                if self._pending_len > limit:
                    self._too_long()
            return []
        carried = self._pending_len
        parts = chunk.split(b"\n")
        if self._pending:
            self._pending.append(parts[0])
            parts[0] = b"".join(self._pending)
            self._pending.clear()
        rest = parts.pop()
        self._pending_len = len(rest)
        if rest:
            self._pending.append(rest)
        # Only when this much data arrived can a line be too long: skip the scan otherwise.
        if carried + len(chunk) > limit and (
            self._pending_len > limit or max(map(len, parts)) > limit
        ):
            self._too_long()
        return self._clean(parts)

    def close(self) -> list[bytes]:
        """End of body: the final line if the body did not end with a newline."""
        if not self._pending:
            return []
        last = b"".join(self._pending)
        self._pending.clear()
        self._pending_len = 0
        return self._clean([last])

    def _clean(self, parts: list[bytes]) -> list[bytes]:
        lines = [p[:-1] if p.endswith(b"\r") else p for p in parts if p and not p.isspace()]
        if self._json_seq:
            lines = [p.lstrip(b"\x1e") for p in lines]
            lines = [p for p in lines if p and not p.isspace()]
        return lines

    def _too_long(self) -> None:
        self._pending.clear()
        self._pending_len = 0
        raise MalformedBody(f"an NDJSON line is longer than {self.max_line_bytes} bytes")
