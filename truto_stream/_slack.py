"""Whether the process has time to spare while a sweep's caller waits (sans-IO).

A caller waiting for its next part runs on its walks' thread as soon as a part is there.
When the process is busy (parsing, consuming), walks decoding more parts before it has run
deliver nothing sooner, and the records decoded early only live longer (and cost the
collector): the record gate then keeps walks one part ahead. When the process idles while
the caller waits (the walks wait on the network), a walk held back is a request not sent:
a paged walk learns its next cursor by decoding its page. Then walks decode ahead freely.

The sweep feeds each wait of the caller on an empty buffer (its wall time, and the CPU
time the process spent meanwhile); every :data:`PERIOD_SECONDS` the share of the period
the process sat idle in those waits decides. Time spent waiting for a CPU (a busy machine,
read from the kernel once a period: :func:`truto_stream._ramp.cpu_wait`) is not idle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from truto_stream._ramp import cpu_wait

__all__ = ["PERIOD_SECONDS", "SPARE_SHARE", "Slack"]

#: The period a verdict is taken over.
PERIOD_SECONDS: Final = 0.1
#: The least share of a period the process idled while the caller waited, for time to spare.
SPARE_SHARE: Final = 0.25


class Slack:
    """``spare``: did the process idle at least :data:`SPARE_SHARE` of the last period
    while the caller waited? (False until a period has shown it.) ``delay_clock``: the
    seconds the thread has waited for a CPU so far."""

    __slots__ = ("_began", "_delay_clock", "_delayed", "_idle", "_waiting", "spare")

    def __init__(self, delay_clock: Callable[[], float] = cpu_wait) -> None:
        self.spare = False
        self._delay_clock = delay_clock
        self._began: float | None = None
        self._delayed = 0.0  # the delay clock when the period began
        self._idle = 0.0  # the caller's waits, less the CPU the process spent in them
        self._waiting = 0.0  # the caller's waits

    def waited(self, wall: float, cpu: float, now: float) -> None:
        """The caller waited ``wall`` seconds, ending ``now``; the process spent ``cpu``
        of them."""
        if self._began is None:
            # The first period starts as the first wait ends: that wait is the sweep's
            # start (connections, first answers), and the CPU it waited for cannot be
            # told apart any more.
            self._began, self._delayed = now, self._delay_clock()
            return
        self._idle += max(0.0, wall - cpu)
        self._waiting += wall
        span = now - self._began
        if span >= PERIOD_SECONDS:
            delayed, self._delayed = self._delayed, self._delay_clock()
            delay = min(span, self._delayed - delayed)
            # The CPU waits that fell in the caller's waits, in proportion, were not idle.
            idle = self._idle - delay * min(1.0, self._waiting / span)
            self.spare = idle >= SPARE_SHARE * max(span - delay, 1e-3)
            self._began, self._idle, self._waiting = now, 0.0, 0.0
