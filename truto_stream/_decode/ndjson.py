"""NDJSON bodies: lines split at C speed, each decoded with orjson (sans-IO)."""

from __future__ import annotations

from typing import Any

import orjson

from truto_stream._decode._json import BodyLimits, check_records, loads
from truto_stream._decode._text import as_texts, text_lines
from truto_stream.errors import MalformedBody, StreamError

__all__ = ["LineSplitter", "NdjsonDecoder"]


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


class NdjsonDecoder:
    """``feed(chunk) -> records`` for an NDJSON body; ``close()`` returns the last line's.

    With ``as_text`` the records are the lines themselves (:mod:`~truto_stream._decode._text`).
    """

    def __init__(
        self, limits: BodyLimits, *, json_seq: bool = False, as_text: bool = False
    ) -> None:
        self._limits = limits
        self._as_text = as_text
        # A lower depth limit than orjson's: each line decoded (and checked), re-encoded.
        self._split = as_text and not limits.exact_depth
        self._lines = LineSplitter(limits.max_record_bytes, json_seq=json_seq)
        self._count = 0

    def feed(self, chunk: bytes | bytearray, *, more: bool = False) -> list[Any]:
        return self._decode(self._lines.feed(bytes(chunk)))

    def close(self) -> tuple[list[Any], dict[str, Any]]:
        return self._decode(self._lines.close()), {}

    def _decode(self, lines: list[bytes]) -> list[Any]:
        if not lines:
            return lines
        if self._split and (texts := text_lines(lines)) is not None:
            self._count += len(lines)
            return texts
        first = self._count + 1
        self._count += len(lines)
        try:
            if self._limits.exact_depth:
                records = [loads(line, 0, self._limits) for line in lines]
            else:
                records = list(map(orjson.loads, lines))  # C speed; errors located below
        except (StreamError, orjson.JSONDecodeError):
            index, err = _failing(lines, self._limits)
            raise type(err)(f"NDJSON line {first + index}: {err}") from None
        check_records(records, f"NDJSON lines {first}-{self._count}")
        return as_texts(records) if self._as_text else records


def _failing(lines: list[bytes], limits: BodyLimits) -> tuple[int, StreamError]:
    """The first line that does not decode, and why (on the error path only)."""
    for index, line in enumerate(lines):
        try:
            loads(line, 0, limits)
        except StreamError as err:
            return index, err
    raise AssertionError("no line failed")  # pragma: no cover - called after one did
