"""Records to Arrow (sans-IO): the fixed schema, and the same rows whatever path builds them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")

from truto_stream import arrow  # noqa: E402
from truto_stream.arrow import (  # noqa: E402
    RecordBatcher,
    inferred_schema,
    json_columns,
    model_schema,
    records_to_batch,
)
from truto_stream.schema import Projection  # noqa: E402

USERS = model_schema("usage-metering", "users")
DATED = model_schema("usage-metering", "users", dated=True)


def test_the_users_schema_is_fixed_and_typed() -> None:
    assert USERS is not None and DATED is not None
    assert USERS.names == [
        "integrated_account_id",
        "id",
        "name",
        "first_name",
        "last_name",
        "emails",
        "roles",
        "status",
        "organization",
        "spend_limit",
        "created_at",
        "updated_at",
        "last_active_at",
        "remote_data",
    ]
    assert DATED.names[:3] == ["integrated_account_id", "date", "id"]
    assert USERS.field("emails").type == pa.list_(
        pa.struct([("email", pa.string()), ("is_primary", pa.bool_())])
    )
    assert USERS.field("spend_limit").type == pa.struct(
        [("amount", pa.float64()), ("currency", pa.string())]
    )
    assert USERS.field("status").type == pa.string()
    assert USERS.field("remote_data").type == pa.string()
    assert json_columns(USERS) == ["remote_data"]
    assert model_schema("some-model", "things") is None


def test_a_projection_narrows_the_schema_in_the_model_order() -> None:
    schema = model_schema("usage-metering", "users", fields=Projection.of("emails,name"))
    assert schema is not None
    assert schema.names == ["integrated_account_id", "id", "name", "emails"]


def test_rows_unknown_fields_missing_fields_and_nested_nulls() -> None:
    assert USERS is not None
    record = {
        "id": "u1",
        "name": "Ann",
        "emails": [{"email": "a@x", "extra": 1}],
        "spend_limit": {"amount": 12},
        "remote_data": {"k": [1, "é"]},
        "not_in_the_model": "dropped",
    }
    (row,) = records_to_batch([record], USERS, account_id="acc").to_pylist()
    assert row["integrated_account_id"] == "acc"
    assert row["emails"] == [{"email": "a@x", "is_primary": None}]
    assert row["spend_limit"] == {"amount": 12.0, "currency": None}
    assert row["first_name"] is None and row["organization"] is None
    assert orjson.loads(row["remote_data"]) == {"k": [1, "é"]}
    assert "not_in_the_model" not in row


def test_values_that_do_not_fit_become_null_or_json_text_never_an_error() -> None:
    assert USERS is not None
    record = {
        "id": "u1",
        "name": 42,  # a number in a string column: JSON text
        "emails": "not a list",
        "roles": [{"name": "r", "id": 7}],
        "spend_limit": {"amount": "12", "currency": "USD"},
        "organization": ["not", "a", "struct"],
        "remote_data": "already text",
    }
    good = {"id": "u2", "name": "Bo", "spend_limit": {"amount": 1.5}}
    rows = records_to_batch([record, good], USERS, account_id="a").to_pylist()
    assert rows[0]["name"] == "42"
    assert rows[0]["emails"] is None
    assert rows[0]["roles"] == [{"id": "7", "name": "r"}]
    assert rows[0]["spend_limit"] == {"amount": None, "currency": "USD"}
    assert rows[0]["organization"] is None
    assert rows[0]["remote_data"] == "already text"
    assert rows[1]["spend_limit"] == {"amount": 1.5, "currency": None}


def test_an_unknown_resource_takes_its_first_records_keys_as_json_text_columns() -> None:
    batcher = RecordBatcher(None, batch_rows=10)
    assert batcher.schema is None
    batcher.add("acc", [{"id": 1, "tags": ["a"], "name": "x"}, {"id": 2, "more": True}])
    batch = batcher.flush()
    assert batch is not None
    assert batch.schema.names == ["integrated_account_id", "id", "tags", "name"]
    assert batch.to_pylist() == [
        {"integrated_account_id": "acc", "id": "1", "tags": '["a"]', "name": "x"},
        {"integrated_account_id": "acc", "id": "2", "tags": None, "name": None},
    ]
    assert inferred_schema({"a": 1}, dated=True).names == ["integrated_account_id", "date", "a"]


def test_batches_are_bounded_and_keep_every_record_in_order() -> None:
    assert DATED is not None
    batcher = RecordBatcher(DATED, batch_rows=7, dated=True)
    out: list[Any] = []
    expected = []
    for page in range(9):
        records = [{"id": f"{page}-{i}", "name": "n"} for i in range(page)]
        expected += [(f"acc{page % 2}", f"2026-11-{page + 10}", r["id"]) for r in records]
        out += batcher.add(f"acc{page % 2}", records, f"2026-11-{page + 10}")
        assert batcher.buffered < 7
    last = batcher.flush()
    assert last is not None and batcher.flush() is None
    out.append(last)
    assert all(b.num_rows == 7 for b in out[:-1]) and 0 < out[-1].num_rows <= 7
    rows = [r for b in out for r in b.to_pylist()]
    assert [(r["integrated_account_id"], r["date"], r["id"]) for r in rows] == expected
    assert all(b.schema == DATED for b in out)
    with pytest.raises(ValueError, match="batch_rows"):
        RecordBatcher(DATED, batch_rows=0)


# -- the fast path (Arrow reading the dicts) and the fitting path agree ------------------

_text = st.text(max_size=8)
_email = st.fixed_dictionaries({"email": _text}, optional={"is_primary": st.booleans()})
_role = st.fixed_dictionaries({"name": _text}, optional={"id": _text})
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_user = st.fixed_dictionaries(
    {"id": _text, "name": _text},
    optional={
        "first_name": _text,
        "emails": st.lists(_email, max_size=3),
        "roles": st.lists(_role, max_size=2),
        "status": st.sampled_from(["active", "inactive", "SUSPENDED"]),
        "organization": st.fixed_dictionaries({}, optional={"id": _text, "name": _text}),
        "spend_limit": st.fixed_dictionaries(
            {}, optional={"amount": st.floats(allow_nan=False), "currency": _text}
        ),
        "created_at": _text,
        "remote_data": st.dictionaries(_text, _json, max_size=3),
        "unknown_field": _json,
    },
)
# Anything at all in any field: the fitting path must take it.
_wild = st.dictionaries(
    st.sampled_from(["id", "name", "emails", "roles", "spend_limit", "organization", "x"]),
    _json,
)


def _fitted(records: list[dict[str, Any]], schema: Any) -> list[dict[str, Any]]:
    """The rows the slow path gives: every value fitted by hand."""
    rows = []
    for record in records:
        row: dict[str, Any] = {}
        for field in schema:
            if field.name == "integrated_account_id":
                row[field.name] = "acc"
            elif field.name in json_columns(schema):
                value = record.get(field.name)
                row[field.name] = (
                    value
                    if value is None or isinstance(value, str)
                    else orjson.dumps(value).decode()
                )
            else:
                row[field.name] = arrow._fit(record.get(field.name), field.type)
        rows.append(row)
    return rows


@given(st.lists(_user, max_size=12))
def test_well_typed_records_give_the_same_rows_on_both_paths(users: list[dict[str, Any]]) -> None:
    assert USERS is not None
    batch = records_to_batch(users, USERS, account_id="acc")
    assert batch.schema == USERS
    assert (
        batch.to_pylist()
        == pa.RecordBatch.from_pylist(_fitted(users, USERS), schema=USERS).to_pylist()
    )


@given(st.lists(_user | _wild, max_size=12))
def test_any_record_converts_and_keeps_its_id_and_position(records: list[dict[str, Any]]) -> None:
    assert USERS is not None
    rows = records_to_batch(records, USERS, account_id="acc").to_pylist()
    assert len(rows) == len(records)
    for record, row in zip(records, rows, strict=True):
        value = record.get("id")
        assert row["id"] == (
            value if value is None or isinstance(value, str) else orjson.dumps(value).decode()
        )
