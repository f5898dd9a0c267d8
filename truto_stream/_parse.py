"""Turning response bodies into batches of records, incrementally.

The strategy follows measurements on this project's machine (see the README):

- a body of known, small size (or a small one that has arrived whole) is decoded with one
  ``orjson.loads``;
- a large or unbounded envelope or bare array is cut, chunk by chunk, into runs of whole
  records, each decoded with one ``orjson.loads`` (:mod:`truto_stream._slices`: exact,
  about 2-3x the speed of ijson here). Memory is a chunk plus one record. The envelope's
  other members (``next_cursor``...) are read before and after ``result``, which is
  never buffered whole nor parsed twice;
- NDJSON is split into lines, each decoded with ``orjson``;
- what does not fit those (``truto_key_by`` objects, concatenated values, records that
  are not objects) goes through ``ijson``'s C backend in one pass, the envelope's
  members then recovered from the first and last bytes of the body
  (:func:`~truto_stream._framing.scan_envelope_head` / ``scan_envelope_tail``).

Records are handed on in batches, one per network chunk, before the parser waits for
the next chunk: the first records arrive without delay and per-record overhead stays low.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

import ijson
import orjson

from truto_stream._framing import (
    Framing,
    LineSplitter,
    detect_framing,
    find_result_value,
    is_json_seq,
    scan_envelope_head,
    scan_envelope_tail,
)
from truto_stream._slices import first_key_hint, take_records
from truto_stream.errors import MalformedBody, TruncatedBody, TrutoError

__all__ = [
    "HEAD_BYTES",
    "ORJSON_MAX_BYTES",
    "BodyMeta",
    "ByteSource",
    "Emit",
    "parse_body",
    "parser_backend",
]

#: Bodies up to this size, when their length is known in advance (or when they have
#: arrived whole), are decoded with one orjson.loads; larger ones run by run. Measured
#: with ``python -m benchmarks.threshold``: one decode is cheaper per user below ~0.4 MiB,
#: runs of records above (the whole-body decode pays for its garbage collector).
ORJSON_MAX_BYTES: Final = 2**19
#: How much of the start and of the end of a body is kept to read envelope metadata.
#: The members besides ``result`` (next_cursor, result_count...) must fit in these on
#: their side of ``result``. The tail scan is Python code walking back into ``result``
#: until the window ends, so the window is kept small (~1 ms per body at 16 KiB).
HEAD_BYTES: Final = 2**14
TAIL_BYTES: Final = 2**14
#: The read size handed to ijson (its buffer) and used for raw chunks.
CHUNK_BYTES: Final = 2**16
#: One record larger than this is refused: it bounds what a sliced parse may buffer.
MAX_RECORD_BYTES: Final = 64 * 2**20
#: The envelope members after ``result`` are read whole, up to this size.
MAX_TRAILER_BYTES: Final = 2**20

Emit = Callable[[list[Any]], Awaitable[None]]


class ByteSource(Protocol):
    """What the parser reads from: aiohttp's ``StreamReader`` satisfies it."""

    async def read(self, n: int = -1) -> bytes: ...


@runtime_checkable
class BufferedSource(ByteSource, Protocol):
    """A source that can also hand over what has already arrived, without waiting."""

    def read_buffered(self, n: int) -> bytes: ...

    def at_eof(self) -> bool: ...


def parser_backend(*, strict: bool = False) -> Any:
    """The ijson backend to use: yajl2_c, or a loud warning (or error) without it."""
    try:
        return ijson.get_backend("yajl2_c")
    except Exception:  # pragma: no cover - depends on the installed wheel
        message = (
            "ijson's C backend (yajl2_c) is not available; falling back to a much slower "
            "one (~20x). Install an ijson wheel for this platform."
        )
        if strict:
            raise RuntimeError(message) from None
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return ijson


_IJSON: Final = parser_backend()


@dataclass
class BodyMeta:
    """What a body says besides the records already emitted.

    ``records`` are the body's last records, not emitted yet: the caller hands them on
    together with the metadata (``next_cursor``...), which is only known at the end.
    """

    framing: Framing
    records: list[Any] = field(default_factory=list)
    members: dict[str, Any] = field(default_factory=dict)
    keyed: bool = False
    bytes_read: int = 0

    @property
    def next_cursor(self) -> str | None:
        value = self.members.get("next_cursor")
        return value if isinstance(value, str) and value else None


class _Reader:
    """Feeds the parser, keeps the head and a rolling tail, flushes records before I/O."""

    def __init__(self, source: ByteSource, prefix: bytes, flush: Callable[[], Awaitable[None]]):
        self._source = source
        self._pending = prefix
        self._flush = flush
        self.head = prefix[:HEAD_BYTES]
        self.tail = prefix[-TAIL_BYTES:]
        self.bytes_read = len(prefix)

    async def read(self, n: int = -1) -> bytes:
        if n == 0:  # ijson probes with read(0) to learn bytes from str
            return b""
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        # Hand on what the parser built from the previous chunk before waiting on the
        # network: the first records of a slow stream reach the caller at once.
        await self._flush()
        data = await self._source.read(n if n > 0 else CHUNK_BYTES)
        if data:
            self.bytes_read += len(data)
            if len(self.head) < HEAD_BYTES:
                self.head += data[: HEAD_BYTES - len(self.head)]
            self.tail = (self.tail + data)[-TAIL_BYTES:]
        return data


#: Enough of a body's start to tell an envelope from NDJSON or concatenated values.
DETECT_BYTES: Final = 2**13


async def read_prefix(source: ByteSource) -> tuple[bytes, bool]:
    """Read the body's first bytes for framing detection: ``(data, reached_end)``.

    Waits for at most :data:`DETECT_BYTES` (less when the body is clearly an array), then
    also takes whatever has already arrived, up to :data:`ORJSON_MAX_BYTES`, without
    waiting: a small body that is all there is parsed whole, the fast way, and a slow
    stream is not held up.
    """
    data = b""
    while len(data) < DETECT_BYTES:
        chunk = await source.read(CHUNK_BYTES)
        if not chunk:
            return data, True
        data += chunk
        if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
            break
    if isinstance(source, BufferedSource):
        parts = [data]
        size = len(data)
        while size < ORJSON_MAX_BYTES and (more := source.read_buffered(ORJSON_MAX_BYTES - size)):
            parts.append(more)
            size += len(more)
        data = b"".join(parts)
        if source.at_eof():
            return data, True
    return data, False


async def parse_body(
    source: ByteSource,
    *,
    content_type: str | None,
    content_length: int | None,
    emit: Emit,
    framing: Framing | None = None,
    keyed: bool = False,
    whole: bool = False,
    raw: bool = False,
) -> BodyMeta:
    """Parse one response body, calling ``emit`` with batches of records.

    ``framing`` overrides detection. ``keyed`` says ``result`` is an object (the caller
    asked for ``truto_key_by``): its values are the records. ``whole`` forces reading
    the body in one piece (used for bounded formats such as ``debug``). ``raw`` accepts
    a vendor's own page body, which is handed on as a single record.
    """
    small = content_length is not None and content_length <= ORJSON_MAX_BYTES
    if whole or small:
        body = await _read_all(source)
        if raw:
            return _parse_raw(body)
        return await _parse_whole(body, content_type, emit, framing, keyed)
    prefix, complete = await read_prefix(source)
    if not prefix.strip():
        raise MalformedBody("empty body where JSON was expected")
    if complete:  # the whole (small) body arrived with the first chunks
        if raw:
            return _parse_raw(prefix)
        return await _parse_whole(prefix, content_type, emit, framing, keyed)
    detected = framing or detect_framing(content_type, prefix[:HEAD_BYTES], complete=complete)
    if detected is Framing.NDJSON:
        return await _parse_ndjson(source, prefix, emit, json_seq=is_json_seq(content_type))
    if detected in (Framing.ENVELOPE, Framing.ARRAY) and not keyed:
        return await _parse_sliced(source, prefix, detected, emit)
    return await _parse_incremental(source, prefix, detected, emit, keyed)


async def _read_all(source: ByteSource) -> bytes:
    parts = []
    while chunk := await source.read(CHUNK_BYTES * 4):
        parts.append(chunk)
    return b"".join(parts)


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _json_error(str(exc), len(data)) from None


def _json_error(detail: str, size: int) -> TrutoError:
    # A document that stops mid-value was cut short in transit; anything else is malformed.
    # Only the parser's first line is kept: later lines quote the body (user data).
    first_line = detail.strip().splitlines()[0][:200] if detail.strip() else "no detail"
    lowered = first_line.lower()
    if "premature eof" in lowered or "unexpected end" in lowered:
        return TruncatedBody(f"body ended before its JSON did, after {size} bytes")
    return MalformedBody(f"invalid JSON: {first_line}")


async def _parse_whole(
    body: bytes,
    content_type: str | None,
    emit: Emit,
    framing: Framing | None,
    keyed: bool,
) -> BodyMeta:
    if not body.strip():
        raise MalformedBody("empty body where JSON was expected")
    detected = framing or detect_framing(content_type, body[:HEAD_BYTES], complete=True)
    meta = BodyMeta(framing=detected, bytes_read=len(body))
    if detected is Framing.NDJSON:
        splitter = LineSplitter(json_seq=is_json_seq(content_type))
        meta.records = [_loads(line) for line in splitter.feed(body) + splitter.close()]
        return meta
    if detected is Framing.CONCATENATED:
        return await _parse_incremental(_Bytes(body), b"", detected, emit, keyed)
    document = _loads(body)
    if detected is Framing.ARRAY:
        if not isinstance(document, list):
            raise MalformedBody("expected a JSON array")
        meta.records = document
        return meta
    if not isinstance(document, dict) or "result" not in document:
        raise MalformedBody("not a Truto list envelope (no 'result' member)")
    result = document.pop("result")
    if isinstance(result, dict) and "debug" in document and "result" in result:
        # truto_response_format=debug wraps the unified envelope: {result: {...}, debug}.
        inner = result
        result = inner.pop("result")
        document = {**inner, "debug": document["debug"]}
    meta.members = document
    if isinstance(result, dict):
        meta.keyed = True
        meta.records = list(result.values())
    elif isinstance(result, list):
        meta.records = result
    elif result is not None:
        raise MalformedBody("'result' is neither an array nor an object")
    return meta


def _parse_raw(body: bytes) -> BodyMeta:
    document = _loads(body)
    if isinstance(document, dict) and isinstance(document.get("result"), list):
        records = document.pop("result")
        return BodyMeta(Framing.ENVELOPE, records=records, members=document, bytes_read=len(body))
    return BodyMeta(Framing.ENVELOPE, records=[document], bytes_read=len(body))


class _Bytes:
    """An in-memory :class:`ByteSource`."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    async def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = len(self._data)
        chunk, self._data = self._data[:n], self._data[n:]
        return bytes(chunk)


async def _parse_ndjson(
    source: ByteSource, prefix: bytes, emit: Emit, *, json_seq: bool = False
) -> BodyMeta:
    splitter = LineSplitter(json_seq=json_seq)
    total = len(prefix)
    records = [_loads(line) for line in splitter.feed(prefix)]
    while True:
        if records:  # hand on before waiting on the network
            await emit(records)
        chunk = await source.read(CHUNK_BYTES * 4)
        if not chunk:
            break
        total += len(chunk)
        records = [_loads(line) for line in splitter.feed(chunk)]
    last = [_loads(line) for line in splitter.close()]
    return BodyMeta(framing=Framing.NDJSON, records=last, bytes_read=total)


async def _parse_incremental(
    source: ByteSource, prefix: bytes, framing: Framing, emit: Emit, keyed: bool
) -> BodyMeta:
    batch: list[Any] = []

    async def flush() -> None:
        if batch:
            out = batch.copy()
            batch.clear()
            await emit(out)

    reader = _Reader(source, prefix, flush)
    append = batch.append
    try:
        if framing is Framing.ENVELOPE and keyed:
            async for _key, value in _IJSON.kvitems_async(
                reader, "result", use_float=True, buf_size=CHUNK_BYTES
            ):
                append(value)
        else:
            prefix_path = {
                Framing.ENVELOPE: "result.item",
                Framing.ARRAY: "item",
                Framing.CONCATENATED: "",
            }[framing]
            async for item in _IJSON.items_async(
                reader,
                prefix_path,
                use_float=True,
                multiple_values=framing is Framing.CONCATENATED,
                buf_size=CHUNK_BYTES,
            ):
                append(item)
    except ijson.JSONError as exc:
        raise _json_error(str(exc), reader.bytes_read) from None
    meta = BodyMeta(framing=framing, records=batch, keyed=keyed, bytes_read=reader.bytes_read)
    if framing is Framing.ENVELOPE:
        meta.members = {**scan_envelope_head(reader.head), **scan_envelope_tail(reader.tail)}
        meta.members.pop("result", None)
    return meta


async def _parse_sliced(
    source: ByteSource, prefix: bytes, framing: Framing, emit: Emit
) -> BodyMeta:
    """An envelope's ``result`` array, or a bare array, decoded with orjson run by run.

    Each network chunk completes some records: the longest run of whole records is cut
    exactly (:func:`~truto_stream._slices.take_records`) and decoded with one
    ``orjson.loads``; the partial record left over waits for the next chunk. Memory is
    the chunk plus one record. The envelope's members before ``result`` come from the
    head scan, those after it are read whole once the array has closed. Bodies this
    does not fit (a ``result`` object, records that are not objects, a head too large
    to find ``result`` in) go to ijson instead.
    """
    data = prefix
    total = len(prefix)

    async def read_more() -> bytes:
        nonlocal total
        chunk = await source.read(CHUNK_BYTES * 4)
        total += len(chunk)
        return chunk

    members: dict[str, Any] = {}
    found: tuple[dict[str, Any], int] | None = None
    while True:
        if framing is Framing.ENVELOPE:
            found = find_result_value(data)
            start = found[1] if found is not None else None
        else:
            start = _skip_ws(data, 0)
            start = start if start < len(data) else None
        if start is not None and start < len(data):
            opener = data[start]
            first = _skip_ws(data, start + 1) if opener == 0x5B else start
            if opener == 0x5B and first < len(data):
                break  # the array and its first element (or its end) are in sight
            if opener != 0x5B:
                break
        if len(data) > HEAD_BYTES:
            return await _parse_incremental(source, data, framing, emit, keyed=False)
        chunk = await read_more()
        if not chunk:
            return await _parse_whole(data, None, emit, framing, keyed=False)
        data += chunk
    if found is not None and framing is Framing.ENVELOPE:
        members = found[0]
    if data[start] != 0x5B or data[first] not in b"{]":
        # A keyed object, null, or records that are not objects: ijson handles those.
        return await _parse_incremental(source, data, framing, emit, keyed=data[start] == 0x7B)

    buf = data[first:]
    del data
    hint = first_key_hint(buf, 0)
    tried = False  # the buffer as it is was already searched for whole records
    while True:
        i = _skip_ws(buf, 0)
        if i < len(buf) and buf[i] == 0x5D:  # ]: the array is over
            trailer = buf[i + 1 :]
            break
        if i:
            buf = buf[i:]
        if not tried and buf:
            tried = True
            taken = take_records(buf, hint)
            if taken is not None:
                records, end = taken
                await emit(records)
                j = _skip_ws(buf, end)
                buf = buf[j + 1 :] if j < len(buf) and buf[j] == 0x2C else buf[j:]
                tried = False  # what is left may hold the last record and the array's end
                continue
        if len(buf) > MAX_RECORD_BYTES:
            raise MalformedBody(f"a record larger than {MAX_RECORD_BYTES} bytes")
        chunk = await read_more()
        if not chunk:
            # No whole record left and no more bytes: orjson says whether the rest stops
            # short (a cut body) or is broken (a malformed one).
            try:
                orjson.loads(b"[" + buf)
            except orjson.JSONDecodeError as exc:
                raise _json_error(str(exc), total) from None
            raise TruncatedBody(f"body ended inside its array, after {total} bytes")
        buf += chunk
        tried = False

    while len(trailer) <= MAX_TRAILER_BYTES and (chunk := await read_more()):
        trailer += chunk
    if len(trailer) > MAX_TRAILER_BYTES:
        raise MalformedBody(f"more than {MAX_TRAILER_BYTES} bytes after the records")
    rest = trailer.strip()
    if framing is Framing.ARRAY:
        if rest:
            raise MalformedBody("bytes after the JSON array")
    elif rest.startswith(b","):
        after = _loads(b"{" + rest[1:])
        if not isinstance(after, dict):  # pragma: no cover - "{..." decodes to a dict
            raise MalformedBody("bad envelope members after 'result'")
        members.update(after)
    elif rest != b"}":
        raise _json_error("premature EOF" if not rest else "bad envelope end", total)
    return BodyMeta(framing=framing, members=members, bytes_read=total)


def _skip_ws(data: bytes, i: int) -> int:
    """Index of the first byte at or after ``i`` that is not JSON whitespace (or a BOM)."""
    n = len(data)
    if data.startswith(b"\xef\xbb\xbf", i):
        i += 3
    while i < n and data[i] in b" \t\r\n":
        i += 1
    return i
