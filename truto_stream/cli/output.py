"""Where a command's records go: stdout, or a file that only appears once complete.

A file ``FILE`` is written as ``FILE.partial`` in the same directory and renamed to
``FILE`` (after an fsync) only by :meth:`Output.commit`, i.e. when the run succeeded. A run
that fails or is interrupted leaves ``FILE.partial``, never something that looks complete.

Resuming (a sweep whose ``--checkpoint`` already existed): the records the checkpoint
says were delivered are not fetched again, so for ndjson, csv and json the output
*continues* the earlier run's file: ``FILE.partial`` if a run was cut short (its torn last
record is dropped), or ``FILE`` itself if the earlier run finished. Parquet files cannot be
continued, so resuming into an existing parquet output is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal

import anyio.to_thread

from truto_stream.cli.common import UsageError
from truto_stream.cli.schema import known_model, model_columns
from truto_stream.cli.writers import CsvWriter, JsonWriter, NdjsonWriter, Writer

__all__ = ["FORMATS", "Format", "Output", "open_output"]

Format = Literal["ndjson", "csv", "json", "parquet"]
FORMATS: Final[tuple[str, ...]] = ("ndjson", "csv", "json", "parquet")
PARTIAL_SUFFIX: Final = ".partial"


@dataclass
class Output:
    """A writer bound to its destination; ``commit`` or ``abandon`` it exactly once.

    ``open_later`` (instead of ``writer``) defers opening until the first batch: a resumed
    run that finds nothing left to fetch then leaves a complete earlier file untouched.
    """

    writer: Writer | None
    path: Path | None
    """The final file, or ``None`` for stdout."""
    partial: Path | None
    resumed: bool = False
    """True when this output continues a file an earlier run left."""
    inline: bool = False
    """Writes may run on the event loop: a regular file, never blocked by a reader."""
    open_later: Callable[[], Writer] | None = None
    _closed: bool = False
    committed: bool = False
    """True once :meth:`commit` has put the output in place."""

    def _writer(self) -> Writer:
        if self.writer is None:
            assert self.open_later is not None
            self.writer, self.open_later = self.open_later(), None
        return self.writer

    @property
    def describe(self) -> str:
        return str(self.path) if self.path is not None else "stdout"

    def write_batch(self, account_id: str, records: list[dict[str, Any]]) -> None:
        """Write one batch: serialised, written and flushed to the OS before returning."""
        self._writer().write_batch(account_id, records)

    async def write(self, account_id: str, records: list[dict[str, Any]]) -> None:
        """:meth:`write_batch` from async code.

        A regular file is written on the loop (a page-cache write takes microseconds and a
        thread hop per batch would cost more); a pipe or terminal is written from a worker
        thread, so a slow reader (``| less``) holds the producer back without freezing the
        event loop.
        """
        if self.inline:
            self.write_batch(account_id, records)
        else:
            await anyio.to_thread.run_sync(self.write_batch, account_id, records)

    def commit(self) -> None:
        """Finish the document and, for a file, rename it into place."""
        if self._closed:
            return
        self._closed = True
        if self.writer is None:  # nothing was written: the earlier, complete file stands
            self.committed = True
            return
        self.writer.finish()
        if self.path is not None and self.partial is not None:
            stream = self.writer.stream
            os.fsync(stream.fileno())
            stream.close()
            os.replace(self.partial, self.path)
        self.committed = True

    def abandon(self) -> Path | None:
        """Close without finishing; return the partial file left behind (if it has data)."""
        if self._closed or self.writer is None:
            return None
        self._closed = True
        if self.path is None or self.partial is None:
            with contextlib.suppress(BrokenPipeError, ValueError):
                self.writer.stream.flush()
            return None
        stream = self.writer.stream
        size = stream.seek(0, os.SEEK_END)
        stream.close()
        if size == 0:
            self.partial.unlink(missing_ok=True)
            return None
        return self.partial


def open_output(
    output: str | None,
    fmt: str,
    *,
    model: str,
    resource: str,
    resume_from: str | None = None,
) -> Output:
    """Open ``output`` (``None`` or ``-`` for stdout) for ``fmt`` records of a resource.

    ``resume_from`` is the sweep's checkpoint path: when that file exists, the output
    continues the file an earlier run of the same checkpoint left (see the module
    docstring). Raises :class:`UsageError` for an unusable destination.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "parquet":
        from truto_stream.cli.parquet import require_pyarrow

        try:
            require_pyarrow()
        except ImportError as exc:
            raise UsageError(str(exc)) from None
    resume = resume_from is not None and os.path.exists(resume_from)
    typed = known_model(model, resource)
    columns = model_columns(typed) if typed is not None else None
    if output is None or output == "-":
        stdout = sys.stdout.buffer
        inline = stat.S_ISREG(os.fstat(stdout.fileno()).st_mode)  # `> file` is a file too
        return Output(_make_writer(fmt, stdout, columns), None, None, inline=inline)
    path = Path(output)
    if path.is_dir():
        raise UsageError(f"--output {output!r} is a directory")
    if not path.parent.is_dir():
        raise UsageError(f"--output {output!r}: directory {str(path.parent)!r} does not exist")
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    if resume and (partial.exists() or path.exists()):
        if fmt == "parquet":
            raise UsageError(
                f"cannot resume into the existing parquet output {output!r} (parquet files "
                "cannot be continued): pass another --output, it will hold the rest"
            )
        if partial.exists():
            writer = _continue(partial, fmt, columns)
            return Output(writer, path, partial, resumed=True, inline=True)

        def reopen() -> Writer:
            # A finished file: continue it under the partial name, rename back on success.
            os.replace(path, partial)
            return _continue(partial, fmt, columns)

        return Output(None, path, partial, resumed=True, inline=True, open_later=reopen)
    fresh: BinaryIO = open(partial, "wb")  # noqa: SIM115  (the Output closes it)
    return Output(_make_writer(fmt, fresh, columns), path, partial, inline=True)


def _continue(partial: Path, fmt: str, columns: dict[str, Any] | None) -> Writer:
    """A writer appending to ``partial`` after cutting any torn last record."""
    appending: BinaryIO = open(partial, "r+b")  # noqa: SIM115  (the Output closes it)
    writer = _make_writer(fmt, appending, columns)
    try:
        writer.recover()
    except ValueError as exc:
        appending.close()
        raise UsageError(f"cannot continue {str(partial)!r}: {exc}") from None
    return writer


def _make_writer(fmt: str, stream: BinaryIO, columns: dict[str, Any] | None) -> Writer:
    if fmt == "ndjson":
        return NdjsonWriter(stream)
    if fmt == "csv":
        return CsvWriter(stream, list(columns) if columns is not None else None)
    if fmt == "json":
        return JsonWriter(stream)
    if fmt == "parquet":
        from truto_stream.cli.parquet import ParquetWriter

        try:
            return ParquetWriter(stream, model_columns=columns)
        except ImportError as exc:
            raise UsageError(str(exc)) from None
    raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
