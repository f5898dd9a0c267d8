"""The resume check and unit keys (sans-IO): every batching of a page, every skip."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream._resume import ResumeCheck, ResumeMismatch, record_key
from truto_stream.unit import Unit, unit_key


def _batches(records: list[Any], cuts: list[int]) -> list[list[Any]]:
    points = sorted({c % (len(records) + 1) for c in cuts})
    edges = [0, *points, len(records)]
    return [records[a:b] for a, b in itertools.pairwise(edges)]


def _run(check: ResumeCheck, batches: list[list[Any]]) -> bool:
    """Feed the batches; True when the check passed, False on a mismatch."""
    check.begin()
    try:
        for batch in batches:
            check.see(batch)
        check.end()
    except ResumeMismatch:
        return False
    return True


PAGES = st.integers(1, 60).map(lambda n: [{"id": f"u{i}", "n": i} for i in range(n)])


@given(PAGES, st.data(), st.lists(st.integers(0, 100), max_size=6))
def test_the_same_page_passes_however_it_is_cut(
    records: list[Any], data: st.DataObject, cuts: list[int]
) -> None:
    skip = data.draw(st.integers(1, len(records)))
    check = ResumeCheck(skip, record_key(records[skip - 1]))
    assert _run(check, _batches(records, cuts))
    assert check.verified


@given(PAGES, st.data(), st.lists(st.integers(0, 100), max_size=6))
def test_another_record_at_the_position_is_a_mismatch(
    records: list[Any], data: st.DataObject, cuts: list[int]
) -> None:
    skip = data.draw(st.integers(1, len(records)))
    check = ResumeCheck(skip, "someone-else")
    assert not _run(check, _batches(records, cuts))
    assert not check.verified


@given(PAGES, st.integers(1, 50))
def test_a_shorter_page_is_a_mismatch(records: list[Any], more: int) -> None:
    check = ResumeCheck(len(records) + more, record_key(records[-1]))
    assert not _run(check, [records])


def test_a_retry_checks_again_until_verified() -> None:
    records = [{"id": f"u{i}"} for i in range(10)]
    check = ResumeCheck(8, "u7")
    check.begin()
    check.see(records[:5])  # the attempt is cut here
    assert not check.verified
    assert _run(check, [records[:3], records[3:]])  # the retry starts from record 0
    check.see([{"id": "anything"}])  # verified: later batches are not checked
    with pytest.raises(ValueError, match="skip"):
        ResumeCheck(0, "x")


def test_record_keys() -> None:
    assert record_key({"id": "abc", "name": "x"}) == "abc"
    assert record_key({"id": 42}) == "42"
    # No usable id: a digest of the whole record, the same for equal records.
    a, b = {"name": "x", "n": 1}, {"n": 1, "name": "x"}
    assert record_key(a) == record_key(b) != record_key({"name": "y", "n": 1})
    assert record_key({"id": True}) != record_key({"id": 1})
    assert record_key([1, 2]).startswith("#")


def test_unit_keys() -> None:
    assert Unit.of("acct").key == "acct" == unit_key("acct")
    assert Unit.of("acct", date="2026-11-20").key == "acct@2026-11-20"
    with_params = Unit.of("acct", params={"limit": 1000, "b": [1]})
    assert with_params.key.startswith("acct#")
    assert with_params.key == Unit.of("acct", params={"b": [1], "limit": 1000}).key
    assert with_params.key != Unit.of("acct", params={"limit": 100}).key
    day = Unit.of("acct", date="2026-11-20", params={"limit": 5})
    assert day.query({"limit": 1, "x": "y"}) == {"limit": 5, "x": "y", "date": "2026-11-20"}
    with pytest.raises(ValueError, match="account"):
        Unit.of("")


def test_record_keys_without_an_id_are_stable_across_versions() -> None:
    # Checkpoints keep these keys between runs (and releases): the digest is fixed.
    assert record_key({"name": "x", "n": 1}) == "#daaa1c4b35f9fb06c4d790058b325309"
