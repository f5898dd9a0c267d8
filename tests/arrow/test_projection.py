"""The field projection (sans-IO): what is asked of the server, what is kept locally."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream.errors import ConfigurationError
from truto_stream.models import User
from truto_stream.schema import Projection, model_columns, model_fields


def test_id_is_always_kept_first_and_names_are_deduplicated() -> None:
    assert Projection.of("name, emails,name").fields == ("id", "name", "emails")
    assert Projection.of(["emails", "id"]).fields == ("id", "emails")
    for bad in ("name,,emails", "", " "):
        with pytest.raises(ConfigurationError, match="non-empty"):
            Projection.of(bad)


def test_unknown_fields_of_a_known_model_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown field\(s\) nmae;.*\bname\b"):
        Projection.of("nmae").check(User)
    Projection.of("anything").check(None)  # an unknown resource: no field list to check


def test_the_server_is_asked_to_leave_out_every_other_known_field() -> None:
    fields = Projection.of("name,emails")
    excluded = fields.excluded(User)
    assert set(excluded) == set(model_fields(User)) - {"id", "name", "emails"}
    query = fields.query({"truto_exclude_fields": ["remote_data", "mine"], "limit": 5}, User)
    assert query["limit"] == 5
    assert query["truto_exclude_fields"][:2] == ["remote_data", "mine"]
    assert set(query["truto_exclude_fields"]) == {*excluded, "mine"}
    assert fields.query({"truto_exclude_fields": "mine"}, User)["truto_exclude_fields"][0] == "mine"
    # An unknown model: nothing is known to exclude, so nothing is sent.
    assert fields.query({"limit": 5}, None) == {"limit": 5}


def test_the_columns_follow_the_model_order() -> None:
    columns = model_columns(User, dated=True, fields=Projection.of("emails,name"))
    assert list(columns) == ["integrated_account_id", "date", "id", "name", "emails"]


@given(
    st.lists(st.dictionaries(st.sampled_from(["id", "name", "emails", "x", "y"]), st.integers())),
    st.lists(st.sampled_from(["name", "emails", "x"]), min_size=1),
)
def test_local_projection_keeps_exactly_the_kept_keys(
    records: list[dict[str, int]], names: list[str]
) -> None:
    fields = Projection.of(names)
    projected = fields.apply(records)
    assert len(projected) == len(records)
    for record, row in zip(records, projected, strict=True):
        assert row == {k: v for k, v in record.items() if k in fields.keep}
