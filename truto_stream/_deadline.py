"""One timer for the header wait of every request in flight on a transport (asyncio).

``asyncio.timeout`` around each request costs a timer per request (a ``TimerHandle``
pushed on the loop's heap, whose comparisons are Python calls, then cancelled and left
there until the heap is cleaned), ~7 µs of CPU each. Every request of a transport has
the same bound, so their deadlines fall due in the order the requests start: a FIFO
queue, and one timer, set for the oldest deadline still live, serves them all. A
request adds itself to the queue and marks itself done; the timer, when it fires, drops
the finished requests at the head, cancels the ones past their deadline and sets itself
for the next live one. Each deadline is kept exactly, as ``asyncio.timeout`` keeps it.

A request tells its own expiry from any other cancellation as ``asyncio.timeout``
does: :meth:`Deadline.end` takes back the cancellation the deadline asked for, and
says whether it is the one that ended the wait.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Deadline", "Deadlines"]

_LIVE, _DONE, _EXPIRED = 0, 1, 2
#: The queue is searched for finished requests once it is this long (or twice the
#: requests waiting at the last search).
_MIN_COMPACT = 64


class Deadline:
    """One request's place in the queue."""

    __slots__ = ("_cancelling", "_state", "_task", "when")

    def __init__(self, when: float, task: asyncio.Task[object]) -> None:
        self.when = when
        self._task = task
        self._cancelling = task.cancelling()
        self._state = _LIVE

    def end(self) -> bool:
        """The wait is over (answered, failed or cancelled); True if the deadline ended it.

        As ``asyncio.timeout`` does: a deadline that expired takes its cancellation
        back, and counts as having ended the wait only if no other cancellation of the
        task (from outside) is pending; a ``CancelledError`` then means a timeout.
        """
        if self._state == _LIVE:
            self._state = _DONE
            return False
        if self._state == _EXPIRED:
            self._state = _DONE
            return self._task.uncancel() <= self._cancelling
        return False


class Deadlines:
    """The deadlines of one transport's requests, ``seconds`` after each one starts."""

    __slots__ = ("_compact_at", "_loop", "_queue", "_seconds", "_timer")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._queue: deque[Deadline] = deque()
        self._compact_at = _MIN_COMPACT
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> Deadline:
        """The deadline of the current task's request, which starts now."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a request deadline needs a task")
        if loop is not self._loop:  # first use, or a new event loop: nothing carries over
            self._loop, self._timer = loop, None
            self._queue.clear()
        deadline = Deadline(loop.time() + self._seconds, task)
        queue = self._queue
        while queue and queue[0]._state != _LIVE:  # the finished ones ahead: amortised O(1)
            queue.popleft()
        if len(queue) >= self._compact_at:
            # A request slow to answer holds the head: drop the finished ones behind it,
            # so the queue stays within twice the requests waiting (amortised O(1)).
            queue = self._queue = deque(d for d in queue if d._state == _LIVE)
            self._compact_at = max(_MIN_COMPACT, 2 * len(queue))
        queue.append(deadline)
        if self._timer is None:
            self._timer = loop.call_at(deadline.when, self._fire, deadline.when)
        return deadline

    def _fire(self, due: float) -> None:
        """The timer set for ``due``: cancel every live request due by then, set the next."""
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = max(due, loop.time())  # a timer may fire a clock tick early: it is due
        queue = self._queue
        while queue:
            head = queue[0]
            if head._state == _LIVE:
                if head.when > now:
                    self._timer = loop.call_at(head.when, self._fire, head.when)
                    return
                head._state = _EXPIRED
                head._task.cancel()
            queue.popleft()
