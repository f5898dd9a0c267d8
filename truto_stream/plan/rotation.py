"""The order a planning sweep offers units in: round-robin over the accounts found (sans-IO).

A dated sweep has several units per account; offering them account after account would
put one account's days side by side in the work queue, all behind its per-account limit.
:class:`Rotation` takes one unit from each account in turn instead (the first day of
every account in it, then the second ...), as :meth:`Plan.units` does over a whole plan;
an account found later joins at the end, at its first day. It holds at most ``window``
accounts: while it is full, planning waits for the workers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from truto_stream.unit import Unit

__all__ = ["ROTATION_PER_WORKER", "Rotation"]

#: A sweep's rotation window, in accounts per worker: enough that the units side by side
#: in the work queue belong to different accounts.
ROTATION_PER_WORKER = 2


class Rotation:
    """Accounts whose units are not all offered yet, one unit from each in turn."""

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window = window
        # Each account's next unit, and the rest of its units.
        self._accounts: deque[tuple[Unit, Iterator[Unit]]] = deque()

    def __len__(self) -> int:
        """Accounts with a unit still to offer."""
        return len(self._accounts)

    @property
    def full(self) -> bool:
        return len(self._accounts) >= self.window

    def add(self, units: Iterator[Unit]) -> None:
        """An account's units, in its own order (its days)."""
        self._push(units)

    def next(self) -> Unit | None:
        """The next unit to offer (None: no unit left)."""
        if not self._accounts:
            return None
        unit, rest = self._accounts.popleft()
        self._push(rest)
        return unit

    def _push(self, units: Iterator[Unit]) -> None:
        unit = next(units, None)
        if unit is not None:
            self._accounts.append((unit, units))
