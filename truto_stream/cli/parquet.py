"""Parquet output (the optional ``truto-stream[parquet]`` extra: pyarrow).

The Arrow schema is the one of :mod:`truto_stream.arrow` (derived from the unified model's
annotations): strings stay strings (timestamps too, exactly as the API
sent them), ``list[Email]`` becomes ``list<struct<email, is_primary>>`` and so on; vendor
shaped ``remote_data`` is JSON text. An unknown resource gets string columns named after
its first record's keys (non-strings as JSON).

Durability: rows buffered in a writer are not on disk, and a Parquet file is unreadable
until its footer is written, which ``kill -9`` never lets happen. So records are buffered
up to ``row_group_rows`` and then written as one *part*: a small, complete Parquet file
(one row group) written under a temporary name in ``FILE.parts/``, closed and renamed to
``part-NNNNNN.parquet``. A part is durable once renamed; the checkpoint stores how many
parts there are with the progress they cover, and a later run deletes any part it does not
know. When the sweep ends, the parts are joined into ``FILE`` (row group by row group: one
part in memory at a time) and the directory is removed. See :mod:`truto_stream.cli.output`
for the order of those steps and how each interruption is recovered.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any, BinaryIO

from truto_stream._columnar import decode_texts
from truto_stream.cli.schema import ACCOUNT_COLUMN
from truto_stream.cli.writers import Writer, with_account

__all__ = ["ParquetWriter", "StreamParquetWriter", "arrow_schema", "part_name", "require_pyarrow"]

ROW_GROUP_ROWS = 10_000


def require_pyarrow() -> Any:
    """Import pyarrow, or explain how to get it (raised as ``ImportError``)."""
    try:
        import pyarrow
        import pyarrow.parquet  # the submodule must be loaded
    except ImportError:
        raise ImportError(
            "--format parquet needs pyarrow: pip install 'truto-stream[parquet]'"
        ) from None
    return pyarrow


def arrow_schema(columns: dict[str, Any]) -> Any:
    """An Arrow schema for ``{column: annotation}`` (:func:`truto_stream.arrow.columns_schema`)."""
    require_pyarrow()
    from truto_stream.arrow import columns_schema

    return columns_schema(columns)


def part_name(index: int) -> str:
    """The file name of part ``index`` in a parts directory."""
    return f"part-{index:06d}.parquet"


class _RowBuffer(Writer):
    """Records as Arrow rows of the output's schema, buffered up to ``row_group_rows``."""

    name = "parquet"

    def __init__(
        self,
        stream: BinaryIO,
        *,
        model_columns: dict[str, Any] | None,
        row_group_rows: int,
    ) -> None:
        super().__init__(stream, model_columns)
        self._pa = require_pyarrow()
        self._schema: Any = arrow_schema(model_columns) if model_columns is not None else None
        self._rows: list[Any] = []  # the records (dicts or texts), their date inside
        self._accounts: list[str] = []
        self._row_group_rows = row_group_rows

    @property
    def buffered(self) -> int:
        """Records written to this writer but not yet on disk."""
        return len(self._rows)

    def _adopt(self, schema: Any) -> None:
        """An unknown resource: string columns, all JSON text but the account's."""
        self._schema = schema
        self.columns = list(schema.names)

    def _final_schema(self) -> Any:
        if self._schema is None:  # no record at all and no model: a file with no columns
            self._schema = self._pa.schema([(ACCOUNT_COLUMN, self._pa.string())])
        return self._schema

    def write_batch(self, account_id: str, records: list[Any]) -> None:
        """Buffer ``records`` (dicts, or their JSON texts: the columns of a known resource
        are then built without a dict per record)."""
        if self._schema is None:
            if not records:
                return
            (first,) = decode_texts(records[:1])
            names = list(with_account(account_id, first))
            self._adopt(self._pa.schema([(n, self._pa.string()) for n in names]))
        self._rows += records
        self._accounts += [account_id] * len(records)
        self.records += len(records)
        if len(self._rows) >= self._row_group_rows:
            self.seal()

    def _take_table(self) -> Any:
        from truto_stream.arrow import rows_to_batch

        # The one conversion of truto_stream.arrow: a value that does not fit its column
        # is null (JSON text in a string column), never an error that stops the sweep.
        batch = rows_to_batch(self._rows, self._schema, accounts=self._accounts)
        self._rows, self._accounts = [], []
        return self._pa.Table.from_batches([batch])

    def seal(self) -> None:
        """Write the buffered rows out now."""
        raise NotImplementedError


class ParquetWriter(_RowBuffer):
    """Buffers up to ``row_group_rows`` records, then writes them as one part file.

    ``parts`` counts the parts in ``parts_dir`` (``first_part`` were there already, from
    an earlier run, holding ``records``); ``buffered`` the records not in a part yet.
    :meth:`seal` writes the buffer as a part now; :meth:`join` writes ``base`` (an earlier
    complete file) and every part into one Parquet file.
    """

    def __init__(
        self,
        parts_dir: Path,
        *,
        model_columns: dict[str, Any] | None = None,
        row_group_rows: int = ROW_GROUP_ROWS,
        first_part: int = 0,
        records: int = 0,
        schema_from: Path | None = None,
    ) -> None:
        # Parts are files of their own: the writer's stream is never written.
        super().__init__(io.BytesIO(), model_columns=model_columns, row_group_rows=row_group_rows)
        self.parts_dir = parts_dir
        self.parts = first_part
        self.records = records
        if self._schema is None and schema_from is not None:
            self._adopt(self._pa.parquet.read_schema(schema_from))

    @property
    def position(self) -> dict[str, int]:
        return {"parts": self.parts, "records": self.records - len(self._rows)}

    def seal(self) -> None:
        """Write the buffered records as the next part: temporary name, closed, renamed."""
        if not self._rows:
            return
        rows = len(self._rows)
        final = self.parts_dir / part_name(self.parts)
        temp = self.parts_dir / f".{final.name}.tmp"
        self._pa.parquet.write_table(self._take_table(), temp, row_group_size=rows)
        os.replace(temp, final)
        self.parts += 1

    def join(self, target: BinaryIO, base: Path | None) -> None:
        """Write ``base`` (if any) then every part into ``target``, a row group at a time."""
        pq = self._pa.parquet
        schema = self._final_schema()
        with pq.ParquetWriter(target, schema) as out:
            if base is not None:
                source = pq.ParquetFile(base)
                for group in range(source.num_row_groups):
                    out.write_table(source.read_row_group(group))
            for index in range(self.parts):
                table = pq.read_table(self.parts_dir / part_name(index), schema=schema)
                out.write_table(table, row_group_size=max(1, table.num_rows))

    def finish(self) -> None:
        self.seal()


class StreamParquetWriter(_RowBuffer):
    """One Parquet file written to a stream (stdout): a row group per ``row_group_rows``."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        model_columns: dict[str, Any] | None = None,
        row_group_rows: int = ROW_GROUP_ROWS,
    ) -> None:
        super().__init__(stream, model_columns=model_columns, row_group_rows=row_group_rows)
        self._writer: Any = None

    def seal(self) -> None:
        if self._writer is None:
            self._writer = self._pa.parquet.ParquetWriter(self.stream, self._final_schema())
        if self._rows:
            rows = len(self._rows)
            self._writer.write_table(self._take_table(), row_group_size=rows)
        self.stream.flush()

    def finish(self) -> None:
        self.seal()
        self._writer.close()
        self._writer = None
        self.stream.flush()

    def abort(self) -> None:
        # Closed here, not by pyarrow's finaliser (which would write to a closed stream).
        with contextlib.suppress(OSError, ValueError):
            self.finish()
