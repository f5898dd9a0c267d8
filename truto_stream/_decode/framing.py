"""Which framing a list body uses, from its content type and first bytes (sans-IO).

``truto_response_format=stream`` has no documented wire format, so the client looks at the
content type and the first bytes: a Truto envelope ``{"result": [...], "next_cursor": ...}``,
a bare JSON array, NDJSON, or concatenated JSON values.
"""

from __future__ import annotations

import enum
from typing import Final

from truto_stream._decode._json import skip_ws
from truto_stream._decode._members import RESULT_FIRST, preview, scan_object, skip_bom_ws
from truto_stream.errors import MalformedBody, TruncatedBody, UnexpectedContentType

__all__ = ["Framing", "detect_framing", "is_json_seq"]


class Framing(enum.Enum):
    """How the records of a list body are laid out."""

    ENVELOPE = "envelope"  # {"result": [...], "next_cursor": ...}
    ARRAY = "array"  # [record, record, ...]
    NDJSON = "ndjson"  # one record per line
    CONCATENATED = "concatenated"  # record record ... (any whitespace, or none)


_NDJSON_TYPES: Final = frozenset(
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
_SNIFF_TYPES: Final = frozenset(
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
_ENVELOPE_KEYS: Final = frozenset(
    {"next_cursor", "prev_cursor", "result_count", "is_partial_response"}
)
_VALUE_START: Final = frozenset(b'{["-0123456789tfn')


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def is_json_seq(content_type: str | None) -> bool:
    """True for ``application/json-seq`` (RFC 7464): records are led by ``\\x1e``."""
    return _media_type(content_type) == "application/json-seq"


def detect_framing(
    content_type: str | None,
    head: bytes | bytearray,
    *,
    complete: bool = False,
    decide: bool = True,
) -> Framing | None:
    """Decide the framing of a list body from its content type and first bytes.

    ``head`` is the start of the body, or all of it when ``complete``. NDJSON-family
    content types are trusted; HTML, images and other non-JSON types raise
    :class:`UnexpectedContentType`; JSON, text/plain, octet-stream or no type are decided
    by the bytes. When the head cannot tell yet (the first value is cut, or nothing
    visible follows it), the answer is None, or with ``decide`` a best guess:
    ``CONCATENATED`` (a multiple-values parser reads NDJSON too), or ``ENVELOPE`` when
    the keys seen so far are an envelope's metadata.
    """
    media = _media_type(content_type)
    if media in _NDJSON_TYPES:
        return Framing.NDJSON
    _check_json_type(media, head)
    if RESULT_FIRST.match(head):  # Truto's own shape, the usual case
        return Framing.ENVELOPE
    start = skip_bom_ws(head, 0)
    if start >= len(head):
        if complete or not head:
            raise MalformedBody("empty body")
        if decide:
            raise MalformedBody(f"no JSON in the first {len(head)} bytes of the body")
        return None
    first = head[start]
    if first == 0x5B:  # [
        return Framing.ARRAY
    if first != 0x7B:  # {
        raise MalformedBody(f"body is not JSON (starts with {preview(head[start:])!r})")
    return _object_led(head, start, complete=complete, decide=decide)


def _check_json_type(media: str, head: bytes | bytearray) -> None:
    """Raise :class:`UnexpectedContentType` for a media type whose bytes are not sniffed
    as JSON."""
    if media not in _SNIFF_TYPES and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise UnexpectedContentType(
            f"unexpected content type {media[:80]!r} (body starts with {preview(head[:40])!r})"
        )


def _object_led(
    head: bytes | bytearray, start: int, *, complete: bool, decide: bool
) -> Framing | None:
    """The framing of a body whose first value is an object (at ``start``)."""
    members, saw_result, end = scan_object(head, start, complete=complete, decode=False)
    if saw_result:
        return Framing.ENVELOPE
    if end is None:  # the head ran out inside the first object
        if complete:
            raise TruncatedBody("body ends inside its first JSON value")
        if not decide:
            return None
        # A big first record, unless the keys seen so far are an envelope's metadata.
        return Framing.ENVELOPE if members.keys() & _ENVELOPE_KEYS else Framing.CONCATENATED
    after = skip_ws(head, end)
    if after >= len(head):
        if complete:
            raise MalformedBody("not a Truto list envelope (a single object with no 'result')")
        return Framing.CONCATENATED if decide else None
    if head[after] not in _VALUE_START:
        raise MalformedBody(
            f"unexpected bytes after the first JSON value: {preview(head[after:])!r}"
        )
    one_line = b"\n" not in head[start:end]
    separated = b"\n" in head[end:after]
    return Framing.NDJSON if one_line and separated else Framing.CONCATENATED
