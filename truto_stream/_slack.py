"""Whether the process has time to spare while a sweep's caller waits (sans-IO).

A caller waiting for its next part runs on its walks' thread as soon as a part is there.
When the process is busy (parsing, consuming), walks decoding more parts before it has run
deliver nothing sooner, and the records decoded early only live longer (and cost the
collector): the record gate then keeps walks one part ahead. When the process idles (the
walks wait on the network), a walk held back is a request not sent: a paged walk learns
its next cursor by decoding its page. Then walks decode ahead freely.

The sweep ticks it as each wait of the caller on an empty buffer ends; every
:data:`PERIOD_SECONDS` (read at a tick) the share of the period the process sat idle
decides: the period's wall time, less the CPU time the process spent (one read of the
CPU clock a period: it is a system call) and the time it waited for a CPU (a busy
machine: :func:`truto_stream._ramp.cpu_wait`), which is not idle either. The process
idles only while the caller waits on it, or is away on its own I/O (when the gate lets
walks decode ahead anyway).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from truto_stream._ramp import cpu_wait

__all__ = ["PERIOD_SECONDS", "SPARE_SHARE", "Slack"]

#: The period a verdict is taken over.
PERIOD_SECONDS: Final = 0.1
#: The least share of a period the process idled, for time to spare.
SPARE_SHARE: Final = 0.25


class Slack:
    """``spare``: did the process idle at least :data:`SPARE_SHARE` of the last period?
    (False until a period has shown it.) ``cpu_clock``: the process's CPU seconds;
    ``delay_clock``: the seconds the thread has waited for a CPU so far."""

    __slots__ = ("_began", "_cpu", "_cpu_clock", "_delay_clock", "_delayed", "spare")

    def __init__(
        self,
        cpu_clock: Callable[[], float] = time.process_time,
        delay_clock: Callable[[], float] = cpu_wait,
    ) -> None:
        self.spare = False
        self._cpu_clock = cpu_clock
        self._delay_clock = delay_clock
        self._began: float | None = None
        self._cpu = self._delayed = 0.0  # the clocks when the period began

    def tick(self, now: float) -> bool:
        """A wait of the caller ended ``now``; returns ``spare``.

        The first tick starts the first period: what came before is the sweep's start
        (connections, first answers), not a steady state.
        """
        began = self._began
        if began is not None and now - began < PERIOD_SECONDS:
            return self.spare
        cpu, delayed = self._cpu_clock(), self._delay_clock()
        if began is not None:
            span = now - began
            delay = min(span, delayed - self._delayed)
            idle = span - (cpu - self._cpu) - delay
            self.spare = idle >= SPARE_SHARE * max(span - delay, 1e-3)
        self._began, self._cpu, self._delayed = now, cpu, delayed
        return self.spare
