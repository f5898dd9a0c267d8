"""The sans-IO pieces of batch lookups: grouping ids into queries, reading an answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from truto_stream._query import encode_query
from truto_stream.plan.lookup import (
    LOOKUP_QUERY_CHARS,
    batch_params,
    group_ids,
    read_batch,
)

ids_strategy = st.lists(st.text(min_size=1, max_size=300), max_size=120, unique=True)


@given(ids_strategy)
def test_every_id_is_asked_once_and_each_query_stays_short(ids: list[str]) -> None:
    groups, singles = group_ids(ids)
    asked = [i for group in groups for i in group] + singles
    assert sorted(asked) == sorted(ids)
    for group in groups:
        assert len(group) >= 2
        assert not any("," in i for i in group)
        assert len(quote(",".join(group), safe="")) <= LOOKUP_QUERY_CHARS
    assert all(groups)


def test_uuids_fit_a_hundred_to_a_query() -> None:
    ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(100)]
    assert group_ids(ids) == ([ids], [])
    query = encode_query(batch_params(ids))
    assert query.startswith("id%5Bin%5D=00000000-0000") and query.endswith("&limit=100")
    assert len(query) < 4200


def test_ids_holding_a_comma_or_alone_are_single() -> None:
    assert group_ids(["a,b", "c"]) == ([], ["a,b", "c"])
    assert group_ids(["a", "a,b", "c"]) == ([["a", "c"]], ["a,b"])
    assert group_ids([]) == ([], [])
    long = "x" * LOOKUP_QUERY_CHARS
    assert group_ids(["a", long, "b"]) == ([], ["a", long, "b"])


def _record(account_id: Any) -> dict[str, Any]:
    return {"id": account_id, "integration": {"name": "openai"}}


def test_only_records_asked_for_are_read() -> None:
    answer = read_batch({"result": [_record("a"), _record("b")], "next_cursor": None}, {"a", "b"})
    assert answer.found == {"a": _record("a"), "b": _record("b")} and not answer.filter_ignored
    fewer = read_batch({"result": [_record("b")]}, {"a", "b", "c"})
    assert fewer.found == {"b": _record("b")} and not fewer.filter_ignored
    other = read_batch({"result": [_record("a"), _record("z")], "next_cursor": "x"}, {"a", "b"})
    assert other.found == {"a": _record("a")} and other.filter_ignored
    twice = read_batch({"result": [_record("a"), {**_record("a"), "x": 1}]}, {"a"})
    assert twice.found == {"a": _record("a")}


def test_an_answer_that_is_no_listing_says_the_filter_is_not_known() -> None:
    bodies: tuple[Any, ...] = (None, [], "x", {"result": None}, {"result": {"a": 1}}, {"x": []})
    for body in bodies:
        answer = read_batch(body, {"a"})
        assert answer.found == {} and answer.filter_ignored
    for bad in (_record(1), _record(None), "a", 7, {"name": "a"}):
        answer = read_batch({"result": [bad]}, {"a", "1"})
        assert answer.found == {} and answer.filter_ignored
