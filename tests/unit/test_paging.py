"""The cursor walk: the cursors it requests, its end, loops and the page cap."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truto_stream._paging import CursorWalk
from truto_stream.errors import ConfigurationError, CursorLoop, MalformedBody, PageLimitExceeded


def test_first_page_sends_no_cursor_and_walk_follows_cursors() -> None:
    walk = CursorWalk()
    assert walk.request_cursor() is None
    assert walk.request_cursor() is None  # idempotent: a retry asks for the same page
    walk.advance("c1")
    assert (walk.request_cursor(), walk.pages, walk.last_sent_cursor) == ("c1", 1, None)
    walk.advance("c2")
    assert (walk.request_cursor(), walk.pages, walk.last_sent_cursor) == ("c2", 2, "c1")
    assert not walk.done
    walk.advance(None)
    assert walk.done
    assert (walk.pages, walk.last_sent_cursor) == (3, "c2")


@pytest.mark.parametrize("end", [None, ""])
def test_falsy_cursor_ends(end: str | None) -> None:
    walk = CursorWalk()
    walk.advance(end)
    assert walk.done
    with pytest.raises(RuntimeError, match="finished"):
        walk.request_cursor()
    with pytest.raises(RuntimeError, match="finished"):
        walk.advance("x")


def test_resume_from_start_cursor() -> None:
    walk = CursorWalk("c5")
    assert walk.request_cursor() == "c5"
    assert walk.last_sent_cursor == "c5"
    with pytest.raises(CursorLoop):
        walk.advance("c5")
    assert CursorWalk("").request_cursor() is None


def test_empty_pages_with_cursor_continue() -> None:
    # The Python SDK stopped after two empty pages and lost records; the walk does not
    # look at page contents at all.
    walk = CursorWalk()
    for cursor in ["c1", "c2", "c3"]:
        walk.advance(cursor)
    assert walk.request_cursor() == "c3"
    walk.advance(None)
    assert walk.pages == 4


def test_loop_on_same_and_earlier_cursor() -> None:
    walk = CursorWalk(account_id="ia1", path="/unified/x/y")
    walk.advance("secret-cursor-xyz")
    with pytest.raises(CursorLoop) as info:
        walk.advance("secret-cursor-xyz")
    assert "ia1" in str(info.value)
    assert "secret-cursor-xyz" not in repr(info.value)  # no cursor text in the message
    with pytest.raises(RuntimeError, match="failed"):
        walk.request_cursor()

    walk = CursorWalk()
    walk.advance("a")
    walk.advance("b")
    with pytest.raises(CursorLoop):
        walk.advance("a")


def test_page_limit() -> None:
    walk = CursorWalk(max_pages=2)
    walk.advance("a")
    with pytest.raises(PageLimitExceeded):
        walk.advance("b")
    walk = CursorWalk(max_pages=2)
    walk.advance("a")
    walk.advance(None)  # exactly max_pages pages and then the end: fine
    assert walk.done


def test_bad_arguments() -> None:
    with pytest.raises(ConfigurationError):
        CursorWalk(max_pages=0)
    walk = CursorWalk()
    with pytest.raises(MalformedBody):
        walk.advance(12)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=6), max_size=30),
    st.one_of(st.none(), st.text(min_size=1, max_size=6)),
    st.one_of(st.none(), st.integers(1, 40)),
)
def test_walk_requests_exact_sequence_and_detects_repetition(
    cursors: list[str], start: str | None, max_pages: int | None
) -> None:
    """Feed a random page sequence ending in None; compare with a reference model."""
    walk = CursorWalk(start, max_pages=max_pages)
    seen = {start} if start else set()
    expected_request = start
    pages = [*cursors, None]
    for i, nxt in enumerate(pages):
        assert walk.request_cursor() == expected_request
        if nxt is not None and nxt in seen:
            with pytest.raises(CursorLoop):
                walk.advance(nxt)
            return
        if nxt is not None and max_pages is not None and i + 1 >= max_pages:
            with pytest.raises(PageLimitExceeded):
                walk.advance(nxt)
            return
        walk.advance(nxt)
        assert walk.pages == i + 1
        assert walk.last_sent_cursor == expected_request
        if nxt is None:
            assert walk.done
            return
        seen.add(nxt)
        expected_request = nxt
    pytest.fail("the walk never ended")  # pragma: no cover


# --- found by mutation testing (mutmut over _paging.py): each failed to fail before ---------


@pytest.mark.parametrize(
    ("bad", "error"),
    [(12345, MalformedBody), ("a", CursorLoop), ("b", PageLimitExceeded)],
)
def test_a_failed_walk_names_its_account_and_path_and_stays_closed(
    bad: object, error: type[Exception]
) -> None:
    walk = CursorWalk(max_pages=2, account_id="acc-1", path="/unified/x/y")
    walk.advance("a")
    with pytest.raises(error) as info:
        walk.advance(bad)  # type: ignore[arg-type]
    assert (info.value.account_id, info.value.path) == ("acc-1", "/unified/x/y")  # type: ignore[attr-defined]
    for call in (walk.request_cursor, lambda: walk.advance("c")):
        with pytest.raises(RuntimeError, match="after the walk failed"):
            call()
    assert not walk.done


def test_the_walks_errors_say_what_happened() -> None:
    walk = CursorWalk()
    with pytest.raises(MalformedBody, match="next_cursor is a int, not a string"):
        walk.advance(7)  # type: ignore[arg-type]
    walk = CursorWalk()
    walk.advance("a")
    with pytest.raises(CursorLoop, match="page 2 returned a next_cursor already seen"):
        walk.advance("a")
    walk = CursorWalk(max_pages=1)
    with pytest.raises(PageLimitExceeded, match="stopped after max_pages=1 pages with more"):
        walk.advance("a")
    with pytest.raises(ConfigurationError, match="max_pages must be >= 1 or None, got 0"):
        CursorWalk(max_pages=0)
    with pytest.raises(ConfigurationError, match=r"^start_cursor must be a str or None$"):
        CursorWalk(start_cursor=5)  # type: ignore[arg-type]


def test_calls_after_the_end_name_the_method() -> None:
    walk = CursorWalk()
    assert walk.done is False
    walk.advance(None)
    with pytest.raises(RuntimeError, match=r"CursorWalk\.request_cursor\(\) called after"):
        walk.request_cursor()
    with pytest.raises(RuntimeError, match=r"CursorWalk\.advance\(\) called after"):
        walk.advance("a")


def test_any_str_is_a_cursor_lone_surrogates_included() -> None:
    # A caller's start cursor is any str; a JSON body cannot carry a lone surrogate.
    walk = CursorWalk(start_cursor="\ud800")
    walk.advance("\udfff")
    with pytest.raises(CursorLoop):
        walk.advance("\ud800")
