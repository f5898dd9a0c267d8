"""Record writers for ndjson, csv and json: one batch in, bytes out, flushed to the OS.

Each writer serialises a batch of records (adding ``integrated_account_id`` at the top
level) and writes it with one ``write`` followed by a flush, so what the sweep has handed
over is in the operating system's hands before the sweep counts it as delivered: its
:attr:`Writer.position` (the byte offset after the last whole batch, and the records
before it) is what the checkpoint stores with the progress it covers. A later run cuts
the file back to that offset (:meth:`Writer.resume_at`) and continues it, so every record
is in the file exactly once, whatever stopped the earlier run.

Memory is bounded by one batch. :meth:`Writer.recover` continues a file whose position
was never recorded (a version 1 checkpoint): it cuts a half-written last record.

Records may arrive as dicts or as their own JSON text (``bytes``, validated by the
decoder: a sweep with ``as_text``). The JSON writers (ndjson, json) splice the added
members into a text instead of decoding and encoding it (:mod:`truto_stream._lines`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Iterable
from typing import Any, BinaryIO, ClassVar

import orjson

from truto_stream._lines import prefixed, with_account, with_date
from truto_stream.cli.schema import ACCOUNT_COLUMN

__all__ = ["CsvWriter", "JsonWriter", "NdjsonWriter", "Writer", "with_account", "with_date"]

_BLOCK = 1 << 16


class Writer:
    """Base class: writes batches of records to a binary stream."""

    #: Can a later run continue a file this writer left unfinished?
    appendable: ClassVar[bool] = False
    #: The ``--format`` name.
    name: ClassVar[str] = ""

    def __init__(self, stream: BinaryIO, columns: Iterable[str] | None = None) -> None:
        self.stream = stream
        self.columns = list(columns) if columns is not None else None
        self.records = 0
        self.offset = 0
        """Bytes of the document written so far (what ends it excluded)."""

    @property
    def position(self) -> dict[str, int]:
        """Where the file stands after the last whole batch: ``offset`` and ``records``."""
        return {"offset": self.offset, "records": self.records}

    def resume_at(self, offset: int, records: int) -> None:
        """Continue a file an earlier run left at ``offset`` (whatever follows is cut)."""
        _truncate(self.stream, offset)
        self.offset, self.records = offset, records

    def recover(self) -> None:
        """Position at the end of a file left by an earlier run, cutting any torn record."""
        raise NotImplementedError

    def write_batch(self, account_id: str, records: list[Any]) -> None:
        """Serialise and write ``records`` (dicts, or texts for the JSON formats), then
        flush to the OS."""
        data = self._encode(account_id, records)
        if data:
            self.stream.write(data)
        self.stream.flush()
        self.offset += len(data)
        self.records += len(records)

    def _encode(self, account_id: str, records: list[Any]) -> bytes:
        raise NotImplementedError

    def write_raw(self, data: bytes, records: int) -> None:
        """Write ``records`` already serialised as this format's bytes, then flush."""
        if data:
            self.stream.write(data)
        self.stream.flush()
        self.offset += len(data)
        self.records += records

    def finish(self) -> None:
        """Write whatever ends the document (nothing for line formats) and flush."""
        self.stream.flush()

    def abort(self) -> None:
        """Stop without finishing: flush what was written (a closed pipe is ignored)."""
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.stream.flush()


class NdjsonWriter(Writer):
    """One JSON object per line."""

    appendable = True
    name = "ndjson"

    def _encode(self, account_id: str, records: list[Any]) -> bytes:
        return b"\n".join(prefixed(account_id, records)) + b"\n" if records else b""

    def recover(self) -> None:
        self.offset = _after_last_newline(self.stream, _size(self.stream))
        _truncate(self.stream, self.offset)


class CsvWriter(Writer):
    """A header, then one row per record; nested values as JSON text.

    The column set is fixed up front (from the unified model) or, for an unknown resource,
    taken from the first record; keys outside it are not written.
    """

    appendable = True
    name = "csv"

    def __init__(self, stream: BinaryIO, columns: Iterable[str] | None = None) -> None:
        super().__init__(stream, columns)
        self._header_written = False

    def recover(self) -> None:
        end = _after_last_newline(self.stream, _size(self.stream))
        _truncate(self.stream, end)
        self.offset = end
        self._read_header()

    def resume_at(self, offset: int, records: int) -> None:
        super().resume_at(offset, records)
        self._read_header()

    def _read_header(self) -> None:
        end = self.offset
        if end == 0:
            return
        self.stream.seek(0)
        header = self.stream.readline().decode("utf-8")
        self.stream.seek(end)
        found = next(csv.reader([header]))
        if self.columns is not None and found != self.columns:
            raise ValueError("the partial csv file has other columns than this sweep writes")
        self.columns = found
        self._header_written = True

    def _encode(self, account_id: str, records: list[dict[str, Any]]) -> bytes:
        if not records and self._header_written:
            return b""
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\n")
        if self.columns is None:
            first = with_account(account_id, records[0]) if records else {ACCOUNT_COLUMN: ""}
            self.columns = list(first)
        columns = self.columns
        if not self._header_written:
            out.writerow(columns)
            self._header_written = True
        if columns[0] == ACCOUNT_COLUMN:
            # The common case: no per-record dict copy, just the cells.
            rest = columns[1:]
            out.writerows([account_id, *[_cell(r.get(c)) for c in rest]] for r in records)
        else:
            for record in records:
                row = with_account(account_id, record)
                out.writerow([_cell(row.get(column)) for column in columns])
        return buffer.getvalue().encode("utf-8")

    def finish(self) -> None:
        if not self._header_written and self.columns is not None:
            # An empty result still gets its header, so the file is a valid, empty table.
            self.stream.write(self._encode("", []))
        super().finish()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return orjson.dumps(value).decode()
    return orjson.dumps(value, default=str).decode()


class JsonWriter(Writer):
    """One JSON array, one record per line, streamed (never held in memory)::

    [
    {...},
    {...}
    ]
    """

    appendable = True
    name = "json"

    def __init__(self, stream: BinaryIO, columns: Iterable[str] | None = None) -> None:
        super().__init__(stream, columns)
        self._opened = False
        self._first = True

    def recover(self) -> None:
        point = _json_resume_point(self.stream)
        if point is None:  # nothing usable: start the array afresh
            _truncate(self.stream, 0)
            return
        end, has_records = point
        _truncate(self.stream, end)
        self.offset = end
        self._opened = True
        self._first = not has_records

    def resume_at(self, offset: int, records: int) -> None:
        super().resume_at(offset, records)
        self._opened = offset > 0
        self._first = records == 0

    def _encode(self, account_id: str, records: list[Any]) -> bytes:
        parts: list[bytes] = []
        if not self._opened:
            parts.append(b"[")
            self._opened = True
        for encoded in prefixed(account_id, records):
            parts.append(b"\n" if self._first else b",\n")
            self._first = False
            parts.append(encoded)
        return b"".join(parts)

    def finish(self) -> None:
        self.stream.write((b"" if self._opened else b"[") + b"\n]\n")
        super().finish()


# -- resuming a file an earlier run left -------------------------------------------------


def _size(stream: BinaryIO) -> int:
    return stream.seek(0, os.SEEK_END)


def _truncate(stream: BinaryIO, end: int) -> None:
    stream.truncate(end)
    stream.seek(end)


def _after_last_newline(stream: BinaryIO, end: int) -> int:
    """The offset just after the last ``\\n`` before ``end`` (0 if there is none)."""
    pos = end
    while pos > 0:
        start = max(0, pos - _BLOCK)
        stream.seek(start)
        block = stream.read(pos - start)
        index = block.rfind(b"\n")
        if index >= 0:
            return start + index + 1
        pos = start
    return 0


def _json_resume_point(stream: BinaryIO) -> tuple[int, bool] | None:
    """Where to continue a JSON array this module wrote: ``(offset, has_records)``.

    Drops a closing ``]`` (a finished file being resumed) and a torn last record; ``None``
    when the file is empty or not such an array.
    """
    end = _size(stream)
    tail_start = max(0, end - _BLOCK)
    stream.seek(tail_start)
    tail = stream.read(end - tail_start).rstrip()
    if tail.endswith(b"]"):
        tail = tail[:-1].rstrip()
    end = tail_start + len(tail)
    while end > 0:
        line_start = _after_last_newline(stream, end)
        stream.seek(line_start)
        line = stream.read(end - line_start)
        stripped = line.rstrip()
        body = stripped[:-1] if stripped.endswith(b",") else stripped
        if body.strip() == b"[":
            return line_start + len(body), False
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            end = max(0, line_start - 1)  # a torn record: drop it and its newline
            continue
        return line_start + len(body), True
    return None
