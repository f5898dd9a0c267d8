"""The bound on the records a sweep holds between its walks and its caller.

A walk waits in :meth:`RecordGate.room` before it decodes a read (its bytes wait
undecoded, several times smaller than their records), then in :meth:`RecordGate.reserve`
for its decoded part's records; the caller releases records as it pulls past them.

While the caller waits for a part on a busy process, one decoded part is as far as walks
go ahead: the caller runs on their thread as soon as it is there, and more parts decoded
before it has run come no sooner but stay alive across the collector's young passes
(measured: a sweep of 1,000 accounts x 250 users at 100 a page held 4,000-6,000 records
so, and spent 30% of its CPU in the collector; one part ahead, 16%). A caller away on its
own I/O with a part in hand, or a process with time to spare (``ahead``: walks waiting on
the network, whose next request waits for their page's cursor), is decoded ahead of, up
to the capacity.

A release wakes one walk waiting for room, not all of them: with every walk woken on
each release, 64 walks waiting cost 64 task switches per part consumed, most of them to
look and wait again (measured: 1,000 accounts x 100 users, 100 per page, collector off,
14.4 -> 12.2 µs of CPU per user). A walk that finds room wakes the next in line, so all
proceed while there is room, one task switch each.

A walk about to start a unit (its first request) on a process with no time to spare
waits in :meth:`RecordGate.start` while more walks wait to decode than to start, up to
``start_batch`` of them: the requests then go out together. One request at a time, each
finding a server on the same machine asleep, wakes it for each, and the kernel runs it on
the sender's CPU then and there: the send blocked while the server answered (measured:
1,000 one-page accounts, 64 walks: 700-950 wake-ups of the emulator, a median send of
160 µs; in batches: 100-400 wake-ups, 6 µs). Those walks' requests wait behind decoding
the process has to do anyway (no fewer parts wait to be decoded than walks to start),
and they hold no connection meanwhile.

The waits are plain asyncio futures, not anyio Events: aiohttp runs on asyncio only, and
an anyio Event costs about ten Python calls to make (its backend looked up each time)
where a future costs one, on a path taken about once per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

import anyio

__all__ = ["RecordGate"]


class RecordGate:
    """Admits decoded parts into a buffer of ``capacity`` records, in arrival order."""

    __slots__ = (
        "_caller_waits",
        "_freed",
        "_reserving",
        "_starting",
        "_turn",
        "_waiting",
        "ahead",
        "buffered",
        "capacity",
        "peak",
        "start_batch",
    )

    def __init__(self, capacity: int, start_batch: int = 1) -> None:
        self.capacity = capacity
        #: How many walks about to start go together (1: each at once).
        self.start_batch = start_batch
        self.buffered = 0
        self.peak = 0
        self._caller_waits = False  # see set_caller_waiting()
        #: Walks may decode ahead of a waiting caller too (the process has time to spare:
        #: :mod:`truto_stream._slack`; set by the sweep).
        self.ahead = False
        self._turn = anyio.Lock()  # anyio locks are fair: reservations go in order
        # Reservations holding or waiting for the turn: a plain count, read on every
        # part (the lock's locked() is a call, ~7 a request).
        self._reserving = 0
        # Set on release: wakes the one reservation waiting. Made only when one waits, so
        # that a release with nobody waiting (the usual case) costs nothing.
        self._freed: asyncio.Future[None] | None = None
        # Walks waiting in room(), in order; a cancelled one may linger until popped.
        self._waiting: deque[asyncio.Future[None]] = deque()
        # Walks about to start a unit, waiting to go with the next batch.
        self._starting: list[asyncio.Future[None]] = []

    async def start(self) -> None:
        """A walk is about to start a unit: on a busy process, wait to go with a batch
        while more walks wait to decode (see the module's docstring); else go at once."""
        starting = len(self._starting) + 1
        if self.ahead or len(self._waiting) <= starting or starting >= self.start_batch:
            self.send_starts()
            return
        wake = asyncio.get_running_loop().create_future()
        self._starting.append(wake)
        try:
            await wake
        except BaseException:
            with contextlib.suppress(ValueError):  # already let go if it was woken
                self._starting.remove(wake)
            raise

    def send_starts(self) -> None:
        """Let every walk waiting in :meth:`start` go (also as a walk ends)."""
        starting, self._starting = self._starting, []
        for wake in starting:
            if not wake.done():
                wake.set_result(None)

    async def reserve(self, n: int) -> None:
        """Take ``n`` records of the buffer; wait (in turn) while they do not fit."""
        if not self._reserving and self._fits(n):
            # Nobody is waiting and there is room: no scheduling point, so a worker goes
            # straight on to its next request.
            self._take(n)
            return
        self._reserving += 1
        try:
            async with self._turn:
                while not self._fits(n):
                    if self._freed is None or self._freed.done():  # done: cancelled
                        self._freed = asyncio.get_running_loop().create_future()
                    await self._freed
                self._take(n)
        finally:
            self._reserving -= 1
            self._wake_next()  # the turn is free: a walk waiting for room may decode

    async def room(self) -> None:
        """Wait until a part may be decoded: the buffer has room and no part waits for it.

        A walk decodes a read only then, and hands the part on with no scheduling point
        in between, so at most one decoded part waits (in :meth:`reserve`) while the other
        walks wait here with their reads still bytes.
        """
        if not self._waiting and self._open():
            self._starts_may_go()  # nobody left to decode after this walk
            return
        loop = asyncio.get_running_loop()
        wake = loop.create_future()
        self._waiting.append(wake)
        while True:
            try:
                await wake
            except BaseException:
                self._leave(wake)
                raise
            if self._open():
                self._wake_next()  # room for more: the next in line looks too
                self._starts_may_go()  # one walk fewer waits to decode
                return
            # Another walk took the room first: wait again, first in line.
            wake = loop.create_future()
            self._waiting.appendleft(wake)

    def release(self, n: int) -> None:
        """The caller pulled past ``n`` records."""
        self.buffered -= n
        freed = self._freed
        if freed is not None:
            self._freed = None
            if not freed.done():
                freed.set_result(None)
        self._wake_next()

    def set_caller_waiting(self, waits: bool) -> None:
        """The caller starts (True) or stops (False) waiting for a part.

        While it waits, one decoded part is enough: see :meth:`_open`. Once it runs
        again it may go away on its own I/O with the part in hand, which is worth
        decoding ahead of: a walk waiting for room may look again.
        """
        self._caller_waits = waits
        if not waits:
            self._wake_next()

    def _leave(self, wake: asyncio.Future[None]) -> None:
        """A walk stops waiting (cancelled): a wake it was given goes to the next."""
        if wake.done() and not wake.cancelled():
            self._wake_next()
        else:
            # Its future is cancelled with it, and may have been popped already.
            with contextlib.suppress(ValueError):
                self._waiting.remove(wake)
        self._starts_may_go()  # one walk fewer waits to decode

    def _starts_may_go(self) -> None:
        """Let the walks waiting in :meth:`start` go once no more walks wait to decode
        than to start: their requests would no longer wait behind decoding."""
        if self._starting and len(self._waiting) <= len(self._starting):
            self.send_starts()

    def _wake_next(self) -> None:
        while self._waiting and self._open():
            wake = self._waiting.popleft()
            if not wake.done():  # not one cancelled with its walk, not yet left
                wake.set_result(None)
                return

    def _open(self) -> bool:
        if self._reserving or self.buffered >= self.capacity:
            return False
        # A caller waiting on the buffer runs as soon as a part is there, on this thread:
        # on a busy process, decoding more before it has run delivers nothing sooner,
        # and keeps the records alive across the collector's young passes. A caller
        # away (awaiting its own I/O with a part in hand), or a process with time to
        # spare, is worth decoding ahead of, up to the capacity.
        return self.ahead or not (self._caller_waits and self.buffered)

    def _fits(self, n: int) -> bool:
        # A part larger than the whole budget passes alone, so nothing deadlocks.
        return not self.buffered or self.buffered + n <= self.capacity

    def _take(self, n: int) -> None:
        self.buffered += n
        self.peak = max(self.peak, self.buffered)
