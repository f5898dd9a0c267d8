"""Pure pieces of the command: ``--param`` parsing, writers, continuing an output file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from truto_stream._query import encode_query
from truto_stream.cli.params import ParamError, parse_params
from truto_stream.cli.writers import CsvWriter, JsonWriter, NdjsonWriter, Writer


def test_params_bracket_syntax() -> None:
    params = parse_params(
        [
            "date=2026-11-20",
            "truto_exclude_fields[]=emails",
            "truto_exclude_fields[]=remote_data",
            "remote_query[team][id]=42",
            "a[b][]=x",
            "q=a=b",
        ]
    )
    assert params == {
        "date": "2026-11-20",
        "truto_exclude_fields": ["emails", "remote_data"],
        "remote_query": {"team": {"id": "42"}},
        "a": {"b": ["x"]},
        "q": "a=b",
    }
    # The client's encoder turns it back into the same bracket syntax.
    assert encode_query(params) == (
        "date=2026-11-20&truto_exclude_fields%5B%5D=emails&truto_exclude_fields%5B%5D="
        "remote_data&remote_query%5Bteam%5D%5Bid%5D=42&a%5Bb%5D%5B%5D=x&q=a%3Db"
    )


@pytest.mark.parametrize(
    "items",
    [["date"], ["=x"], ["a[=1"], ["a[][b]=1"], ["a=1", "a=2"], ["a=1", "a[]=2"], ["a[]=1", "a=2"],
     ["a[b]=1", "a[]=2"]],
)  # fmt: skip
def test_params_errors(items: list[str]) -> None:
    with pytest.raises(ParamError):
        parse_params(items)


RECORDS: list[dict[str, Any]] = [
    {"id": str(i), "name": f"user {i}", "emails": [{"email": f"u{i}@x.io"}]} for i in range(5)
]


def _write(writer: Writer, batches: list[list[dict[str, Any]]], finish: bool) -> bytes:
    for batch in batches:
        writer.write_batch("acc", batch)
    if finish:
        writer.finish()
    stream = writer.stream
    assert isinstance(stream, io.BytesIO)
    return stream.getvalue()


@pytest.mark.parametrize("cls", [NdjsonWriter, CsvWriter, JsonWriter])
@pytest.mark.parametrize("cut", [0, 1, 7, 30, -1, -2])
@pytest.mark.parametrize("finished", [False, True])
def test_continue_a_torn_file(cls: type[Writer], cut: int, finished: bool) -> None:
    columns = ["integrated_account_id", "id", "name", "emails"]
    whole = _write(cls(io.BytesIO(), columns), [RECORDS[:3]], finish=finished)
    torn = whole if finished else whole[: len(whole) - cut] if cut > 0 else whole
    if cut < 0 and not finished:
        torn = whole[:cut]
    stream = io.BytesIO(torn)
    writer = cls(stream, columns)
    writer.recover()
    data = _write(writer, [RECORDS[3:]], finish=True)
    if cls is JsonWriter:
        got = orjson.loads(data)
    elif cls is NdjsonWriter:
        got = [orjson.loads(line) for line in data.splitlines()]
    else:
        import csv

        got = list(csv.DictReader(io.StringIO(data.decode())))
        assert data.decode().count("integrated_account_id") == 1  # one header only
    ids = [r["id"] for r in got]
    # Every record kept is whole; the last ones are always there; order is preserved.
    assert ids == sorted(ids) and ids[-2:] == ["3", "4"]
    assert len(set(ids)) == len(ids)
    if finished or cut == 0:
        assert ids == ["0", "1", "2", "3", "4"]


def test_empty_outputs_are_valid() -> None:
    assert orjson.loads(_write(JsonWriter(io.BytesIO()), [], finish=True)) == []
    assert _write(CsvWriter(io.BytesIO(), ["a", "b"]), [], finish=True) == b"a,b\n"
    assert _write(NdjsonWriter(io.BytesIO()), [[]], finish=True) == b""


@pytest.mark.parametrize("cls", [NdjsonWriter, CsvWriter, JsonWriter])
@pytest.mark.parametrize("torn", [0, 1, 9, 1000])
@pytest.mark.parametrize("finished", [False, True])
def test_resume_at_a_stored_position(cls: type[Writer], torn: int, finished: bool) -> None:
    """What follows the stored position (a torn batch, later batches, the closing bracket of
    a finished file) is cut; every record before it is kept, and nothing twice."""
    columns = ["integrated_account_id", "id", "name", "emails"]
    writer = cls(io.BytesIO(), columns)
    _write(writer, [RECORDS[:2]], finish=False)
    stored = writer.position  # what the checkpoint stored with the progress it covers
    assert stored == {"offset": len(_value(writer)), "records": 2}
    _write(writer, [RECORDS[2:4]], finish=finished)  # written, never committed
    whole = _value(writer)
    after = whole[: stored["offset"] + torn] if not finished else whole
    resumed = cls(io.BytesIO(after), columns)
    resumed.resume_at(stored["offset"], stored["records"])
    data = _write(resumed, [RECORDS[2:]], finish=True)
    assert [r["id"] for r in _read(cls, data)] == ["0", "1", "2", "3", "4"]
    assert resumed.position == {"offset": resumed.offset, "records": 5}


def test_resume_at_the_start_of_an_empty_output() -> None:
    for cls in (NdjsonWriter, CsvWriter, JsonWriter):
        writer = cls(io.BytesIO(), ["integrated_account_id", "id"])
        finished = _write(writer, [], finish=True)  # a finished empty file: [] or a header
        resumed = cls(io.BytesIO(finished), ["integrated_account_id", "id"])
        resumed.resume_at(0, 0)
        data = _write(resumed, [RECORDS[:1]], finish=True)
        assert [r["id"] for r in _read(cls, data)] == ["0"]


def _value(writer: Writer) -> bytes:
    stream = writer.stream
    assert isinstance(stream, io.BytesIO)
    return stream.getvalue()


def _read(cls: type[Writer], data: bytes) -> list[dict[str, Any]]:
    if cls is JsonWriter:
        got: list[dict[str, Any]] = orjson.loads(data)
        return got
    if cls is NdjsonWriter:
        return [orjson.loads(line) for line in data.splitlines()]
    import csv

    assert data.decode().count("integrated_account_id") == 1  # one header only
    return list(csv.DictReader(io.StringIO(data.decode())))


USERS = [
    {"id": str(i), "name": "n", "emails": [{"email": "e"}], "remote_data": {"k": [i]}}
    for i in range(25)
]


def test_parquet_writes_parts_as_batches_arrive(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from truto_stream.cli.parquet import ParquetWriter
    from truto_stream.cli.schema import model_columns
    from truto_stream.models import User

    parts = tmp_path / "users.parquet.parts"
    parts.mkdir()
    writer = ParquetWriter(parts, model_columns=model_columns(User), row_group_rows=10)
    for start in range(0, 25, 5):
        writer.write_batch("acc", USERS[start : start + 5])
        # Bounded: never more than one row group's worth of rows held back.
        assert writer.buffered < 10
        # Each part is complete and under its final name, or not there at all.
        assert sorted(p.name for p in parts.iterdir()) == [
            f"part-{i:06d}.parquet" for i in range(writer.parts)
        ]
        assert writer.position == {"parts": writer.parts, "records": 10 * writer.parts}
    writer.finish()
    assert writer.parts == 3 and writer.buffered == 0
    assert pq.read_table(parts / "part-000002.parquet").num_rows == 5
    joined = io.BytesIO()
    writer.join(joined, base=None)
    joined.seek(0)
    table = pq.ParquetFile(joined)
    assert table.metadata.num_row_groups == 3
    rows = table.read().to_pylist()
    assert [r["id"] for r in rows] == [str(i) for i in range(25)]
    assert orjson.loads(rows[3]["remote_data"]) == {"k": [3]}
    assert rows[0]["emails"] == [{"email": "e", "is_primary": None}]
    assert table.schema_arrow.field("emails").type.value_type.names == ["email", "is_primary"]


def test_parquet_to_a_stream_writes_row_groups_as_batches_arrive() -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from truto_stream.cli.parquet import StreamParquetWriter

    stream = io.BytesIO()
    writer = StreamParquetWriter(stream, row_group_rows=10)  # an unknown resource
    for start in range(0, 25, 5):
        writer.write_batch("acc", USERS[start : start + 5])
        assert writer.buffered < 10
    writer.finish()
    stream.seek(0)
    table = pq.ParquetFile(stream)
    assert table.metadata.num_row_groups == 3
    rows = table.read().to_pylist()
    assert [r["id"] for r in rows] == [str(i) for i in range(25)]
    assert orjson.loads(rows[0]["emails"]) == [{"email": "e"}]  # JSON text: no model
