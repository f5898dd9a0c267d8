"""The records of one JSON container, cut into runs of whole records (sans-IO).

A chunk of a large array usually completes many records. The fast way to decode them is
one ``orjson.loads`` over the longest run of whole records, so the run's end is guessed
(:func:`guess_run`) and the guess verified by the decode itself:

Exactness. The run starts where a record starts. A candidate end is a ``}`` followed by
the next record's start or the container's end (``},{"id":`` first: records usually
share their first key). The run is decoded inside as many brackets as enclose it in the
body, so orjson counts the same nesting levels as for the whole body. JSON is LL(1):
parsing that text follows the document's own parse from the run's start, so it succeeds
only if the candidate closes a record at the container's level. Cut anywhere else, the
text ends inside a string (unterminated), inside an object or a deeper array (left
unclosed, or closed by the wrong bracket), and orjson refuses it. So a successful decode
is exactly the records in the run, whatever they contain.

Bounded work. A guess that fails costs a few decodes of the buffer. When no candidate
works (a record larger than the buffer, or broken bytes), the exact :class:`Scanner`
takes over from the record's start and scans each later byte once; a guess is tried
again only when the bytes not yet scanned outweigh those scanned. So each byte costs
O(1) decodes and scans: linear in the body, bounded per chunk.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from typing import Any, Final

import orjson

from truto_stream._decode._json import BodyLimits, check_records, loads, skip_ws
from truto_stream._decode._scan import Container, Scanner
from truto_stream._decode._text import as_texts, check_texts, split_run
from truto_stream.errors import MalformedBody

__all__ = ["Runs", "guess_run"]

#: Candidates of each kind tried per guess (a failed decode costs about two good ones).
_MAX_ATTEMPTS: Final = 2
_COMMA: Final = 0x2C
_LOOSE_END: Final = {
    Container.ARRAY: re.compile(rb"\}[ \t\r\n]*(?:,[ \t\r\n]*\{|\])"),
    Container.OBJECT: re.compile(rb'\}[ \t\r\n]*(?:,[ \t\r\n]*"|\})'),
}
_TIGHT_ENDS: Final = {
    Container.ARRAY: (b"},{", b"}]"),
    Container.OBJECT: (b'},"', b"}}"),
}


class _Phase(enum.Enum):
    FIRST = "first"  # just after the opening bracket
    AFTER = "after"  # just after a record
    NEXT = "next"  # just after a comma
    RUN = "run"  # the buffer starts at a record (or a member name)
    DONE = "done"  # the container has closed


class Runs:
    """``feed(chunk) -> records`` for the records of one array or object.

    ``start`` is the body offset just past the container's opening bracket, ``depth``
    the container's nesting level (1 for a bare array, 2 for an envelope's ``result``).
    An object's records are its members' values (``truto_key_by``). Once the container
    has closed, :attr:`done` is set and :attr:`rest` holds the bytes after it. With
    ``as_text`` the records are each record's own text (:mod:`~truto_stream._decode._text`).
    """

    def __init__(
        self,
        container: Container,
        *,
        start: int,
        depth: int,
        limits: BodyLimits,
        as_text: bool = False,
    ) -> None:
        assert container is not Container.VALUES
        self._as_text = as_text
        self.done = False
        self.rest = b""
        self.end = 0  # body offset just past the closing bracket, once done
        self._container = container
        self._depth = depth
        self._limits = limits
        self._closer = b"]" if container is Container.ARRAY else b"}"
        self._first_byte = 0x7B if container is Container.ARRAY else 0x22
        opener = b"[" if container is Container.ARRAY else b"{"
        self._open = b"[" * (depth - 1) + opener
        self._close = self._closer + b"]" * (depth - 1)
        self._buf = bytearray()
        self._at = start  # body offset of _buf[0]
        self._phase = _Phase.FIRST
        self._scanner: Scanner | None = None
        self._hint: bytes | None = None
        self._fast = not limits.exact_depth
        self._unseen = False  # bytes arrived since the last guess
        self._guessed = False  # a guess cut a run since the last bytes arrived
        self._more = False  # the caller feeds more bytes at once (the rest of its read)

    def feed(self, chunk: bytes | bytearray | memoryview, *, more: bool = False) -> list[Any]:
        """Add bytes; return the records they completed (feed no more once :attr:`done`).

        ``more``: the caller feeds the next bytes at once (it cut a read in parts); the
        last record these complete may then come with them (see :meth:`_take`).
        """
        self._buf += chunk
        self._unseen = True
        self._guessed = False
        self._more = more
        return self._drain()

    def flush(self) -> list[Any]:
        """The body has ended: the records still in the buffer (see :meth:`_take`)."""
        self._guessed = self._more = False
        return self._drain()

    def _drain(self) -> list[Any]:
        out: list[Any] = []
        while not self.done:
            if self._phase is _Phase.RUN:
                records = self._take()
                if records is None:
                    break
                out += records
            elif not self._separate():
                break
        return out

    def truncated_verdict(self) -> None:
        """At the body's end, before the container closed: raise the right error."""
        # orjson says whether what is left stops short (a cut body) or is broken.
        loads(self._open + self._buf, self._at - len(self._open))
        raise MalformedBody(f"body ended inside its {self._container.value} (byte {self._at})")

    # -- separators -----------------------------------------------------------------

    def _separate(self) -> bool:
        """Consume what separates records at the buffer's start; False: more bytes needed."""
        buf = self._buf
        i = skip_ws(buf, 0)
        if i < len(buf) and self._phase is _Phase.AFTER:
            if buf[i] == _COMMA:
                self._phase = _Phase.NEXT
                i = skip_ws(buf, i + 1)
            elif buf[i] != self._closer[0]:
                raise MalformedBody(
                    f"expected ',' or {self._closer.decode()!r} (byte {self._at + i})"
                )
        if i >= len(buf):
            self._drop(i)
            return False
        c = buf[i]
        if c == self._first_byte and self._phase is not _Phase.AFTER:
            self._drop(i)
            self._phase = _Phase.RUN
            if self._hint is None:
                self._hint = _first_key_hint(buf, self._container)
            return True
        if c == self._closer[0] and self._phase is not _Phase.NEXT:
            self.rest = bytes(buf[i + 1 :])
            self.end = self._at + i + 1
            self._buf = bytearray()
            self._phase = _Phase.DONE
            self.done = True
            return True
        what = "a trailing comma" if c == self._closer[0] else "a record that is not a JSON object"
        if self._container is Container.OBJECT and c != self._closer[0]:
            what = "expected a member name"
        raise MalformedBody(f"{what} (byte {self._at + i})")

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._at += n

    # -- runs -----------------------------------------------------------------------

    def _take(self) -> list[Any] | None:
        """Decode the longest run of whole records at the buffer's start, if any."""
        buf = self._buf
        scanner = self._scanner
        limit = self._limits.max_record_bytes
        # A guess pays on bytes no guess has seen yet (what follows a cut was seen: the
        # scan reads it), and while the scan is under way only when the bytes it has not
        # seen outweigh those it has (a short record's tail, then a new chunk); inside a
        # record larger than a chunk, no guess is tried: each byte is then scanned once.
        if (
            self._fast
            and self._unseen
            and len(buf) <= limit  # then no record in it can be larger
            and (scanner is None or len(buf) >= 2 * (scanner.pos - self._at))
        ):
            self._unseen = False
            taken = guess_run(
                buf,
                self._open,
                self._close,
                self._depth,
                self._container,
                self._hint,
                as_text=self._as_text,
            )
            if taken is not None:
                self._scanner = None
                self._guessed = True
                return self._cut(*taken)
        if self._guessed and self._more:
            # What a guess left is usually the start of the record the part's end cut,
            # and the next part follows at once: its guess takes it (a scan now would
            # be wasted work, about a record's bytes per part); a guess that fails then
            # scans it, once. Without more at once, it is scanned now: a slow stream's
            # records are handed on as soon as their last byte has arrived.
            return None
        if scanner is None:
            scanner = self._scanner = Scanner(
                self._container,
                start=self._at,
                depth=self._depth,
                max_depth=self._limits.max_depth,
                max_record_bytes=limit,
            )
        scanner.scan(buf, self._at)
        if scanner.ends:
            ends = scanner.ends
            end = ends[-1] - self._at
            container = self._split(buf, end) if self._as_text else None
            if container is None:
                container = self._decode(buf, len(ends), end)
                if self._as_text:  # text msgspec could not vouch for, accepted by orjson
                    container = as_texts(_values(container))
            ends.clear()
            return self._cut(container, end)
        if scanner.between and len(buf) > limit:  # (inside a record the scan checks)
            raise MalformedBody(f"more than {limit} bytes between records (byte {self._at})")
        return None

    def _decode(self, buf: bytearray, count: int, end: int) -> Any:
        """The container of the ``count`` records the scan cut before ``end``."""
        if count == 1 and self._container is Container.ARRAY:
            # One record, cut exactly by the scan (often a large one): decoded in place,
            # without a copy; the scan has checked its depth.
            with memoryview(buf) as view, view[:end] as record:
                return [loads(record, self._at)]
        wrapped = self._open + buf[:end] + self._close
        container = _unwrap(loads(wrapped, self._at - len(self._open)), self._depth)
        if container is None:  # pragma: no cover - the scan cuts at the records' level
            raise MalformedBody(f"records out of place (byte {self._at})")
        return container

    def _split(self, buf: bytearray, end: int) -> list[bytes] | None:
        """``as_text``: the records the scan cut, as text (None: take orjson's verdict)."""
        with memoryview(buf) as view, view[:end] as run:
            text = b"".join((self._open, run, self._close))
        return split_run(text, keyed=self._container is Container.OBJECT, depth=self._depth)

    def _cut(self, container: Any, end: int) -> list[Any]:
        records = _values(container)
        if self._as_text:
            check_texts(records, f"from byte {self._at}")
        else:
            check_records(records, f"from byte {self._at}")
        self._drop(end)
        self._phase = _Phase.AFTER
        return records


def _values(container: Any) -> list[Any]:
    return list(container.values()) if isinstance(container, dict) else container


def _unwrap(document: Any, depth: int) -> Any:
    """The container inside the brackets a run was decoded in, or None if they held more."""
    for _ in range(depth - 1):
        if len(document) != 1:
            return None
        document = document[0]
    return document


def guess_run(
    buf: bytearray,
    open_: bytes,
    close: bytes,
    depth: int,
    container: Container,
    hint: bytes | None,
    *,
    as_text: bool = False,
) -> tuple[Any, int] | None:
    """The records of the longest run of whole records at the start of ``buf``.

    Returns ``(container, end)`` with ``end`` the index just past the run's last ``}``,
    or None when no candidate decodes (more bytes are needed, or they are broken). With
    ``as_text`` the container is the list of the records' texts.
    """
    keyed = container is Container.OBJECT
    for end in _candidates(buf, container, hint):
        with memoryview(buf) as view, view[:end] as run:
            text = b"".join((open_, run, close))  # one copy
        if as_text and (records := split_run(text, keyed=keyed, depth=depth)) is not None:
            return records, end
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        found = _unwrap(document, depth)
        if found is not None:
            return (as_texts(_values(found)) if as_text else found), end
    return None


def _candidates(buf: bytearray, container: Container, hint: bytes | None) -> Iterator[int]:
    """Possible run ends (index past a ``}``), most promising and longest first.

    A wrong candidate costs a decode that fails, so the likeliest come first: the last
    record start that looks like the first record's (``},{"id":``), then other tight
    ends from the end, then the same with whitespace allowed between the tokens
    (indented JSON). Each family has its own small budget, so strings full of ``},{``
    cannot crowd out the real boundaries.
    """
    tried: set[int] = set()
    if hint is not None:
        end = _hinted_end(buf, container, hint)
        if end is not None:
            tried.add(end)
            yield end
    for pattern in _TIGHT_ENDS[container]:
        pos, budget = len(buf), _MAX_ATTEMPTS
        while budget and (pos := buf.rfind(pattern, 0, pos)) >= 0:
            if pos + 1 not in tried:
                tried.add(pos + 1)
                budget -= 1
                yield pos + 1
    budget = _MAX_ATTEMPTS
    for match in reversed(list(_LOOSE_END[container].finditer(buf))):
        if not budget:
            break
        if match.start() + 1 not in tried:
            tried.add(match.start() + 1)
            budget -= 1
            yield match.start() + 1


def _hinted_end(buf: bytearray, container: Container, hint: bytes) -> int | None:
    """The end of the record before the last one that starts like the first record."""
    if container is Container.ARRAY:  # ...},{"id":
        pos = buf.rfind(b"}," + hint)
        return pos + 1 if pos >= 0 else None
    pos = len(buf)  # ...},"key":{"id":  (the same inside a record is led by '{' or ':')
    for _ in range(_MAX_ATTEMPTS):
        pos = buf.rfind(b'":' + hint, 0, pos)
        name = buf.rfind(b'"', 0, pos) if pos >= 0 else -1
        if name < 2:
            return None
        if buf[name - 2 : name] == b"},":
            return name - 1
    return None


def _first_key_hint(buf: bytearray, container: Container) -> bytes | None:
    """``{"key":`` of the record at the buffer's start, to find the next records' starts
    (compact JSON only: a hint is an optimisation)."""
    start = 0
    if container is Container.OBJECT:  # "name":{"key":
        start = _name_end(buf, 0)
        if start < 0:
            return None
    if not buf.startswith(b'{"', start):
        return None
    end = _name_end(buf, start + 1)
    return bytes(buf[start:end]) if end > 0 else None


def _name_end(buf: bytearray, quote: int) -> int:
    """``buf[quote]`` opens a plain member name: the index past its ``":``, or -1."""
    close = buf.find(b'"', quote + 1, quote + 256)
    if close < 0 or b"\\" in buf[quote:close] or buf[close + 1 : close + 2] != b":":
        return -1
    return close + 2
