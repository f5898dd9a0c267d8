"""Resuming a walk in the middle of a page (sans-IO).

A checkpoint records, for a unit whose page was cut short, how many of that page's
records were delivered (``skip``) and the id of the last of them (``last_id``). Resuming
re-requests the page and skips that many records, but only once the record at position
``skip - 1`` is seen to still have that id: an upstream whose order changed since (or
that now returns fewer records) is detected, and the page is then delivered again from
its first record (duplicates possible, never a loss).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

__all__ = ["ResumeCheck", "ResumeMismatch", "record_key"]


def record_key(record: Any) -> str:
    """What identifies a record: its ``id``, or a digest of the record when it has none.

    A record handed on as its JSON text (``bytes``) is decoded first: the same key.
    """
    if isinstance(record, bytes):
        try:
            record = orjson.loads(record)
        except orjson.JSONDecodeError:  # a number beyond a double: the text is the key
            return "#" + hashlib.blake2b(record, digest_size=16).hexdigest()
    if isinstance(record, dict):
        ident = record.get("id")
        if isinstance(ident, str):
            return ident
        if isinstance(ident, int) and not isinstance(ident, bool):
            return str(ident)
    text = orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str)
    return "#" + hashlib.blake2b(text, digest_size=16).hexdigest()


class ResumeMismatch(Exception):
    """The page no longer starts with the records the checkpoint says were delivered."""


class ResumeCheck:
    """Checks, batch by batch, the record at position ``skip - 1`` of a resumed page.

    Call :meth:`begin` before each attempt, :meth:`see` with every batch of the attempt
    in order (before skipping anything), and :meth:`end` when the body is over. ``see``
    and ``end`` raise :class:`ResumeMismatch` when the check fails; ``verified`` turns
    true once it passed.
    """

    __slots__ = ("_seen", "last_id", "skip", "verified")

    def __init__(self, skip: int, last_id: str) -> None:
        if skip < 1:
            raise ValueError("a resume check needs skip >= 1")
        self.skip = skip
        self.last_id = last_id
        self.verified = False
        self._seen = 0

    def begin(self) -> None:
        """An attempt starts again from the page's first record."""
        self._seen = 0

    def see(self, batch: list[Any]) -> None:
        """The next batch of the attempt."""
        if self.verified:
            return
        start = self._seen
        self._seen += len(batch)
        if self._seen < self.skip:
            return
        if record_key(batch[self.skip - 1 - start]) != self.last_id:
            raise ResumeMismatch
        self.verified = True

    def end(self) -> None:
        """The body ended: a page shorter than ``skip`` records is a mismatch too."""
        if not self.verified:
            raise ResumeMismatch
