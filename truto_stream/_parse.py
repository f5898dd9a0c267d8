"""The read loop: a response body's bytes, read chunk by chunk, into batches of records.

Decoding is the sans-IO :mod:`truto_stream._decode`'s job; this module only reads:

- a body of known, small size (or a small one that has arrived whole, or one the
  caller wants whole, such as ``debug``) is read whole and decoded with one
  ``orjson.loads`` (:func:`~truto_stream._decode.decode_body`);
- any other body is fed to a :class:`~truto_stream._decode.BodyDecoder` chunk by chunk.
  The records each chunk completes are handed on (``emit``) before the next read, so
  the first records of a slow stream reach the caller at once, and every chunk ends
  at a real scheduling point: the decoder's work per chunk is bounded, so a cancelled
  read stops within a bounded time however the body looks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

import anyio.lowlevel

from truto_stream._decode import (
    DEFAULT_LIMITS,
    BodyDecoder,
    BodyLimits,
    Decoded,
    Framing,
    decode_body,
    decode_raw,
)
from truto_stream.errors import MalformedBody

__all__ = [
    "CHUNK_BYTES",
    "LIST_PART_BYTES",
    "ORJSON_MAX_BYTES",
    "PAGE_BUFFER_BYTES",
    "BodyMeta",
    "ByteSource",
    "Emit",
    "Room",
    "parse_body",
    "read_bytes_for",
]

#: Bodies up to this size, when their length is known in advance (or when they have
#: arrived whole), are decoded with one orjson.loads; larger ones run by run. Measured
#: with ``python -m benchmarks.threshold``: one decode is cheaper per user below ~0.4 MiB,
#: runs of records above (the whole-body decode pays for its garbage collector).
ORJSON_MAX_BYTES: Final = 2**19
#: The read size for bodies parsed incrementally (a walk's, unless its sweep runs many).
#: A read's records are decoded together, and orjson's cost per record grows with the
#: run it decodes (cache): 128 KiB reads took a 250,000-user stream from 12.2 to about
#: 9.5 µs of CPU per user against 256 KiB (what the library before this round spent).
CHUNK_BYTES: Final = 2**17
#: The most of a read decoded into one batch by ``client.list`` and ``client.pages``,
#: whose caller takes each batch as it comes: a batch is handed on, and let go, before
#: the next is decoded, so a few dozen records are alive at a time and the collector
#: rarely runs, let alone sees them (at 128 KiB, one 250,000-user stream ran 2,600
#: young and 16-22 full collections). Sweeps decode a read at a time (their buffer
#: holds records longer anyway).
LIST_PART_BYTES: Final = 2**15
#: What the walks of one sweep read at once, together: each walk reads this much divided
#: by the walks (down to :data:`MIN_READ_BYTES`). A walk holds one read's records while it
#: waits for room in the sweep's buffer, and its connection buffers up to two reads more,
#: so many walks at full-size reads would hold far more than the buffer (512 at 256 KiB:
#: ~600 MB). 8 walks, the stream default, and up to 16 read full chunks.
SWEEP_READ_BYTES: Final = 2**21
#: The smallest read size a walk is given (below it, per-read work outweighs the records).
MIN_READ_BYTES: Final = 2**15
#: What a paged request's connection may buffer ahead is at least twice this, whatever
#: the walk's read share: a page of up to 256 KiB then arrives without aiohttp pausing
#: and resuming the socket once per page (about 45 µs of CPU per 75 KB page, measured).
#: A walk holds a small page whole anyway (up to :data:`ORJSON_MAX_BYTES`); a stream
#: keeps its share.
PAGE_BUFFER_BYTES: Final = 2**17
#: Enough of a body's start to tell an envelope from NDJSON or concatenated values.
DETECT_BYTES: Final = 2**13

Emit = Callable[[list[Any]], Awaitable[None]]
#: Waits until the caller can take more records: called before each decode, so bytes
#: wait undecoded (several times smaller than their records).
Room = Callable[[], Awaitable[None]]


def read_bytes_for(walks: int) -> int:
    """The read size of each of ``walks`` walks at once: their share of
    :data:`SWEEP_READ_BYTES`, between :data:`MIN_READ_BYTES` and :data:`CHUNK_BYTES` (a
    page's reads are at least :data:`PAGE_BUFFER_BYTES`: ``ListRequest.read_size``)."""
    return max(MIN_READ_BYTES, min(CHUNK_BYTES, SWEEP_READ_BYTES // max(1, walks)))


class ByteSource(Protocol):
    """What the parser reads from: aiohttp's ``StreamReader`` satisfies it."""

    async def read(self, n: int = -1) -> bytes: ...


@runtime_checkable
class BufferedSource(ByteSource, Protocol):
    """A source that can also hand over what has already arrived, without waiting."""

    def read_buffered(self, n: int) -> bytes: ...

    def at_eof(self) -> bool: ...


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


async def parse_body(
    source: ByteSource,
    *,
    content_type: str | None,
    content_length: int | None,
    emit: Emit,
    framing: Framing | None = None,
    whole: bool = False,
    raw: bool = False,
    as_text: bool = False,
    limits: BodyLimits = DEFAULT_LIMITS,
    read_bytes: int = CHUNK_BYTES,
    part_bytes: int | None = None,
    room: Room | None = None,
) -> BodyMeta:
    """Parse one response body, calling ``emit`` with batches of records.

    ``framing`` overrides detection. ``whole`` reads the body in one piece (bounded
    formats such as ``debug``; up to ``limits.max_record_bytes``). ``raw`` accepts a
    vendor's own page body, handed on as a single record (or its ``result`` list).
    ``as_text`` hands each record on as its own JSON text (``bytes``; not for ``raw``).
    ``read_bytes``: the size of each read of an incremental parse; ``part_bytes``: the most
    of a read decoded into one batch (None: a batch is one read's records). ``room``,
    when given, is awaited before each decode.
    """
    small = content_length is not None and content_length <= ORJSON_MAX_BYTES
    if whole or small:
        # A page read whole because the caller asked (debug, raw) is bounded like one
        # record; a small one by its length.
        limit = limits.max_record_bytes if whole else ORJSON_MAX_BYTES
        body = await _read_all(source, limit, content_length if small else None)
        await _wait(room)
        return _whole(body, content_type, framing, raw, limits, as_text)
    # What has arrived is taken whole up to two reads' worth: as much as the connection
    # reads ahead, so many walks with small reads hold little each.
    prefix, complete = await read_prefix(source, min(ORJSON_MAX_BYTES, 2 * read_bytes))
    await _wait(room)
    if complete:  # the whole (small) body arrived with the first chunks
        return _whole(prefix, content_type, framing, raw, limits, as_text)
    decoder = BodyDecoder(content_type, framing=framing, limits=limits, as_text=as_text)
    chunk, total = prefix, len(prefix)
    while True:
        if not await _decode_parts(decoder, chunk, part_bytes, emit, room):
            # A real scheduling point per chunk: a read returns at once while data is
            # buffered, and a cancelled read must not wait for the body's end.
            await anyio.lowlevel.checkpoint()
        chunk = await source.read(read_bytes)
        if not chunk:
            break
        total += len(chunk)
    await _wait(room)  # the last run is decoded by close()
    return _meta(decoder.close(), total)


async def _decode_parts(
    decoder: BodyDecoder, chunk: bytes, part_bytes: int | None, emit: Emit, room: Room | None
) -> bool:
    """Decode ``chunk`` in parts of at most ``part_bytes``, each part's records handed on
    (before waiting on the network) and let go before the next part is decoded; True
    when it ended on a scheduling point."""
    step = part_bytes or max(1, len(chunk))
    yielded = False
    for start in range(0, len(chunk), step):
        await _wait(room)
        end = start + step
        records = decoder.feed(chunk[start:end], more=end < len(chunk))
        yielded = False
        if records:
            await emit(records)
            # Not kept while the next part is decoded: the consumer's references are
            # the only ones (and it runs now), so the records die once it is done.
            del records
            await anyio.lowlevel.checkpoint()
            yielded = True
    return yielded


async def _wait(room: Room | None) -> None:
    if room is not None:
        await room()


def _whole(
    body: bytes,
    content_type: str | None,
    framing: Framing | None,
    raw: bool,
    limits: BodyLimits,
    as_text: bool,
) -> BodyMeta:
    if raw:
        return _meta(decode_raw(body), len(body))
    decoded = decode_body(body, content_type, framing=framing, limits=limits, as_text=as_text)
    return _meta(decoded, len(body))


def _meta(decoded: Decoded, size: int) -> BodyMeta:
    return BodyMeta(decoded.framing, decoded.records, decoded.members, decoded.keyed, size)


async def _read_all(source: ByteSource, limit: int, length: int | None = None) -> bytes:
    """The whole body, up to ``limit`` bytes; one of known ``length`` is asked for whole,
    so it takes one read once it has arrived (and aiohttp buffers it without pausing)."""
    parts = []
    size = 0
    want = CHUNK_BYTES if length is None else max(1, min(length, limit))
    while chunk := await source.read(want):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise MalformedBody(f"a body read whole larger than {limit} bytes")
        if size > ORJSON_MAX_BYTES:
            await anyio.lowlevel.checkpoint()  # a large body: as in the incremental loop
    return b"".join(parts)


async def read_prefix(source: ByteSource, limit: int = ORJSON_MAX_BYTES) -> tuple[bytes, bool]:
    """Read the body's first bytes: ``(data, reached_end)``.

    Waits for at most :data:`DETECT_BYTES` (less when the body is clearly an array), then
    also takes whatever has already arrived, up to ``limit`` bytes, without waiting: a
    small body that is all there is parsed whole, the fast way, and a slow stream is not
    held up.
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
        while size < limit and (more := source.read_buffered(limit - size)):
            parts.append(more)
            size += len(more)
        data = b"".join(parts)
        if source.at_eof():
            return data, True
    return data, False
