"""Page planning: where a request starts, which records a page holds, the cursor after it."""

from __future__ import annotations

from dataclasses import dataclass

from truto_stream.emulator.data import Account
from truto_stream.emulator.faults import FaultRule
from truto_stream.emulator.params import ParamError, UsersQuery
from truto_stream.emulator.state import EmulatorState

__all__ = ["Page", "Start", "plan_page", "start_of"]


@dataclass(frozen=True)
class Page:
    """One page of an account: records ``start .. stop-1`` and the cursor after it."""

    start: int
    stop: int
    next_cursor: str | None
    looping: bool = False

    @property
    def count(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Start:
    """Where a request starts: record offset, page index, and the cursor it came with."""

    offset: int = 0
    page: int = 0
    incoming: str | None = None


def _from_vendor_cursor(st: EmulatorState, acc: Account, q: UsersQuery, token: str) -> Start:
    style = acc.vendor.cursor_style
    if style == "after_id":
        index = st.dataset.index_of(acc.id, token)
        if index is None:
            raise ParamError(f"cursor {token!r} is not a user of this account")
        offset = index + 1
        return Start(offset, offset // (q.limit or 1), token)
    if style == "page_token":
        state = st.codec.decode(token, acc.id)
        return Start(state.offset, state.page, token)
    return Start(0, 0, token)


def start_of(st: EmulatorState, acc: Account, q: UsersQuery) -> Start:
    """The start of the requested page: from ``next_cursor`` (Truto's), else from the
    unified ``cursor`` parameter (the vendor's), else the first page.

    Raises :class:`ParamError` or :class:`~truto_stream.emulator.cursors.CursorError`.
    """
    if q.next_cursor is not None:
        state = st.codec.decode(q.next_cursor, acc.id)
        return Start(state.offset, state.page, q.next_cursor)
    if q.vendor_cursor is not None:
        return _from_vendor_cursor(st, acc, q, q.vendor_cursor)
    return Start()


def plan_page(
    st: EmulatorState,
    acc: Account,
    q: UsersQuery,
    offset: int,
    page: int,
    behaviour: FaultRule | None,
) -> Page:
    """The page at ``offset``; a ``loop`` or ``empty`` behaviour shapes it."""
    n = acc.user_count
    start = min(offset, n)
    if behaviour is not None and behaviour.kind == "empty":
        return Page(start, start, st.codec.encode(acc.id, start, page + 1))
    stop = n if q.limit is None else min(start + q.limit, n)
    if behaviour is not None and behaviour.kind == "loop":
        return Page(start, stop, st.codec.encode(acc.id, offset, page), looping=True)
    next_cursor = st.codec.encode(acc.id, stop, page + 1) if stop < n else None
    return Page(start, stop, next_cursor)
