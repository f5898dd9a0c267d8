"""How many walks a sweep with an adaptive concurrency runs (sans-IO: the sweep feeds it).

A default stream sweep starts with :data:`RAMP_START` walks and doubles them, up to its
cap, only while more walks deliver records sooner. Time runs in periods of at least
:data:`PERIOD_SECONDS` and :data:`PARTS_PER_WALK` parts a walk, each ending at a wait of
the caller on an empty buffer: a rate over a few parts a walk is noise when pages come at
uneven intervals (a vendor's page taking 150 to 450 ms), and a noisy step judged a loss
settles the ramp low for good. A period asks for more walks when:

- the caller waited on an empty buffer, with units still queued for walks;
- the process sat idle for at least :data:`IDLE_SHARE` of the period while the caller
  waited (wall time minus CPU time): the walks were all waiting on the network. A busy
  process (parsing, or serving an emulator in the same loop) gains nothing from more
  walks, and more walks cost it parts held.

After a step (and a period for the new walks to get going: one part a walk suffices
there) the step is judged: the
records delivered per second must have risen by at least :data:`GAIN_SHARE` of what the
added walks would bring if each delivered as much as the others. The rate before the step
is the one held over the last :data:`HELD_PERIODS` judged periods at that walk count
before the one that steps (that one alone when there are none): the period that steps is
one the process idled in, often one the server was slow in, and against its rate an
unchanged rate after the step looks like a gain. Only the last few count: a stream that
slowed down is judged as it is now.
A server that is itself the bottleneck (CPU-bound, in its own process) leaves the process
idle too but goes no faster with more connections: the walks go back to the count before
the step, and the ramp settles there. A caller slower than the walks never finds the
buffer empty, so no walk is added.
"""

from __future__ import annotations

from collections import deque
from typing import Final

__all__ = [
    "CPU_SAMPLE",
    "GAIN_SHARE",
    "HELD_PERIODS",
    "IDLE_SHARE",
    "PARTS_PER_WALK",
    "PERIOD_SECONDS",
    "RAMP_START",
    "Ramp",
    "cpu_wait",
]

#: The walks an adaptive sweep starts with.
RAMP_START: Final = 2
#: The shortest period a decision is taken over (a stream's first bytes take a round trip).
PERIOD_SECONDS: Final = 0.1
#: The least parts delivered a walk in a judged period: periods of 0.1 s alone (one or
#: two pages a walk) judged a doubling of walks a loss in 41% of simulated sweeps
#: against pages of 150-450 ms and 56% at 50-500 ms; at 4, in none of 250 and in 4%
#: (tests/unit/test_ramp.py).
PARTS_PER_WALK: Final = 4
#: The least share of a period the process must have idled while the caller waited.
IDLE_SHARE: Final = 0.25
#: The least part of the linear gain (``added / walks`` of the rate) a step must bring.
GAIN_SHARE: Final = 0.25
#: The judged periods at a walk count whose rate a step is judged against (the latest).
HELD_PERIODS: Final = 4
#: One wait of the caller in this many has the CPU the process spent in it measured (the
#: first of each period among them): reading the CPU clock is a system call, twice a
#: wait, and a busy process's ramp never settles (1.3% of a stream sweep's CPU, all waits
#: timed). The others count as idle in the same proportion.
CPU_SAMPLE: Final = 8


class Ramp:
    """How many walks a sweep wants: ``walks``, from ``start`` up to ``cap``.

    ``most`` is the most it ever wanted; ``settled`` once the cap is reached or a step
    did not pay off (a settled ramp needs no more measurements).
    """

    __slots__ = (
        "_before",
        "_began",
        "_held",
        "_idle",
        "_parts",
        "_records",
        "_timed",
        "_waiting",
        "_waits",
        "_warming",
        "cap",
        "most",
        "settled",
        "walks",
    )

    def __init__(self, start: int, cap: int, now: float = 0.0) -> None:
        self.cap = cap
        self.walks = self.most = max(1, min(start, cap))
        self.settled = self.walks >= cap
        self._began = now
        self._records = self._parts = 0
        self._idle = 0.0  # the timed waits, less the CPU the process spent in them
        self._timed = 0.0  # the caller's waits whose CPU was measured
        self._waiting = 0.0  # the caller's waits
        self._waits = 0  # the waits of this period so far (see sample())
        # The walks and rate before the step being judged (None: no step to judge).
        self._before: tuple[int, float] | None = None
        # Records and seconds of the latest judged periods at the current walk count.
        self._held: deque[tuple[int, float]] = deque(maxlen=HELD_PERIODS)
        # The first period (the first requests' round trips) and the one after each step
        # (the new walks' round trips) are not judged.
        self._warming = True

    def begin(self, now: float) -> None:
        """The sweep starts: its first period begins ``now``."""
        self._began = now

    def delivered(self, records: int) -> None:
        """The caller pulled past a part of ``records`` records."""
        self._records += records
        self._parts += 1

    def sample(self) -> bool:
        """A wait of the caller begins: should the CPU the process spends in it be
        measured (see :data:`CPU_SAMPLE`)?"""
        self._waits += 1
        return self._waits % CPU_SAMPLE == 1

    def waited(self, wall: float, cpu: float | None) -> None:
        """The caller waited ``wall`` seconds on an empty buffer, the process spending
        ``cpu`` of them (None: not measured)."""
        self._waiting += wall
        if cpu is not None:
            self._idle += max(0.0, wall - cpu)
            self._timed += wall

    def due(self, now: float) -> bool:
        """Is a period over (and the ramp still measuring)?"""
        return (
            not self.settled
            and now - self._began >= PERIOD_SECONDS
            and self._parts >= (1 if self._warming else PARTS_PER_WALK) * self.walks
        )

    def judge(self, now: float, *, queued: bool, delayed: float = 0.0) -> bool:
        """End the period ``now``; ``queued``: units wait for a walk; ``delayed``: seconds
        of the period the process waited for a CPU (a busy machine: neither idle time nor
        time the walks had). True: ``walks`` changed."""
        whole = max(now - self._began, 1e-3)
        span = max(whole - delayed, 1e-3)
        # The waits not timed idled as the timed ones did; the CPU waits that fell in the
        # caller's waits, in proportion, were not idle.
        idle_waiting = self._idle * self._waiting / self._timed if self._timed else 0.0
        idle = (idle_waiting - delayed * min(1.0, self._waiting / whole)) / span
        records = self._records
        self._began, self._records, self._parts, self._waits = now, 0, 0, 0
        self._idle = self._timed = self._waiting = 0.0
        if self._warming:
            self._warming = False
            return False
        before, self._before = self._before, None
        if before is not None and not _paid_off(before, self.walks, records / span):
            self.walks = before[0]  # back to the walks before the step, for good
            self.settled = True
            return True
        if self.walks >= self.cap:
            self.settled = True
            return False
        held = self._held
        if not queued or idle < IDLE_SHARE:
            held.append((records, span))
            return False
        # This period was picked for its idleness, often a slow one: the rate before the
        # step is that of the periods before it (its own when there are none).
        rate = sum(r for r, _ in held) / sum(s for _, s in held) if held else records / span
        held.clear()  # the new walk count's periods start after its warm-up
        self._before = (self.walks, rate)
        self.walks = min(self.cap, 2 * self.walks)
        self.most = max(self.most, self.walks)
        self._warming = True
        return True


def _paid_off(before: tuple[int, float], walks: int, rate: float) -> bool:
    """Did going from ``before`` (walks, rate) to ``walks`` raise the rate enough?"""
    walks_before, rate_before = before
    return rate >= rate_before * (1 + GAIN_SHARE * (walks - walks_before) / walks_before)


def cpu_wait() -> float:
    """Seconds the calling thread has waited for a CPU so far (Linux; 0.0 elsewhere).

    On a busy machine a waiting caller's wall time minus CPU time is partly this: time
    the process was ready but not running, which more walks would not use.
    """
    try:
        with open("/proc/thread-self/schedstat", "rb") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
