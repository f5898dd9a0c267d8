"""Which page parts a consumer of re-cut batches has wholly received (sans-IO).

Arrow batches are cut at a fixed row count, not at page-part boundaries: a part may end
up in two batches, and a batch holds parts of many units. A part counts as delivered
(its unit's progress may be committed) only once every one of its records was in a batch
handed out. :class:`Coverage` keeps the parts in the order their records were added, and
hands back, for a number of rows emitted, the latest progress of each unit whose parts
are now out: a part wholly out gives its progress, a part cut by the last batch gives the
progress of its head (``prefix(k)``: its first ``k`` records delivered), so a consumer
that commits after every batch gets every record exactly once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Coverage"]

P = TypeVar("P")


class Coverage(Generic[P]):
    """Parts added (``added``) against rows emitted (``emitted``), in one order."""

    def __init__(self) -> None:
        self._parts: deque[tuple[int, int, str, P, Callable[[int], P] | None]] = deque()
        self._added = 0
        self._emitted = 0

    @property
    def pending(self) -> int:
        """Parts added whose records are not all emitted yet."""
        return len(self._parts)

    def added(
        self, rows: int, key: str, progress: P, prefix: Callable[[int], P] | None = None
    ) -> None:
        """A part of ``rows`` records of unit ``key`` was added; ``progress`` is its unit's
        progress once the part is delivered, ``prefix(k)`` once its first ``k`` are."""
        start = self._added
        self._added += rows
        self._parts.append((start, self._added, key, progress, prefix))

    def emitted(self, rows: int) -> dict[str, P]:
        """``rows`` more records were handed out: the progress now covered, per unit."""
        self._emitted += rows
        if self._emitted > self._added:
            raise ValueError("more rows emitted than added")
        covered: dict[str, P] = {}
        parts = self._parts
        while parts and parts[0][1] <= self._emitted:
            _, _, key, progress, _ = parts.popleft()
            covered[key] = progress  # a unit's later part supersedes its earlier one
        if parts:
            start, _, key, _, prefix = parts[0]
            if prefix is not None and start < self._emitted:
                covered[key] = prefix(self._emitted - start)  # the head of a cut part
        return covered
