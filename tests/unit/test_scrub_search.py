"""The scrubber's search: every occurrence of a few byte strings, two exact ways, one answer."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream._redact import Redactor
from truto_stream._scrub import _MAX_PERIOD, _PERIOD, _TIMED_BYTES, _TRIALS, MultiSearch


def every_occurrence(patterns: tuple[bytes, ...], buf: bytes) -> list[tuple[int, int]]:
    """The reference: each pattern looked for at each position."""
    return sorted(
        (i, i + len(pattern))
        for pattern in patterns
        for i in range(len(buf) - len(pattern) + 1)
        if buf.startswith(pattern, i)
    )


patterns = st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=6, unique=True)


@st.composite
def glued(draw: st.DrawFn) -> tuple[tuple[bytes, ...], bytes]:
    """Patterns, and a buffer of them (whole or less their first bytes) and other bytes:
    occurrences that overlap, nest and hide inside one another."""
    found = tuple(draw(patterns))
    pieces = draw(
        st.lists(
            st.tuples(st.sampled_from(found), st.integers(0, 11)) | st.binary(max_size=5),
            max_size=16,
        )
    )
    buf = b"".join(p if isinstance(p, bytes) else p[0][p[1] % len(p[0]) :] for p in pieces)
    return found, buf


@given(case=glued())
def test_both_ways_find_every_occurrence_even_overlapping(
    case: tuple[tuple[bytes, ...], bytes],
) -> None:
    found, buf = case
    search = MultiSearch(found)
    expected = every_occurrence(found, buf)
    assert sorted(search.by_finds(buf)) == expected
    assert sorted(search.by_automaton(buf)) == expected
    assert sorted(search(buf)) == expected


@pytest.mark.parametrize(
    ("found", "buf"),
    [
        ((b"abcdabcdab",), b"abcdabcdabcdab"),  # a pattern overlapping itself
        ((b"aaaa",), b"a" * 11),
        ((b"bcd", b"abcde"), b"xabcdex"),  # one inside another, longer one reported
        ((b"abc", b"cdefgh"), b"abcdefgh"),  # the second starts inside the first
    ],
)
def test_occurrences_hidden_by_a_reported_match_are_found(
    found: tuple[bytes, ...], buf: bytes
) -> None:
    assert sorted(MultiSearch(found).by_automaton(buf)) == every_occurrence(found, buf)


def test_whichever_way_it_picks_the_answer_is_the_same() -> None:
    # Long buffers are timed (both ways, in turns), short ones are not; over two periods
    # of trials and choices every answer is exact.
    found = (b"3f2c1a9e-5b7d", b"M2YyYzFhOWUtNWI3", b"needle-in-hay")
    hay = b'{"id": "3f2c1a9e-5b7d-0000", "x": "needle-in-hay", "y": "M2YyYzFhOWUtNWI3"}'
    long = hay * (_TIMED_BYTES // len(hay) + 1)
    search = MultiSearch(found)
    for i in range(2 * _PERIOD + 3):
        buf = long if i % 3 else hay
        assert sorted(search(buf)) == every_occurrence(found, buf)


def test_trials_grow_further_apart_while_the_verdict_holds() -> None:
    # A token among data with none of it: the automaton wins each round by far, so the
    # rounds of trials (each costing finds over whole buffers) space out, up to the cap.
    found = (b"truto-emulator-dev-token", b"dHJ1dG8tZW11bGF0b3ItZGV2LXRva2Vu")
    buf = b'{"id": "user_TSvVCNZK2LakCYbNuBWVryuR", "name": "Mei Larsen"},' * 200
    assert len(buf) >= _TIMED_BYTES
    search = MultiSearch(found)
    periods = set()
    for i in range(4 * _PERIOD + 3 * _TRIALS):
        spans = search(buf)
        if i % 97 == 0:
            assert spans == []
        periods.add(search._period)
    assert max(periods) > _PERIOD
    assert max(periods) <= _MAX_PERIOD


def test_no_patterns_no_occurrences() -> None:
    assert MultiSearch(()).__call__(b"anything") == []


def test_a_redactor_still_pickles_and_copies_with_its_search() -> None:
    # The automaton is a Rust object that does not pickle; the forms' holder did before.
    token = "truto-emulator-dev-token"
    body = b'{"a": "' + token.encode() + b'"}' * 600
    for clone in (pickle.loads(pickle.dumps(Redactor([token]))), copy.deepcopy(Redactor([token]))):
        forms = clone.body_forms
        expected = every_occurrence(forms.forms, body)
        assert sorted(forms.occurrences.by_automaton(body)) == expected
        assert sorted(forms.occurrences(body)) == expected
