"""What a list hands out: pages of records, and the modes that fetch them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Mode", "Page"]

#: ``"paged"`` follows ``next_cursor`` with ordinary requests; ``"stream"`` asks for
#: ``truto_response_format=stream`` and detects the body's framing.
Mode = Literal["paged", "stream"]


@dataclass(frozen=True)
class Page:
    """A batch of records from one response, with the page's metadata.

    A page parsed whole arrives as one ``Page``. A large page or a stream is handed on in
    several parts as it is parsed (``part`` counts them); only the last part has
    ``final=True`` and carries ``next_cursor``: once a caller has processed a final part,
    resuming from its ``next_cursor`` loses nothing. ``offset`` says where a part starts
    in its page, so a resume can skip exactly what was delivered.
    """

    records: list[Any]
    account_id: str | None
    cursor: str | None
    """The cursor sent for this page (None for the first page)."""
    index: int
    """The page's position in the walk, from 0."""
    part: int = 0
    final: bool = True
    offset: int = 0
    """The position of this part's first record in its page (or stream), from 0."""
    next_cursor: str | None = None
    result_count: int | None = None
    is_partial_response: bool | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Every other envelope member (``prev_cursor``, ``debug``...) on the final part."""
