"""Where a command's records go: stdout, or a file that only appears once complete.

A file ``FILE`` is written as ``FILE.partial`` in the same directory (parquet: as part
files in ``FILE.parts/``, see :mod:`truto_stream.cli.parts`) and put in place as ``FILE``
by :meth:`Output.commit` (after an fsync), i.e. when the run reached its end. A run that
is interrupted or stopped by a fatal error leaves ``FILE.partial`` (or the parts), never
something that looks complete.

Exactly once across runs: after each batch is written (and flushed to the OS), the
output's :attr:`~Output.position` -- a byte offset, or a number of parts -- is what the
sweep stores in its checkpoint with the progress it covers (``Sweep.commit``). A run that
resumes that checkpoint hands the stored position to :func:`open_output`, which cuts the
file back to it and continues it: records past the position were not counted as
delivered, so they are fetched again and written once. The file continued is
``FILE.partial`` if a run was cut short, or ``FILE`` itself if the earlier run finished
(then only once there is something to add: a rerun with nothing left to fetch leaves a
complete file exactly as it was).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Literal

import anyio.to_thread
import orjson

from truto_stream.cli.common import UsageError
from truto_stream.cli.writers import CsvWriter, JsonWriter, NdjsonWriter, Writer
from truto_stream.errors import StorageError
from truto_stream.schema import Projection, known_model, model_columns

if TYPE_CHECKING:
    from truto_stream.sweep import SweepReport
    from truto_stream.unit import Unit

__all__ = ["FORMATS", "Format", "Output", "Resume", "Store", "open_output"]

Format = Literal["ndjson", "csv", "json", "parquet"]
FORMATS: Final[tuple[str, ...]] = ("ndjson", "csv", "json", "parquet")
PARTIAL_SUFFIX: Final = ".partial"

#: Persists an output position durably (the checkpoint: store it, flush).
Store = Callable[[Any], Awaitable[None]]


async def store_nothing(position: Any) -> None:
    """A :data:`Store` for a run without a checkpoint."""
    return None


@dataclass(frozen=True)
class Resume:
    """What a checkpoint knows about the output of the runs before this one."""

    position: Any
    """The output position stored with the progress (``None``: never stored)."""
    progressed: bool
    """Whether the checkpoint holds progress (some records were delivered before)."""


class Output:
    """A writer bound to its destination; ``commit`` or ``abandon`` it exactly once."""

    path: Path | None = None
    """The final file, or ``None`` for stdout."""
    resumed: bool = False
    """True when this output continues what an earlier run left."""
    committed: bool = False
    """True once :meth:`commit` has put the output in place."""
    inline: bool = True
    """Writes may run on the event loop: a regular file, never blocked by a reader."""
    report: SweepReport | None = None
    """The sweep's report, for an output that records it (a dataset's manifest)."""

    @property
    def describe(self) -> str:
        return str(self.path) if self.path is not None else "stdout"

    @property
    def position(self) -> Any:
        """Where the output stands: what the checkpoint stores with the progress."""
        raise NotImplementedError

    @property
    def durable(self) -> bool:
        """Whether everything written so far is durable (nothing buffered in memory)."""
        return True

    def write_batch(self, account_id: str, records: list[dict[str, Any]]) -> None:
        """Write one batch: serialised, written and flushed to the OS before returning."""
        raise NotImplementedError

    def write_lines_batch(
        self, unit: Unit | None, account_id: str, lines: bytes, records: int
    ) -> None:
        """Write a batch that arrived as NDJSON lines (``integrated_account_id`` in each).

        An ndjson file or stdout writes the bytes as they are; anything else decodes them.
        """
        decoded = [orjson.loads(line) for line in lines.splitlines()]
        self.write_unit_batch(unit, account_id, decoded)

    def write_unit_batch(
        self, unit: Unit | None, account_id: str, records: list[dict[str, Any]]
    ) -> None:
        """:meth:`write_batch` for records of ``unit`` (a partitioned output routes by it)."""
        self.write_batch(account_id, records)

    async def write(
        self, account_id: str, records: list[dict[str, Any]], unit: Unit | None = None
    ) -> None:
        """:meth:`write_unit_batch` from async code.

        A regular file is written on the loop (a page-cache write takes microseconds and a
        thread hop per batch would cost more); a pipe or terminal is written from a worker
        thread, so a slow reader (``| less``) holds the producer back without freezing the
        event loop. A failed write raises :class:`~truto_stream.errors.StorageError`.
        """
        await self._run(self.write_unit_batch, unit, account_id, records)

    async def write_lines(
        self, account_id: str, lines: bytes, records: int, unit: Unit | None = None
    ) -> None:
        """:meth:`write_lines_batch` from async code (as :meth:`write`)."""
        await self._run(self.write_lines_batch, unit, account_id, lines, records)

    async def _run(self, write: Callable[..., None], *args: Any) -> None:
        try:
            if self.inline:
                write(*args)
            else:
                await anyio.to_thread.run_sync(write, *args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StorageError(f"cannot write the output {self._target}: {_why(exc)}") from exc

    @property
    def _target(self) -> str:
        return self.describe

    def seal(self) -> None:
        """Make whatever is buffered durable now (parquet: write a part)."""

    async def commit(self, store: Store = store_nothing) -> None:
        """Finish the document and put it in place; ``store`` persists positions on the way."""
        raise NotImplementedError

    def abandon(self, *, checkpointed: bool) -> Path | None:
        """Close without finishing; return what is left on disk for a rerun (if anything)."""
        raise NotImplementedError


class StdoutOutput(Output):
    """Records to stdout (a pipe, a terminal, or a file it was redirected to)."""

    def __init__(self, writer: Writer, fmt: str, *, inline: bool) -> None:
        self.writer = writer
        self.inline = inline
        self._format = fmt

    @property
    def position(self) -> Any:
        # What a pipe carried cannot be taken back: a rerun writes the rest to its own.
        return {"format": self._format, "stdout": True}

    def write_batch(self, account_id: str, records: list[dict[str, Any]]) -> None:
        self.writer.write_batch(account_id, records)

    def write_lines_batch(
        self, unit: Unit | None, account_id: str, lines: bytes, records: int
    ) -> None:
        if self._format == "ndjson":
            self.writer.write_raw(lines, records)
        else:
            super().write_lines_batch(unit, account_id, lines, records)

    async def commit(self, store: Store = store_nothing) -> None:
        if not self.committed:
            self.committed = True
            self.writer.finish()

    def abandon(self, *, checkpointed: bool) -> Path | None:
        self.writer.abort()
        return None


class FileOutput(Output):
    """ndjson, csv or json into ``FILE.partial``, renamed to ``FILE`` by :meth:`commit`.

    ``open_later`` (instead of ``writer``) defers opening until the first batch: a
    resumed run that finds nothing left to fetch then leaves a complete file untouched.
    """

    def __init__(
        self,
        fmt: str,
        path: Path,
        *,
        writer: Writer | None = None,
        open_later: Callable[[], Writer] | None = None,
        resumed: bool = False,
        position: dict[str, int] | None = None,
    ) -> None:
        self.path = self.final = path
        self.partial = path.with_name(path.name + PARTIAL_SUFFIX)
        self.writer = writer
        self._open_later = open_later
        self.resumed = resumed
        self._format = fmt
        self._earlier = position or {"offset": 0, "records": 0}
        self._closed = False

    @property
    def position(self) -> Any:
        where = self.writer.position if self.writer is not None else self._earlier
        return {"format": self._format, "file": str(self.path), **where}

    @property
    def _target(self) -> str:
        return str(self.partial)

    def _writer(self) -> Writer:
        if self.writer is None:
            assert self._open_later is not None
            self.writer, self._open_later = self._open_later(), None
        return self.writer

    def write_batch(self, account_id: str, records: list[dict[str, Any]]) -> None:
        self._writer().write_batch(account_id, records)

    def write_lines_batch(
        self, unit: Unit | None, account_id: str, lines: bytes, records: int
    ) -> None:
        if self._format == "ndjson":
            self._writer().write_raw(lines, records)
        else:
            super().write_lines_batch(unit, account_id, lines, records)

    async def commit(self, store: Store = store_nothing) -> None:
        if self._closed:
            return
        self._closed = True
        if self.writer is not None:  # else nothing was added: the earlier file stands
            self.writer.finish()
            stream = self.writer.stream
            os.fsync(stream.fileno())
            stream.close()
            os.replace(self.partial, self.final)
        self.committed = True

    def abandon(self, *, checkpointed: bool) -> Path | None:
        if self._closed or self.writer is None:
            return None
        self._closed = True
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
    resume: Resume | None = None,
    row_group_rows: int | None = None,
    dated: bool = False,
    fields: Projection | None = None,
) -> Output:
    """Open ``output`` (``None`` or ``-`` for stdout) for ``fmt`` records of a resource.

    ``resume`` is what the sweep's checkpoint says about earlier runs: the output then
    continues the file they left (see the module docstring). Raises :class:`UsageError`
    for an unusable destination or one that does not match the checkpoint. ``dated``: the
    records carry a ``date`` column (a sweep over dates); ``fields``: only
    those columns (a projection).
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "parquet":
        from truto_stream.cli.parquet import require_pyarrow

        try:
            require_pyarrow()
        except ImportError as exc:
            raise UsageError(str(exc)) from None
    typed = known_model(model, resource)
    columns = model_columns(typed, dated=dated, fields=fields) if typed is not None else None
    if output is None or output == "-":
        stdout = sys.stdout.buffer
        inline = stat.S_ISREG(os.fstat(stdout.fileno()).st_mode)  # `> file` is a file too
        return StdoutOutput(_make_writer(fmt, stdout, columns), fmt, inline=inline)
    path = check_output_path(output)
    position = _position_for(fmt, path, resume)
    if fmt == "parquet":
        from truto_stream.cli.parts import open_parquet

        return open_parquet(
            path, columns, position, legacy=_legacy(resume), row_group_rows=row_group_rows
        )
    return _open_text(fmt, path, columns, position, legacy=_legacy(resume))


def check_output_path(output: str) -> Path:
    """``--output FILE`` as a path whose directory exists (a usage error otherwise)."""
    path = Path(output)
    if path.is_dir():
        raise UsageError(f"--output {output!r} is a directory")
    if not path.parent.is_dir():
        raise UsageError(f"--output {output!r}: directory {str(path.parent)!r} does not exist")
    return path


def _legacy(resume: Resume | None) -> bool:
    """Progress without a stored position: a version 1 checkpoint (or a library run)."""
    return resume is not None and resume.position is None and resume.progressed


def _position_for(fmt: str, path: Path, resume: Resume | None) -> dict[str, Any] | None:
    """The stored position of this output (``None``: start afresh), checked against it."""
    if resume is None or not isinstance(resume.position, dict):
        return None
    position: dict[str, Any] = resume.position
    if position.get("stdout"):
        return None  # the earlier records went to stdout: this file holds the rest
    if "dir" in position:
        raise UsageError(
            f"the checkpoint's earlier runs wrote --output-dir {position['dir']}; resume with"
            " it (or start over with another --checkpoint)"
        )
    if position.get("format") != fmt:
        raise UsageError(
            f"the checkpoint's earlier runs wrote --format {position.get('format')}; resume"
            " with that format (or start over with another --checkpoint)"
        )
    return position


def _open_text(
    fmt: str,
    path: Path,
    columns: dict[str, Any] | None,
    position: dict[str, Any] | None,
    *,
    legacy: bool,
) -> Output:
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    if position is None and not (legacy and (partial.exists() or path.exists())):
        fresh: BinaryIO = open(partial, "wb")  # noqa: SIM115  (the Output closes it)
        return FileOutput(fmt, path, writer=_make_writer(fmt, fresh, columns))
    where = _text_position(position)
    if partial.exists():
        writer = _continue(partial, fmt, columns, where)
        return FileOutput(fmt, path, writer=writer, resumed=True, position=where)
    if not path.exists():
        if where is not None and where["offset"] > 0:
            raise _missing(path, where)
        fresh = open(partial, "wb")  # noqa: SIM115  (the Output closes it)
        return FileOutput(fmt, path, writer=_make_writer(fmt, fresh, columns))
    _check_size(path, where)

    def reopen() -> Writer:
        # A finished file: continue it under the partial name, rename back on success.
        os.replace(path, partial)
        return _continue(partial, fmt, columns, where)

    return FileOutput(fmt, path, open_later=reopen, resumed=True, position=where)


def _text_position(position: dict[str, Any] | None) -> dict[str, int] | None:
    if position is None:
        return None
    offset, records = position.get("offset"), position.get("records")
    if not isinstance(offset, int) or not isinstance(records, int) or offset < 0:
        raise UsageError(
            f"the checkpoint holds an output position this version cannot use: {offset}"
        )
    return {"offset": offset, "records": records}


def _missing(path: Path, where: dict[str, int]) -> UsageError:
    return UsageError(
        f"the checkpoint counts {where['records']:,} records as written to {str(path)!r}, but"
        f" neither it nor {path.name + PARTIAL_SUFFIX!r} exists: pass the --output those runs"
        " wrote (or start over with another --checkpoint)"
    )


def _check_size(path: Path, where: dict[str, int] | None) -> None:
    if where is not None and path.stat().st_size < where["offset"]:
        raise UsageError(
            f"{str(path)!r} is shorter than the checkpoint says it was written"
            f" ({where['offset']:,} bytes): it was changed since; start over with another"
            " --checkpoint"
        )


def _continue(
    partial: Path, fmt: str, columns: dict[str, Any] | None, where: dict[str, int] | None
) -> Writer:
    """A writer appending to ``partial`` at the stored position (or after a torn record)."""
    _check_size(partial, where)
    appending: BinaryIO = open(partial, "r+b")  # noqa: SIM115  (the Output closes it)
    writer = _make_writer(fmt, appending, columns)
    try:
        if where is not None:
            writer.resume_at(where["offset"], where["records"])
        else:
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
    if fmt == "parquet":  # to stdout: one file, written whole at the end
        from truto_stream.cli.parquet import StreamParquetWriter

        return StreamParquetWriter(stream, model_columns=columns)
    raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
