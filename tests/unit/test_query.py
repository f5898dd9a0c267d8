"""Truto query encoding: documented forms, edge values, round-trip and no mutation."""

from __future__ import annotations

import copy
import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truto_stream._query import encode_query, flatten_query


class Color(enum.Enum):
    RED = "red"
    ONE = 1


class Level(enum.IntEnum):
    HIGH = 3


class Mode(str, enum.Enum):  # noqa: UP042 - str() of this mix is "Mode.FAST"
    FAST = "fast"


def test_documented_forms() -> None:
    params = {
        "integrated_account_id": "ia1",
        "remote_query": {"status": "active", "deep": {"x": 1}},
        "truto_exclude_fields": ["raw_data", "id"],
    }
    assert flatten_query(params) == [
        ("integrated_account_id", "ia1"),
        ("remote_query[status]", "active"),
        ("remote_query[deep][x]", "1"),
        ("truto_exclude_fields[]", "raw_data"),
        ("truto_exclude_fields[]", "id"),
    ]
    assert encode_query(params) == (
        "integrated_account_id=ia1&remote_query%5Bstatus%5D=active"
        "&remote_query%5Bdeep%5D%5Bx%5D=1"
        "&truto_exclude_fields%5B%5D=raw_data&truto_exclude_fields%5B%5D=id"
    )


def test_list_of_mappings_is_indexed() -> None:
    params = {"f": [{"a": 1, "b": 2}, None, {}, {"a": 3}]}
    assert flatten_query(params) == [("f[0][a]", "1"), ("f[0][b]", "2"), ("f[1][a]", "3")]


def test_mixed_and_nested_lists_are_indexed() -> None:
    assert flatten_query({"m": [1, [2, 3], {"k": "v"}]}) == [
        ("m[0]", "1"),
        ("m[1][]", "2"),
        ("m[1][]", "3"),
        ("m[2][k]", "v"),
    ]


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        (1.5, "1.5"),
        (Decimal("10.50"), "10.50"),
        ("", ""),
        ("a b&c=d/é", "a b&c=d/é"),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2024-01-02T03:04:05Z"),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=dt.UTC),
            "2024-01-02T03:04:05.120000Z",
        ),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2024-01-02T03:04:05+02:00",
        ),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (Color.RED, "red"),
        (Color.ONE, "1"),
        (Level.HIGH, "3"),
        (Mode.FAST, "fast"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_scalars(value: Any, wire: str) -> None:
    assert flatten_query({"k": value}) == [("k", wire)]


def test_none_and_empty_are_omitted_at_any_depth() -> None:
    params = {
        "a": None,
        "b": [],
        "c": {},
        "d": {"x": None, "y": {"z": None}},
        "e": [None, None],
        "f": (),
        "g": [{"x": None}],
        "h": "kept",
    }
    assert flatten_query(params) == [("h", "kept")]
    assert encode_query({}) == ""


def test_tuples_like_lists_and_sets_sorted() -> None:
    assert flatten_query({"t": ("a", "b")}) == flatten_query({"t": ["a", "b"]})
    assert flatten_query({"s": {"b", "a", "c"}}) == [("s[]", "a"), ("s[]", "b"), ("s[]", "c")]


def test_spaces_and_reserved_characters_are_percent_encoded() -> None:
    assert encode_query({"q": "a b+c&d=e/f?g#h~i"}) == "q=a%20b%2Bc%26d%3De%2Ff%3Fg%23h~i"
    assert encode_query({"k[x]": "é"}) == "k%5Bx%5D=%C3%A9"


@pytest.mark.parametrize(
    "bad",
    [b"bytes", bytearray(b"x"), object(), {1, "a"}, (i for i in range(2)), 1j, Color],
)
def test_unsupported_types_raise_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"k"):
        flatten_query({"k": bad})


def test_enum_keys_use_their_value() -> None:
    pairs = flatten_query({Mode.FAST: 1, "n": {Mode.FAST: 2, Color.ONE: 3}})
    assert pairs == [("fast", "1"), ("n[fast]", "2"), ("n[1]", "3")]
    assert all(type(k) is str for k, _ in pairs)


def test_bad_keys_and_top_level() -> None:
    with pytest.raises(TypeError):
        flatten_query([("a", "b")])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        flatten_query({1: "x"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="empty"):
        flatten_query({"": "x"})
    with pytest.raises(TypeError):
        flatten_query({"a": {b"k": 1}})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity")])
def test_non_finite_numbers_rejected(bad: Any) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        flatten_query({"k": bad})


def test_reference_cycle_rejected() -> None:
    d: dict[str, Any] = {}
    d["self"] = d
    with pytest.raises(ValueError, match="cycle"):
        flatten_query({"d": d})
    shared = {"x": 1}
    # The same object twice (not a cycle) is fine.
    assert flatten_query({"a": [shared, shared]}) == [("a[0][x]", "1"), ("a[1][x]", "1")]


# --- properties ---------------------------------------------------------------------------

_keys = st.text(min_size=1, max_size=8)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.dates(),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.sampled_from(list(Color)),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_keys, inner, max_size=4)
    ),
    max_leaves=20,
)
_params = st.dictionaries(_keys, _values, max_size=6)


@settings(max_examples=150, deadline=None)
@given(_params)
def test_round_trip_and_no_mutation(params: dict[str, Any]) -> None:
    before = copy.deepcopy(params)
    pairs = flatten_query(params)
    encoded = encode_query(params)
    assert params == before
    assert parse_qsl(encoded, keep_blank_values=True, strict_parsing=False) == pairs
    # RFC 3986 style: nothing outside the unreserved set and '%', '=', '&' on the wire.
    assert all(c.isascii() and (c.isalnum() or c in "-._~%=&") for c in encoded)
    # None is omitted, never sent as the string "None" (the Python SDK's bug).
    if any(v == "None" for _, v in pairs):
        assert "None" in _leaves(params)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


@settings(max_examples=80, deadline=None)
@given(_params)
def test_pair_count_matches_non_none_leaves(params: dict[str, Any]) -> None:
    leaves = [leaf for leaf in _leaves(params) if leaf is not None]
    assert len(flatten_query(params)) == len(leaves)


# -- found by mutation testing (docs/mutation.md): what each refusal says


class Nested(enum.Enum):
    INNER = Color.RED


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ([("a", "b")], TypeError, "query parameters must be a mapping, not list"),
        ({1: "x"}, TypeError, "query parameter names must be str, not int"),
        ({"": "x"}, ValueError, "query parameter names must not be empty"),
        ({"a": {b"k": 1}}, TypeError, "nested keys must be str or int, not bytes (in 'a')"),
        (
            {"a": {"b": 1j}},
            TypeError,
            "unsupported query value of type complex for 'a[b]'; use str, int, float, "
            "Decimal, bool, date, datetime, UUID, Enum, None, a mapping or a list",
        ),
        ({"k": Nested.INNER}, TypeError, "enum <Nested.INNER: <Color.RED: 'red'>> has an"),
    ],
)
def test_each_refusal_names_what_and_where(params: Any, error: type, message: str) -> None:
    with pytest.raises(error) as caught:
        flatten_query(params)
    assert str(caught.value).startswith(message)


def test_a_cycle_is_named_where_it_closes() -> None:
    inner: dict[str, Any] = {}
    inner["again"] = inner
    with pytest.raises(ValueError, match=r"reference cycle at 'a\[b\]\[again\]'$"):
        flatten_query({"a": {"b": inner}})
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match=r"reference cycle at 'l\[0\]'$"):
        flatten_query({"l": looped})
