"""Page sizes per integration and what each endpoint takes (sans-IO)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream.emulator.vendors import VENDORS
from truto_stream.errors import ConfigurationError
from truto_stream.plan.capabilities import (
    Capability,
    PageBounds,
    builtin,
    from_query_schema,
    known_integrations,
)
from truto_stream.plan.pages import TRUTO_DEFAULT_PAGE, PageChoice, choose_page, requested_limit

CLAUDE = builtin("usage-metering", "users", "claude")
OPENAI = builtin("usage-metering", "users", "openai")
CURSOR = builtin("usage-metering", "users", "cursor")


def test_the_built_in_table_is_the_seed_documents() -> None:
    assert known_integrations("usage-metering", "users") == ["claude", "openai", "cursor"]
    assert known_integrations("crm", "contacts") == []
    assert Capability("claude", "Claude", PageBounds(1, 1000, 100), takes_date=True) == CLAUDE
    assert Capability("openai", "OpenAI Codex", PageBounds(1, 100, 100), False) == OPENAI
    assert Capability("cursor", "Cursor", None, takes_date=False) == CURSOR
    assert builtin("usage-metering", "users", "zendesk") is None


@pytest.mark.parametrize("name", ["claude", "openai", "cursor"])
def test_the_emulators_query_schema_reads_as_the_table(name: str) -> None:
    schema = VENDORS[name].query_schema("2026-07-12")
    table = builtin("usage-metering", "users", name)
    cap = from_query_schema(name, schema, fallback=table)
    assert cap is not None and table is not None
    assert (cap.label, cap.limit, cap.takes_date) == (table.label, table.limit, table.takes_date)
    assert cap.source == "meta"
    assert cap.default_date == ("2026-07-12" if table.takes_date else None)


def test_query_schema_edge_cases() -> None:
    assert from_query_schema("x", None) is None
    assert from_query_schema("x", {"properties": []}) is None
    cap = from_query_schema("x", {"properties": {"limit": {"maximum": 50}}})
    assert cap is not None and cap.limit == PageBounds(1, 50, None) and cap.label == "x"
    # Declared without usable bounds: the table's stand; without a table, none.
    bad = {"properties": {"limit": {"minimum": 0, "maximum": "lots"}, "date": {}}}
    cap = from_query_schema("claude", bad, fallback=CLAUDE)
    assert cap is not None and cap.limit == CLAUDE.limit and cap.takes_date  # type: ignore[union-attr]
    cap = from_query_schema("x", bad)
    assert cap is not None and cap.limit is None
    cap = from_query_schema("x", {"properties": {"limit": {"maximum": 9, "default": 99}}})
    assert cap is not None and cap.limit == PageBounds(1, 9, None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["limit", "date", "cursor", "x"]), json_values))
def test_any_schema_gives_a_capability_or_none(props: dict[str, Any]) -> None:
    cap = from_query_schema("x", {"properties": props})
    assert cap is not None
    assert cap.takes_date == ("date" in props)
    if cap.limit is not None:
        assert 1 <= cap.limit.minimum <= cap.limit.maximum


def test_requested_limit() -> None:
    assert requested_limit({}) is None
    assert requested_limit({"limit": "1000"}) == 1000
    assert requested_limit({"limit": 5}) == 5
    for bad in ("ten", True, 0, "-1", 1.5):
        with pytest.raises(ConfigurationError):
            requested_limit({"limit": bad})


def test_page_choices() -> None:
    assert choose_page(CLAUDE, None).limit == 1000
    assert choose_page(OPENAI, None).limit == 100
    cursor = choose_page(CURSOR, None)
    assert (cursor.limit, cursor.per_request) == (None, None)
    assert "not sent" in choose_page(CURSOR, 500).note
    clamped = choose_page(OPENAI, 1000)
    assert (clamped.limit, clamped.warning) == (100, True)
    assert "outside OpenAI Codex's 1-100" in clamped.note
    assert choose_page(CLAUDE, 250).limit == 250 and not choose_page(CLAUDE, 250).warning
    unknown = choose_page(None, None)
    assert (unknown.limit, unknown.per_request) == (None, TRUTO_DEFAULT_PAGE)
    assert choose_page(None, 7).limit == 7


# -- found by mutation testing (docs/mutation.md): every field of every choice, the messages


def test_requested_limit_bounds_and_messages() -> None:
    assert requested_limit({"limit": 1}) == 1
    assert requested_limit({"limit": " 2 "}) == 2
    for bad, message in (
        (True, "limit must be a whole number, got True"),
        ("ten", "limit must be a whole number, got 'ten'"),
        (0, "limit must be at least 1, got 0"),
    ):
        with pytest.raises(ConfigurationError) as caught:
            requested_limit({"limit": bad})
        assert str(caught.value) == message


def test_every_page_choice_exactly() -> None:
    default = f"the endpoint's default page ({TRUTO_DEFAULT_PAGE} assumed)"
    assert choose_page(None, None) == PageChoice(None, TRUTO_DEFAULT_PAGE, default)
    assert choose_page(None, 7) == PageChoice(7, 7, "limit 7 as given")
    assert choose_page(CURSOR, None) == PageChoice(None, None, "one page, no limit")
    assert choose_page(CURSOR, 500) == PageChoice(
        None, None, "one page, no limit (limit 500 not sent)"
    )
    assert choose_page(CLAUDE, None) == PageChoice(1000, 1000, "limit 1000 (the largest)")
    assert choose_page(CLAUDE, 250) == PageChoice(250, 250, "limit 250 as given")
    assert choose_page(OPENAI, 1000) == PageChoice(
        100, 100, "limit 100: 1000 is outside OpenAI Codex's 1-100", warning=True
    )


@given(
    st.integers(min_value=1, max_value=500),
    st.integers(min_value=0, max_value=500),
    st.integers(min_value=1, max_value=5000),
)
def test_a_chosen_limit_is_always_within_the_bounds(low: int, extra: int, asked: int) -> None:
    cap = Capability("x", "X", PageBounds(low, low + extra), takes_date=False)
    choice = choose_page(cap, asked)
    assert choice.limit is not None and low <= choice.limit <= low + extra
    assert choice.warning == (choice.limit != asked)
    assert choice.per_request == choice.limit
