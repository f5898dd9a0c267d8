"""A parquet ``--output FILE`` as part files that survive any exit, joined at the end.

On disk, for ``users.parquet``::

    users.parquet.parts/part-000000.parquet ...   committed parts (the checkpoint knows n)
    users.parquet.parts/.part-000007.parquet.tmp  a part being written (never counted)
    users.parquet                                 an earlier finished file ("base"), if any
    users.parquet.partial                         the joined file being written

The position stored in the checkpoint is ``{"parts": n, "records": r, "base": bool,
"joined": bool}``. A run that resumes it deletes whatever the position does not cover
(parts past ``n``, temporary files, a half-joined ``FILE.partial``): those records were
not counted as delivered and are fetched again. Finishing is two-phase so that a kill at
any point is recovered: the parts (after ``base``) are joined into ``FILE.partial`` and
fsynced, ``joined`` is stored, the partial is renamed to ``FILE``, the parts are removed
and ``{"parts": 0, "base": true}`` is stored. A resume that finds ``joined`` completes
the rename instead of joining again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

from truto_stream.cli.common import UsageError
from truto_stream.cli.output import PARTIAL_SUFFIX, Output, Store, store_nothing
from truto_stream.cli.parquet import ROW_GROUP_ROWS, ParquetWriter, part_name

__all__ = ["PARTS_SUFFIX", "ParquetOutput", "open_parquet"]

PARTS_SUFFIX = ".parts"


class ParquetOutput(Output):
    """Parquet records as parts in ``FILE.parts/``, joined into ``FILE`` by :meth:`commit`."""

    def __init__(self, path: Path, writer: ParquetWriter, *, base: bool, resumed: bool) -> None:
        self.path = self.final = path
        self.parts_dir = _parts_dir(path)
        self.partial = path.with_name(path.name + PARTIAL_SUFFIX)
        self.writer = writer
        self.base = base
        self.resumed = resumed
        self._closed = False

    @property
    def position(self) -> Any:
        where = {"format": "parquet", "file": str(self.final), "base": self.base, "joined": False}
        return where | self.writer.position

    @property
    def durable(self) -> bool:
        return self.writer.buffered == 0

    @property
    def _target(self) -> str:
        return str(self.parts_dir)

    def write_batch(self, account_id: str, records: list[dict[str, Any]]) -> None:
        self.writer.write_batch(account_id, records)

    def seal(self) -> None:
        self.writer.seal()

    async def commit(self, store: Store = store_nothing) -> None:
        if self._closed:
            return
        self._closed = True
        self.writer.seal()
        if self.writer.parts or not self.base:
            self._join()
            await store({**self.position, "joined": True})
            os.replace(self.partial, self.final)
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        self.base = True
        self.writer.parts = 0
        await store(self.position)
        self.committed = True

    def _join(self) -> None:
        with open(self.partial, "wb") as target:
            self.writer.join(target, self.final if self.base else None)
            target.flush()
            os.fsync(target.fileno())

    def abandon(self, *, checkpointed: bool) -> Path | None:
        if self._closed:
            return None
        self._closed = True
        if checkpointed:
            # The parts are the checkpoint's: a rerun continues them.
            if self.writer.parts:
                return self.parts_dir
            shutil.rmtree(self.parts_dir, ignore_errors=True)
            return None
        # No rerun can continue: leave what was written as one readable file.
        if not self.writer.parts:
            shutil.rmtree(self.parts_dir, ignore_errors=True)
            return None
        try:
            self._join()
        except OSError:
            self.partial.unlink(missing_ok=True)
            return self.parts_dir
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        return self.partial


def open_parquet(
    path: Path,
    columns: dict[str, Any] | None,
    position: dict[str, Any] | None,
    *,
    legacy: bool = False,
    row_group_rows: int | None = None,
) -> ParquetOutput:
    """The parquet output at ``path``, continuing ``position`` (``None``: afresh)."""
    rows = row_group_rows or ROW_GROUP_ROWS
    parts_dir = _parts_dir(path)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    if position is None:
        if legacy and (path.exists() or parts_dir.exists() or partial.exists()):
            raise UsageError(
                f"cannot resume into the parquet output {str(path)!r}: the checkpoint was"
                " written by an older truto-stream, which recorded no output position; pass"
                " another --output, it will hold the rest"
            )
        _clear(parts_dir, partial)
        parts_dir.mkdir()
        writer = ParquetWriter(parts_dir, model_columns=columns, row_group_rows=rows)
        return ParquetOutput(path, writer, base=False, resumed=False)
    parts, records, base = _parquet_position(position)
    if position.get("joined"):
        # The join finished, the rename or the clean-up may not have: complete them.
        if partial.exists():
            os.replace(partial, path)
        parts, base = 0, True
        shutil.rmtree(parts_dir, ignore_errors=True)
    if base and not path.exists():
        raise _missing(path, records)
    _keep_only(parts_dir, parts, partial, path)
    first = parts_dir / part_name(0)
    writer = ParquetWriter(
        parts_dir,
        model_columns=columns,
        row_group_rows=rows,
        first_part=parts,
        records=records,
        schema_from=first if parts else (path if base else None),
    )
    return ParquetOutput(path, writer, base=base, resumed=bool(parts or base))


def _parts_dir(path: Path) -> Path:
    return path.with_name(path.name + PARTS_SUFFIX)


def _parquet_position(position: dict[str, Any]) -> tuple[int, int, bool]:
    parts, records = position.get("parts"), position.get("records")
    if not isinstance(parts, int) or not isinstance(records, int) or parts < 0:
        raise UsageError("the checkpoint holds a parquet output position this version cannot use")
    return parts, records, bool(position.get("base"))


def _clear(parts_dir: Path, partial: Path) -> None:
    shutil.rmtree(parts_dir, ignore_errors=True)
    partial.unlink(missing_ok=True)


def _keep_only(parts_dir: Path, parts: int, partial: Path, path: Path) -> None:
    """Check the committed parts are there; delete everything else a killed run left."""
    parts_dir.mkdir(exist_ok=True)
    known = {part_name(i) for i in range(parts)}
    present = {entry.name for entry in parts_dir.iterdir()}
    if missing := sorted(known - present):
        raise UsageError(
            f"{str(parts_dir)!r} lacks {len(missing)} of the {parts} parts the checkpoint"
            f" counts (first: {missing[0]}): it was changed since; start over with another"
            " --checkpoint"
        )
    for name in present - known:
        stale = parts_dir / name
        with contextlib.suppress(FileNotFoundError):
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
    partial.unlink(missing_ok=True)  # a join cut short: done again at the end


def _missing(path: Path, records: int) -> UsageError:
    return UsageError(
        f"the checkpoint counts {records:,} records as written to {str(path)!r}, which does"
        " not exist: pass the --output those runs wrote (or start over with another"
        " --checkpoint)"
    )
