"""Records as Arrow: the one place that turns unified records into ``pyarrow`` data.

Needs the optional ``arrow`` extra (``pip install 'truto-stream[arrow]'``: pyarrow). The
schema of a known resource is fixed (see :mod:`truto_stream.schema`): strings stay strings
(timestamps too, exactly as the API sent them), ``list[Email]`` becomes
``list<struct<email, is_primary>>`` and so on, ``remote_data`` (vendor shaped) is JSON
text, and ``integrated_account_id`` (plus ``date`` in a sweep over dates) comes first. An
unknown resource gets string columns named after its first record's keys (non-strings as
JSON text). The Parquet output, :meth:`Sweep.arrow_batches
<truto_stream.sweep.Sweep.arrow_batches>`, the dlt source and the Ray source all build
their data here.

Semantics, whatever the path: a field the schema does not have is dropped; a field a
record lacks is null; a value that does not fit its column (a vendor sending ``"12"`` for
a number) is null in a typed column and JSON text in a string column, never an error that
stops a sweep.

Records may arrive as dicts or as their own JSON text (``bytes``: what the decoder hands
on with ``as_text``). A batch of a known resource's texts is built without a dict per
record (:mod:`truto_stream._columnar`, several times faster); a batch that path cannot
read exactly as the dicts would be read (a value that does not fit its column, a
duplicated name) is decoded and built from dicts, so the batches are the same.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from itertools import groupby
from typing import Any, Final, Literal, NotRequired, Required, Union, cast, get_args, get_origin

import orjson

from truto_stream._columnar import TextColumns, decode_texts, is_texts, string_array
from truto_stream._decode._text import TextRecords
from truto_stream.schema import (
    ACCOUNT_COLUMN,
    DATE_COLUMN,
    JSON_COLUMNS,
    Projection,
    known_model,
    model_columns,
)

try:
    import pyarrow as pa
except ImportError:  # pragma: no cover - exercised in a process without pyarrow
    raise ImportError(
        "truto_stream.arrow needs pyarrow: pip install 'truto-stream[arrow]'"
    ) from None

__all__ = [
    "BATCH_ROWS",
    "RecordBatcher",
    "arrow_type",
    "columns_schema",
    "inferred_schema",
    "json_columns",
    "model_schema",
    "records_to_batch",
    "rows_to_batch",
]

#: Rows per record batch (and per Parquet row group) unless told otherwise.
BATCH_ROWS = 10_000

_SIMPLE: dict[Any, pa.DataType] = {
    str: pa.string(),
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
}


def arrow_type(hint: Any) -> pa.DataType:
    """The Arrow type of a model annotation (TypedDicts become structs)."""
    origin = get_origin(hint)
    if origin in (NotRequired, Required):
        return arrow_type(get_args(hint)[0])
    if origin is Literal or origin in (Union, types.UnionType) or origin is dict:
        # ``UserStatus | str``: any string member makes the union a string column; a
        # free-form dict is JSON text.
        return pa.string()
    if origin is list:
        return pa.list_(arrow_type(get_args(hint)[0]))
    if typing.is_typeddict(hint):
        hints = typing.get_type_hints(hint)
        return pa.struct([pa.field(k, arrow_type(v)) for k, v in hints.items()])
    return _SIMPLE.get(hint, pa.string())


#: Schema metadata naming the columns that hold JSON text (kept in Parquet files, so a
#: resumed writer reading a schema back knows them too).
JSON_METADATA = b"truto_stream.json_columns"


def _with_json(fields: list[pa.Field], json: list[str]) -> pa.Schema:
    return pa.schema(fields, metadata={JSON_METADATA: ",".join(json).encode()})


def json_columns(schema: pa.Schema) -> list[str]:
    """The columns of ``schema`` that hold JSON text (non-strings serialised)."""
    named = (schema.metadata or {}).get(JSON_METADATA)
    if named is None:
        return [name for name in schema.names if name in JSON_COLUMNS]
    return [name for name in named.decode().split(",") if name in schema.names]


def columns_schema(columns: Mapping[str, Any]) -> pa.Schema:
    """An Arrow schema for ``{column: annotation}`` (JSON columns become strings)."""
    fields = [
        pa.field(name, pa.string() if name in JSON_COLUMNS else arrow_type(hint))
        for name, hint in columns.items()
    ]
    return _with_json(fields, [name for name in columns if name in JSON_COLUMNS])


def model_schema(
    model: str, resource: str, *, dated: bool = False, fields: Projection | None = None
) -> pa.Schema | None:
    """The fixed schema of ``model/resource`` records, or ``None`` for an unknown resource."""
    typed = known_model(model, resource)
    if typed is None:
        return None
    return columns_schema(model_columns(typed, dated=dated, fields=fields))


def inferred_schema(record: Mapping[str, Any], *, dated: bool = False) -> pa.Schema:
    """An unknown resource's schema: its first record's keys as string columns."""
    names = [ACCOUNT_COLUMN, *([DATE_COLUMN] if dated else [])]
    own = [key for key in record if key not in (ACCOUNT_COLUMN, DATE_COLUMN)]
    return _with_json([pa.field(name, pa.string()) for name in names + own], own)


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def _fit(value: Any, kind: pa.DataType) -> Any:
    """``value`` made to fit ``kind``: JSON text for a string column, null if it cannot."""
    if value is None:
        return None
    if pa.types.is_string(kind):
        return _json_text(value)
    if pa.types.is_boolean(kind):
        return value if isinstance(value, bool) else None
    if pa.types.is_integer(kind):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if pa.types.is_floating(kind):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else None
    if pa.types.is_list(kind):
        item = kind.value_type
        return [_fit(v, item) for v in value] if isinstance(value, list) else None
    if pa.types.is_struct(kind):
        if not isinstance(value, dict):
            return None
        return {f.name: _fit(value.get(f.name), f.type) for f in kind}
    return None


class _Columns:
    """How one schema's columns are filled from records (computed once per schema)."""

    def __init__(self, schema: pa.Schema, *, dates_inside: bool = False) -> None:
        self.schema = schema
        self.has_account = ACCOUNT_COLUMN in schema.names
        # dates_inside: the date is each record's own member, read like its other fields.
        self.has_date = DATE_COLUMN in schema.names and not dates_inside
        extra = {ACCOUNT_COLUMN} | ({DATE_COLUMN} if self.has_date else set())
        # Every string column that is not the account's or the date's takes JSON text when
        # the schema was inferred (all strings); a model's schema names its JSON columns.
        inferred = all(pa.types.is_string(f.type) for f in schema)
        self.json = [
            f.name for f in schema if f.name not in extra and (f.name in JSON_COLUMNS or inferred)
        ]
        self.fields = [f for f in schema if f.name not in extra and f.name not in self.json]
        self.record_schema = pa.schema(self.fields)
        # An inferred schema (an unknown resource, a rare path) is filled from dicts only.
        self.texts = None if inferred else TextColumns(self.record_schema, self.json)

    def batch(
        self,
        records: list[Any],
        accounts: list[str],
        dates: list[str | None],
        members: list[Any] | None = None,
    ) -> pa.RecordBatch:
        arrays = None
        if members is None and type(records) is TextRecords:
            members = records.members
        # Records the decoder read (their members known) are texts: no need to look.
        if self.texts is not None and (members is not None or is_texts(records)):
            arrays = self.texts.arrays(records, members)
        if arrays is None:
            arrays = self._dict_arrays(decode_texts(records))
        if self.has_account:
            arrays[ACCOUNT_COLUMN] = _strings(accounts)
        if self.has_date:
            arrays[DATE_COLUMN] = _strings(dates)
        return pa.RecordBatch.from_arrays(
            [arrays[name] for name in self.schema.names], schema=self.schema
        )

    def _dict_arrays(self, records: list[dict[str, Any]]) -> dict[str, pa.Array]:
        arrays = dict(zip(self.record_schema.names, self._record_arrays(records), strict=True))
        for name in self.json:
            arrays[name] = pa.array([_json_text(r.get(name)) for r in records], pa.string())
        return arrays

    def _record_arrays(self, records: list[dict[str, Any]]) -> list[pa.Array]:
        if not self.fields:
            return []
        try:
            # The fast path: Arrow reads the dicts in C++, keys outside the schema ignored.
            batch = pa.RecordBatch.from_pylist(records, schema=self.record_schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            # Some value does not fit its column: fit every value (slow, rare).
            fitted = [{f.name: _fit(r.get(f.name), f.type) for f in self.fields} for r in records]
            batch = pa.RecordBatch.from_pylist(fitted, schema=self.record_schema)
        return list(batch.columns)


def _strings(values: list[str] | list[str | None]) -> pa.Array:
    """The account or date column (a few values, each many times) as a string array,
    without ``pa.array`` of a list (see :func:`~truto_stream._columnar.string_array`).
    A page's records share their account: long runs of one value are repeated in C++."""
    runs = [(kind, len(list(group))) for kind, group in groupby(values)]
    if not all(kind is None or isinstance(kind, str) for kind, _ in runs):
        return pa.array(values, pa.string())  # not text: as before
    if len(runs) * _RUN_ROWS <= len(values) or all(kind is None for kind, _ in runs):
        return pa.concat_arrays([_run(kind, count) for kind, count in runs] or [_run(None, 0)])
    if None in values:
        return pa.array(values, pa.string())  # nulls among texts in short runs: as before
    texts = {kind: kind.encode() for kind in set(cast(list[str], values))}
    return string_array([texts[value] for value in cast(list[str], values)])


#: Rows a run of one value must hold on average for the column to be built run by run
#: (an array a run: short runs, rows of many accounts in turn, are cheaper value by value).
_RUN_ROWS: Final = 64


def _run(value: str | None, count: int) -> pa.Array:
    """``value`` ``count`` times, filled in C++ (its scalar taken from an array: a
    ``pa.scalar`` of a ``str`` imports pandas)."""
    if value is None:
        return pa.nulls(count, pa.string())
    return pa.repeat(string_array([value.encode()])[0], count)


def records_to_batch(
    records: list[Any],
    schema: pa.Schema,
    *,
    account_id: str | None = None,
    date: str | None = None,
) -> pa.RecordBatch:
    """One batch of ``records`` (dicts, or their JSON texts) with ``schema`` (the account
    and date columns filled in)."""
    n = len(records)
    return _Columns(schema).batch(records, [account_id or ""] * n, [date] * n)


def rows_to_batch(
    rows: list[Any], schema: pa.Schema, *, accounts: list[str] | None = None
) -> pa.RecordBatch:
    """One batch of output rows (dicts, or their JSON texts) that carry their own date
    column; their accounts are ``accounts``, or each row's own account column (dicts)."""
    if accounts is None:
        accounts = [r.get(ACCOUNT_COLUMN) or "" for r in rows]
    return _Columns(schema, dates_inside=True).batch(rows, accounts, [])


class RecordBatcher:
    """Collects records from many pages into record batches of at most ``batch_rows`` rows.

    ``add(account_id, records, date)`` returns the batches it completed; :meth:`flush` the
    last, short one. Memory is bounded by ``batch_rows`` records (the dicts are only
    referenced until their batch is built). ``schema=None`` (an unknown resource) takes
    the schema from the first record (:func:`inferred_schema`).
    """

    def __init__(
        self,
        schema: pa.Schema | None,
        *,
        batch_rows: int = BATCH_ROWS,
        dated: bool = False,
    ) -> None:
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        self.batch_rows = batch_rows
        self._dated = dated
        self._columns = _Columns(schema) if schema is not None else None
        self._records: list[Any] = []
        self._accounts: list[str] = []
        self._dates: list[str | None] = []
        # The records' members as their decoder read them (TextRecords), while every
        # record so far came with them; None once one did not.
        self._members: list[Any] | None = []

    @property
    def schema(self) -> pa.Schema | None:
        """The batches' schema (``None`` until an unknown resource's first record)."""
        return self._columns.schema if self._columns is not None else None

    @property
    def buffered(self) -> int:
        """Records added but not in a batch yet."""
        return len(self._records)

    def add(
        self, account_id: str, records: list[Any], date: str | None = None
    ) -> list[pa.RecordBatch]:
        """Add one page's records (dicts, or their JSON texts); return the batches that
        are now full."""
        if self._columns is None and records:
            (first,) = decode_texts(records[:1])
            self._columns = _Columns(inferred_schema(first, dated=self._dated))
        done: list[pa.RecordBatch] = []
        members = records.members if type(records) is TextRecords else None
        if members is not None and len(members) != len(records):
            members = None  # the list was changed in place: its texts alone count
        start = 0
        while start < len(records):
            end = start + self.batch_rows - len(self._records)
            chunk = records[start:end]
            if members is None:
                self._members = None
            elif self._members is not None:
                self._members += members[start:end]
            start += len(chunk)
            self._records += chunk
            self._accounts += [account_id] * len(chunk)
            self._dates += [date] * len(chunk)
            if len(self._records) >= self.batch_rows:
                done.append(self._take())
        return done

    def flush(self) -> pa.RecordBatch | None:
        """The records still buffered, as one batch (``None`` if there are none)."""
        return self._take() if self._records else None

    def _take(self) -> pa.RecordBatch:
        assert self._columns is not None
        batch = self._columns.batch(self._records, self._accounts, self._dates, self._members)
        self._records, self._accounts, self._dates, self._members = [], [], [], []
        return batch
