"""The cursor walk over a paged Truto list (sans-IO).

A :class:`CursorWalk` says which ``next_cursor`` to send for the next page and records
what each received page handed back. It fixes the official SDKs' paging bugs by
construction: it keeps its own state (the caller's parameters are never touched), empty
pages that still carry a cursor continue the walk, a falsy cursor (``None`` or ``""``)
ends it, and a cursor that comes back again raises :class:`~truto_stream.errors.CursorLoop`
instead of looping forever.

Usage::

    walk = CursorWalk(resume_from)
    while not walk.done:
        page = await fetch(cursor=walk.request_cursor())   # retries re-send the same cursor
        ...deliver page["result"]...
        walk.advance(page.get("next_cursor"))

Seen cursors are remembered as 16-byte BLAKE2b digests, so a walk of a million pages costs
a few tens of MB at most whatever the cursor length, and never keeps a cursor's text.
"""

from __future__ import annotations

import hashlib

from truto_stream.errors import ConfigurationError, CursorLoop, MalformedBody, PageLimitExceeded

__all__ = ["CursorWalk"]


def _digest(cursor: str) -> bytes:
    return hashlib.blake2b(cursor.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class CursorWalk:
    """State of one cursor walk: the next cursor to request, loop and page-cap checks.

    ``start_cursor`` resumes a walk (a falsy one starts from the first page).
    ``max_pages`` caps the pages received; ``account_id`` and ``path`` only label errors.
    """

    def __init__(
        self,
        start_cursor: str | None = None,
        *,
        max_pages: int | None = None,
        account_id: str | None = None,
        path: str | None = None,
    ) -> None:
        if max_pages is not None and max_pages < 1:
            raise ConfigurationError(f"max_pages must be >= 1 or None, got {max_pages}")
        if start_cursor is not None and not isinstance(start_cursor, str):
            raise ConfigurationError("start_cursor must be a str or None")
        self._cursor: str | None = start_cursor or None
        self._seen: set[bytes] = set()
        if self._cursor is not None:
            self._seen.add(_digest(self._cursor))
        self._max_pages = max_pages
        self._account_id = account_id
        self._path = path
        self._done = False
        self._failed = False
        self.pages = 0
        """Pages received (``advance`` calls that succeeded or raised a walk error)."""
        self.last_sent_cursor: str | None = self._cursor
        """The cursor sent for the most recently received page (``start_cursor`` before
        any): resuming from it re-fetches that page, so a checkpoint stays at-least-once."""

    @property
    def done(self) -> bool:
        """True once a page arrived with a falsy ``next_cursor``."""
        return self._done

    def request_cursor(self) -> str | None:
        """The ``next_cursor`` to send for the next page; ``None``: send no cursor at all.

        Idempotent: a retried request asks again and gets the same cursor.
        """
        self._check_open("request_cursor")
        return self._cursor

    def advance(self, next_cursor: str | None) -> None:
        """Record the ``next_cursor`` of the page just received for :meth:`request_cursor`.

        Raises :class:`CursorLoop` if it repeats any cursor of this walk and
        :class:`PageLimitExceeded` if ``max_pages`` pages are in and it is not the end;
        after either, the walk is closed.
        """
        self._check_open("advance")
        if next_cursor is not None and not isinstance(next_cursor, str):
            self._failed = True
            raise MalformedBody(
                f"next_cursor is a {type(next_cursor).__name__}, not a string",
                account_id=self._account_id,
                path=self._path,
            )
        self.pages += 1
        self.last_sent_cursor = self._cursor
        if not next_cursor:
            self._done = True
            return
        digest = _digest(next_cursor)
        if next_cursor == self._cursor or digest in self._seen:
            self._failed = True
            # The cursor text stays out of the message: it is request data, not for logs.
            raise CursorLoop(
                f"page {self.pages} returned a next_cursor already seen in this walk",
                account_id=self._account_id,
                path=self._path,
            )
        if self._max_pages is not None and self.pages >= self._max_pages:
            self._failed = True
            raise PageLimitExceeded(
                f"stopped after max_pages={self._max_pages} pages with more pages left",
                account_id=self._account_id,
                path=self._path,
            )
        self._seen.add(digest)
        self._cursor = next_cursor

    def _check_open(self, what: str) -> None:
        if self._done:
            raise RuntimeError(f"CursorWalk.{what}() called after the walk finished")
        if self._failed:
            raise RuntimeError(f"CursorWalk.{what}() called after the walk failed")
