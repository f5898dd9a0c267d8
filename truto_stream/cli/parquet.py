"""Parquet output (the optional ``truto-stream[parquet]`` extra: pyarrow).

The Arrow schema is derived from the unified model's annotations (see
:mod:`truto_stream.cli.schema`): strings stay strings (timestamps too, exactly as the API
sent them), ``list[Email]`` becomes ``list<struct<email, is_primary>>`` and so on; vendor
shaped ``remote_data`` is JSON text. Records are buffered up to ``row_group_rows`` and
written as one row group, so memory stays bounded whatever the sweep's size. An unknown
resource gets string columns named after its first record's keys (non-strings as JSON).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any, BinaryIO, Literal, NotRequired, Required, Union, get_args, get_origin

import orjson

from truto_stream.cli.schema import ACCOUNT_COLUMN, JSON_COLUMNS
from truto_stream.cli.writers import Writer, with_account

__all__ = ["ParquetWriter", "arrow_schema", "require_pyarrow"]

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
    """An Arrow schema for ``{column: annotation}`` (JSON columns become strings)."""
    pa = require_pyarrow()
    fields = []
    for name, hint in columns.items():
        kind = pa.string() if name in JSON_COLUMNS else _arrow_type(pa, hint)
        fields.append(pa.field(name, kind, nullable=True))
    return pa.schema(fields)


def _arrow_type(pa: Any, hint: Any) -> Any:
    origin = get_origin(hint)
    if origin in (NotRequired, Required):
        return _arrow_type(pa, get_args(hint)[0])
    if origin is Literal:
        return pa.string()
    if origin in (Union, types.UnionType):
        # ``UserStatus | str``: any string member makes the union a string column.
        return pa.string()
    if origin is list:
        return pa.list_(_arrow_type(pa, get_args(hint)[0]))
    if origin is dict:
        return pa.string()
    if typing.is_typeddict(hint):
        hints = typing.get_type_hints(hint)
        return pa.struct([pa.field(k, _arrow_type(pa, v)) for k, v in hints.items()])
    simple = {str: pa.string(), bool: pa.bool_(), int: pa.int64(), float: pa.float64()}
    return simple.get(hint, pa.string())


class ParquetWriter(Writer):
    """Row groups of up to ``row_group_rows`` records, written as batches arrive."""

    name = "parquet"

    def __init__(
        self,
        stream: BinaryIO,
        columns: Iterable[str] | None = None,
        *,
        model_columns: dict[str, Any] | None = None,
        row_group_rows: int = ROW_GROUP_ROWS,
    ) -> None:
        super().__init__(stream, columns if columns is not None else model_columns)
        self._pa = require_pyarrow()
        self._model_columns = model_columns
        self._schema: Any = arrow_schema(model_columns) if model_columns is not None else None
        self._json_columns = set(JSON_COLUMNS)
        self._rows: list[dict[str, Any]] = []
        self._row_group_rows = row_group_rows
        self._writer: Any = None

    def write_batch(self, account_id: str, records: list[dict[str, Any]]) -> None:
        if self._schema is None:
            if not records:
                return
            names = list(with_account(account_id, records[0]))
            self.columns = names
            self._schema = self._pa.schema([(n, self._pa.string()) for n in names])
            self._json_columns = {n for n in names if n != ACCOUNT_COLUMN}
        for record in records:
            self._rows.append(self._row(account_id, record))
        self.records += len(records)
        if len(self._rows) >= self._row_group_rows:
            self._write_rows()

    def _row(self, account_id: str, record: dict[str, Any]) -> dict[str, Any]:
        row = with_account(account_id, record)
        for name in self._json_columns:
            value = row.get(name)
            if value is not None and not isinstance(value, str):
                row[name] = orjson.dumps(value, default=str).decode()
        return row

    def _write_rows(self) -> None:
        if self._writer is None:
            self._writer = self._pa.parquet.ParquetWriter(self.stream, self._schema)
        if self._rows:
            table = self._pa.Table.from_pylist(self._rows, schema=self._schema)
            self._writer.write_table(table, row_group_size=len(self._rows))
            self._rows = []
        self.stream.flush()

    def finish(self) -> None:
        if self._schema is None:  # no record at all and no model: a file with no columns
            self._schema = self._pa.schema([(ACCOUNT_COLUMN, self._pa.string())])
        self._write_rows()
        self._writer.close()
        self.stream.flush()
