"""Whole page bodies as bytes: the unified envelope, the vendor's raw page, ``debug``."""

from __future__ import annotations

import orjson

from truto_stream.emulator.data import Account
from truto_stream.emulator.paging import Page
from truto_stream.emulator.params import UsersQuery
from truto_stream.emulator.state import EmulatorState

__all__ = ["debug_body", "envelope_meta", "raw_body", "unified_body"]


def _records(st: EmulatorState, acc: Account, q: UsersQuery, start: int, stop: int) -> bytes:
    if q.key_by is not None:
        return st.renderer.keyed_records(acc, start, stop, q.excluded, q.key_by, date=q.date)
    return st.renderer.cached_records(acc, start, stop, q.excluded, date=q.date)


def _partial(st: EmulatorState) -> bool | None:
    return False if st.config.is_partial_response else None


def envelope_meta(st: EmulatorState, next_cursor: str | None, count: int) -> bytes:
    """The envelope keys after ``result`` (``"next_cursor":...``), without braces."""
    return st.renderer.meta(next_cursor, count, _partial(st))


def unified_body(st: EmulatorState, acc: Account, q: UsersQuery, page: Page) -> bytes:
    """``{"result":[...],"next_cursor":...,"prev_cursor":null,"result_count":N}``."""
    records = _records(st, acc, q, page.start, page.stop)
    return st.renderer.envelope(
        records, page.next_cursor, page.count, keyed=q.key_by is not None, partial=_partial(st)
    )


def raw_body(st: EmulatorState, acc: Account, q: UsersQuery, page: Page) -> bytes:
    """The vendor's own page (``truto_response_format=raw``)."""
    last_id = st.dataset.user_id(acc.id, page.stop - 1) if page.stop > page.start else None
    vendor_next = acc.vendor.vendor_next(page.next_cursor, last_id)
    return st.renderer.raw_page(acc, page.start, page.stop, vendor_next, date=q.date)


def debug_body(
    st: EmulatorState, acc: Account, q: UsersQuery, page: Page, incoming: str | None
) -> bytes:
    """``{"result": <unified envelope>, "debug": {requestUrl, ..., resultCount}}``."""
    url, options = acc.vendor.request(q.limit, q.date, incoming, q.remote_query)
    vendor_headers = {"content-type": "application/json"}
    return (
        b'{"result":'
        + unified_body(st, acc, q, page)
        + b',"debug":{"requestUrl":'
        + orjson.dumps(url)
        + b',"requestOptions":'
        + orjson.dumps(options)
        + b',"data":'
        + raw_body(st, acc, q, page)
        + b',"responseHeaders":'
        + orjson.dumps(vendor_headers)
        + b',"nextCursor":'
        + orjson.dumps(page.next_cursor)
        + b',"isLooping":'
        + (b"true" if page.looping else b"false")
        + b',"isEmptyResult":'
        + (b"true" if page.count == 0 else b"false")
        + b',"resultCount":'
        + str(page.count).encode()
        + b"}}"
    )
