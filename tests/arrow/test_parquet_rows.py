"""The Parquet output builds its tables with truto_stream.arrow: odd values never fail it."""

from __future__ import annotations

import io

import pytest

pq = pytest.importorskip("pyarrow.parquet")

from truto_stream.cli.parquet import StreamParquetWriter  # noqa: E402
from truto_stream.cli.schema import model_columns  # noqa: E402
from truto_stream.models import User  # noqa: E402


def test_a_value_that_does_not_fit_its_column_is_null_not_a_failed_sweep() -> None:
    stream = io.BytesIO()
    writer = StreamParquetWriter(stream, model_columns=model_columns(User), row_group_rows=10)
    writer.write_batch(
        "acc",
        [
            {"id": "1", "name": "a", "spend_limit": {"amount": "12", "currency": "USD"}},
            {"id": "2", "name": 7, "emails": "x@y", "remote_data": {"k": 1}},
        ],
    )
    writer.finish()
    stream.seek(0)
    rows = pq.read_table(stream).to_pylist()
    assert rows[0]["spend_limit"] == {"amount": None, "currency": "USD"}
    assert rows[1]["name"] == "7" and rows[1]["emails"] is None
    assert rows[1]["remote_data"] == '{"k":1}'
    assert [r["integrated_account_id"] for r in rows] == ["acc", "acc"]
