"""A response body to records: framing detection, then the framing's decoder (sans-IO).

:class:`BodyDecoder` is fed a body's bytes as they arrive and returns the records each
chunk completed (``feed``), then the last records and the envelope's other members
(``close``); no I/O, no ``await``. :func:`decode_body` decodes a body that is all there,
small ones with one ``orjson.loads``. Both give the same records, members and errors
for the same bytes, however they were cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import orjson

from truto_stream._decode._json import (
    BOM,
    DEFAULT_LIMITS,
    BodyLimits,
    check_records,
    loads,
    skip_ws,
)
from truto_stream._decode._members import (
    check_unique,
    find_result_value,
    object_members,
    skip_bom_ws,
)
from truto_stream._decode.documents import (
    ArrayDecoder,
    EnvelopeDecoder,
    ValuesDecoder,
    check_cursor,
    read_trailer,
)
from truto_stream._decode.framing import Framing, detect_framing, is_json_seq
from truto_stream._decode.ndjson import NdjsonDecoder
from truto_stream.errors import MalformedBody, TruncatedBody

__all__ = ["BodyDecoder", "Decoded", "decode_body", "decode_raw"]

#: An envelope up to this size is decoded with one plain ``orjson.loads``, not split
#: around its ``result`` (:func:`_decode_split`): the split's head scan and trailer cost
#: more than they save on a page of a record or two (measured, collector off: a 1-user
#: page 11.7 -> 9.4 µs; the two cross near 3 KiB).
TINY_ENVELOPE_BYTES: Final = 2**11


@dataclass
class Decoded:
    """A body's records (or its last ones) and the envelope's other members."""

    framing: Framing
    records: list[Any] = field(default_factory=list)
    members: dict[str, Any] = field(default_factory=dict)
    keyed: bool = False


class _Framed(Protocol):
    def feed(self, chunk: bytes | bytearray, *, more: bool = False) -> list[Any]: ...

    def close(self) -> tuple[list[Any], dict[str, Any]]: ...


class BodyDecoder:
    """``feed(chunk) -> records``, ``close() -> Decoded`` for one body, any framing.

    The framing is ``framing`` when given, else detected from ``content_type`` and the
    first bytes (:func:`~truto_stream._decode.framing.detect_framing`), as soon as they
    tell, within ``limits.max_metadata_bytes``. With ``as_text`` each record is handed on as
    its own JSON text (``bytes`` from ``{`` to ``}``), validated as the dicts would be
    (:mod:`~truto_stream._decode._text`); the members are decoded as always.
    """

    def __init__(
        self,
        content_type: str | None = None,
        *,
        framing: Framing | None = None,
        limits: BodyLimits = DEFAULT_LIMITS,
        as_text: bool = False,
    ) -> None:
        self.framing = framing
        self.as_text = as_text
        self._content_type = content_type
        self._limits = limits
        self._head = bytearray()
        self._skipped = 0  # leading whitespace dropped before detection
        self._tried = 0
        self._inner: _Framed | None = None

    @property
    def keyed(self) -> bool:
        """True when the envelope's ``result`` was an object (``truto_key_by``)."""
        return isinstance(self._inner, EnvelopeDecoder) and self._inner.keyed

    def feed(self, chunk: bytes | bytearray, *, more: bool = False) -> list[Any]:
        """Add the body's next bytes; return the records they completed.

        ``more``: the caller feeds the next bytes at once (it cut a read in parts): the
        last record these bytes complete may then be returned with the next ones, which
        saves scanning it twice. Without ``more``, every completed record is returned.
        """
        if self._inner is not None:
            return self._inner.feed(chunk, more=more)
        if not chunk:
            return []
        head: bytes | bytearray = chunk  # usually the first chunk tells: no copy
        if self._head:
            self._head += chunk
            head = self._head
        if self._maybe_bom(head):
            self._head = bytearray(head)
            return []
        if self._first_byte(head) >= len(head):  # only whitespace so far: nothing to keep
            self._skipped += len(head)
            self._head = bytearray()
            return []
        framing = self._detect(head, complete=False)
        if framing is None:
            if head is chunk:
                self._head += chunk
            return []
        return self._begin(framing, head)

    def close(self) -> Decoded:
        """The body has ended: its last records and members (or the error it holds)."""
        records: list[Any] = []
        if self._inner is None:
            if self._first_byte(self._head) >= len(self._head):
                raise MalformedBody("empty body")
            framing = self._detect(self._head, complete=True)
            assert framing is not None  # a complete body is decided, or refused
            records = self._begin(framing, self._head)
        assert self._inner is not None and self.framing is not None
        last, members = self._inner.close()
        return Decoded(self.framing, records + last, members, self.keyed)

    def _maybe_bom(self, head: bytes | bytearray) -> bool:
        """A byte-order mark cut short at the very start of the body."""
        return not self._skipped and len(head) < len(BOM) and BOM.startswith(head)

    def _detect(self, head: bytes | bytearray, *, complete: bool) -> Framing | None:
        if self.framing is not None:
            return self.framing
        if not complete and len(head) < 2 * self._tried:
            return None  # detect again once the head has doubled: linear however it trickles
        self._tried = len(head)
        decide = complete or len(head) > self._limits.max_metadata_bytes
        return detect_framing(self._content_type, head, complete=complete, decide=decide)

    def _first_byte(self, head: bytes | bytearray) -> int:
        # A byte-order mark counts only at the very start of the body.
        return skip_ws(head, 0) if self._skipped else skip_bom_ws(head, 0)

    def _begin(self, framing: Framing, head: bytes | bytearray) -> list[Any]:
        sniffed = self.framing is None
        self.framing = framing
        start = self._first_byte(head)
        offset = self._skipped + start
        limits = self._limits
        inner: _Framed
        as_text = self.as_text
        if framing is Framing.NDJSON:
            inner = NdjsonDecoder(limits, json_seq=is_json_seq(self._content_type), as_text=as_text)
        elif framing is Framing.ENVELOPE:
            inner = EnvelopeDecoder(limits, start=offset, as_text=as_text)
        elif framing is Framing.ARRAY:
            inner = ArrayDecoder(limits, start=offset, as_text=as_text)
        else:
            inner = ValuesDecoder(limits, start=offset, single=not sniffed, as_text=as_text)
        self._inner = inner
        self._head = bytearray()
        return inner.feed(head[start:] if start else head)


def decode_body(
    body: bytes,
    content_type: str | None = None,
    *,
    framing: Framing | None = None,
    limits: BodyLimits = DEFAULT_LIMITS,
    as_text: bool = False,
) -> Decoded:
    """Decode a whole body: an envelope or array in one ``orjson.loads`` when it can.

    ``as_text``: records as their own text (see :class:`BodyDecoder`), run by run.
    """
    start = skip_bom_ws(body, 0)
    if start >= len(body):
        raise MalformedBody("empty body")
    framing = framing or detect_framing(content_type, body, complete=True)
    fast = not as_text and not limits.exact_depth and len(body) <= limits.max_record_bytes
    if fast and framing in (Framing.ENVELOPE, Framing.ARRAY):
        try:
            return _decode_document(body[start:] if start else body, framing, start)
        except TruncatedBody:
            # orjson calls `[0` cut short; fed in chunks, the decoder sees first that its
            # record is no object. A body gets the fed verdict, whole or in chunks.
            _decode_fed(body, content_type, framing, limits, as_text)
            raise
    return _decode_fed(body, content_type, framing, limits, as_text)


def _decode_fed(
    body: bytes,
    content_type: str | None,
    framing: Framing | None,
    limits: BodyLimits,
    as_text: bool,
) -> Decoded:
    """``body`` through the incremental decoder, in one feed."""
    decoder = BodyDecoder(content_type, framing=framing, limits=limits, as_text=as_text)
    records = decoder.feed(body)
    decoded = decoder.close()
    decoded.records[:0] = records
    return decoded


def _decode_document(body: bytes, framing: Framing, at: int) -> Decoded:
    if framing is Framing.ENVELOPE and len(body) > TINY_ENVELOPE_BYTES:
        split = _decode_split(body, at)
        if split is not None:
            return split
    document = loads(body, at)
    if framing is Framing.ARRAY:
        if not isinstance(document, list):
            raise MalformedBody("expected a JSON array")
        return Decoded(framing, check_records(document, "in the array"))
    if not isinstance(document, dict) or "result" not in document:
        raise MalformedBody("not a Truto list envelope (no 'result' member)")
    # Which of two equal keys a parser keeps is not defined: refuse them. Counting the
    # quoted names runs at C speed; only a body that has one twice is scanned exactly.
    if body.count(b'"result"') > 1 or body.count(b'"next_cursor"') > 1:
        _check_unique_members(body, document)
    result = document.pop("result")
    if isinstance(result, dict) and "debug" in document and "result" in result:
        # truto_response_format=debug wraps the unified envelope: {result: {...}, debug}.
        inner = result
        result = inner.pop("result")
        document = {**inner, "debug": document["debug"]}
    return _envelope(result, document)


def _decode_split(body: bytes, at: int) -> Decoded | None:
    """An envelope whose ``result`` array is followed by plain members only (Truto's own
    shape), decoded as its parts: the members before ``result`` from the head scan,
    ``result`` with one ``orjson.loads``, the members after it. So every top-level name
    is seen at no cost beyond the decode. None when the body is not of that shape (or
    is broken): the caller decodes it whole instead.

    Exact: the text from ``result``'s first byte to the last ``]`` decodes only if it is
    that one array (JSON is LL(1): the array read from its first byte ends where it
    ends), and what follows is decoded too.
    """
    found = find_result_value(body)
    if found is None or body[found[1]] != 0x5B:
        return None
    members, start = found
    end = body.rfind(b"]") + 1
    # Inside one bracket, as inside the envelope: orjson counts the levels it would count.
    wrapped = b"".join((b"[", memoryview(body)[start:end], b"]"))
    try:
        (result,) = orjson.loads(wrapped)
    except (orjson.JSONDecodeError, ValueError):
        return None  # not where the array ends: decoded whole, the body will tell why
    read_trailer(body[end:], at + end, members, None)
    return _envelope(result, members)


def _envelope(result: Any, members: dict[str, Any]) -> Decoded:
    check_cursor(members)
    if isinstance(result, dict):
        records = check_records(list(result.values()), "in 'result'")
        return Decoded(Framing.ENVELOPE, records, members, keyed=True)
    if isinstance(result, list):
        return Decoded(Framing.ENVELOPE, check_records(result, "in 'result'"), members)
    if result is not None:
        raise MalformedBody("'result' is neither an array nor an object")
    return Decoded(Framing.ENVELOPE, [], members)


def _check_unique_members(body: bytes, document: dict[str, Any]) -> None:
    members = object_members(body, 0)
    check_unique(name for name, _ in members)
    result = document["result"]
    if isinstance(result, dict) and "debug" in document and "result" in result:
        start = next(value for name, value in members if name == "result")
        check_unique(name for name, _ in object_members(body, start))


def decode_raw(body: bytes) -> Decoded:
    """A vendor's own page (``truto_response_format=raw``): its ``result`` list if it has
    one, else the whole document as a single record."""
    document = loads(body)
    if isinstance(document, dict) and isinstance(document.get("result"), list):
        records = document.pop("result")
        return Decoded(Framing.ENVELOPE, records, document)
    return Decoded(Framing.ENVELOPE, [document])
