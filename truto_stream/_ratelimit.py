"""Client-side rate budgets, so that a healthy run never sees a 429 (sans-IO core).

Truto limits each API token to 500 requests / 10 s and each integrated account to
50 requests / 10 s, with sliding windows, answering 429 with ``Retry-After``. The client
keeps its own model of both windows and schedules every request inside them.

:class:`SlidingWindow` stores the (sorted) times at which requests were scheduled. The
server's rule is: in any interval of length ``window`` there are at most ``limit``
requests. We enforce it over a *padded* span ``window + safety_s`` (``safety_s`` covers
latency jitter and clock skew: a request scheduled at ``t`` reaches the server somewhere in
``[t + latency, t + latency + safety_s]``, so requests that are a padded span apart on our
clock are at least a window apart on the server's).

Scheduling is not FIFO: a request for an idle account may be scheduled *before* one
already reserved in the future for a throttled account (otherwise one slow account would
block the whole token). So the reserved times are an arbitrary set, and "may a request go
at ``t``?" is answered exactly: ``t`` is forbidden iff some ``limit`` consecutive reserved
times ``T[i] .. T[i+limit-1]`` together with ``t`` fit in less than a span, i.e. iff ``t``
lies in the open interval ``(T[i+limit-1] - span, T[i] + span)``. Both ends of those
intervals grow with ``i``, so one left-to-right pass finds the earliest allowed time
(:meth:`SlidingWindow.next_free`), and it stops at the first interval starting after the
answer, skipping by bisection the intervals it has passed: about O(log n) per crossed
group of ``limit`` times, not O(stored times).

Times older than ``now - span`` can no longer matter and are dropped, so a window holds at
most ``limit`` past times plus the reservations still ahead (one per waiting acquirer).
:class:`RateBudget` combines the token window with one window per account, evicting idle
accounts, and :class:`RateLimiter` is the thin async wrapper: it reserves first and then
sleeps, with no ``await`` in between, so concurrent acquirers never over-commit.

The usual request finds room (Truto's limits are far from binding for most sweeps), so
that path costs a few operations: a booking that fits both windows at once (each holds
fewer times than its limit, neither is paused) is appended to each without a search, the
stale times are searched for only when the oldest one has gone stale (nothing stored is
stale at a window's clock, so a time later than a stored one never is), an answer moves
its request's time in place, and an account's window is copied from a checked model. Each
is exactly what the general path would do (``tests/unit/test_ratelimit_fast_paths.py``
checks them against the budget as it was before them).
"""

from __future__ import annotations

import bisect
import math
import re
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Final

import anyio
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["RateBudget", "RateLimiter", "SlidingWindow", "parse_ratelimit_limit"]

_POLICY = re.compile(r"\s*([0-9]+)\s*(?:;\s*w\s*=\s*([0-9]+(?:\.[0-9]+)?))?")


def parse_ratelimit_limit(value: str | None) -> tuple[int, float | None] | None:
    """Parse ``ratelimit-limit`` (``"50"``, ``"50;w=10"``): ``(limit, window or None)``."""
    if not value:
        return None
    m = _POLICY.match(value)
    if m is None:
        return None
    return int(m.group(1)), (float(m.group(2)) if m.group(2) else None)


#: The few ``ratelimit-limit`` values a server sends, parsed once each.
_policy = lru_cache(maxsize=64)(parse_ratelimit_limit)


def _without_counts(headers: Mapping[str, str]) -> bool:
    """True when ``headers`` (case-insensitive ones) hold no ``ratelimit-limit`` nor
    ``-remaining``: four lookups, not a pass over every header."""
    return (
        isinstance(headers, CIMultiDictProxy | CIMultiDict)
        and "ratelimit-remaining" not in headers
        and "x-ratelimit-remaining" not in headers
        and "ratelimit-limit" not in headers
        and "x-ratelimit-limit" not in headers
    )


#: The headers observe_headers reads, lower-case.
_RATE_HEADERS: Final = tuple(
    prefix + name
    for name in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
    for prefix in ("", "x-")
)


def _rate_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers that may concern rate limits, by lower-case name (the last of each)."""
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        # Case-insensitive already: six lookups, not a pass over every header.
        return {name: headers.getall(name)[-1] for name in _RATE_HEADERS if name in headers}
    return {k.lower(): v for k, v in headers.items() if k[:1] in "rRxX"}


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _add(counts: dict[float, int], t: float) -> None:
    counts[t] = counts.get(t, 0) + 1


def _take(counts: dict[float, int], t: float) -> bool:
    """Remove one ``t`` from a multiset; False when there was none."""
    n = counts.get(t, 0)
    if n == 0:
        return False
    if n == 1:
        del counts[t]
    else:
        counts[t] = n - 1
    return True


class SlidingWindow:
    """One sliding-window budget: at most ``limit`` requests per ``window + safety_s``.

    Times are monotonic seconds supplied by the caller; nothing here reads a clock.
    ``next_free`` and ``observe`` also advance the clock used to drop stale times.
    """

    # Slots: a sweep makes one per integrated account, and reads them on every request.
    __slots__ = (
        "_clock",
        "_in_flight",
        "_overdue",
        "_overdue_at",
        "_paused_until",
        "_times",
        "limit",
        "max_pause",
        "safety_s",
        "span",
        "window",
    )

    def __init__(
        self, limit: int, window: float, *, safety_s: float = 0.0, max_pause: float = math.inf
    ) -> None:
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be an int >= 1, got {limit!r}")
        if not (window > 0 and math.isfinite(window)):
            raise ValueError(f"window must be > 0, got {window!r}")
        if not (safety_s >= 0 and math.isfinite(safety_s)):
            raise ValueError(f"safety_s must be >= 0, got {safety_s!r}")
        if not max_pause >= 0:
            raise ValueError(f"max_pause must be >= 0, got {max_pause!r}")
        self.limit = limit
        self.window = float(window)
        self.safety_s = float(safety_s)
        self.span = self.window + self.safety_s
        self.max_pause = float(max_pause)
        self._times: list[float] = []  # sorted reserved (or phantom) request times
        # Requests sent and not yet answered, by the time they were booked at: the server
        # may count them at any moment until their answer arrives. While their time is in
        # ``_times`` it counts for them; once it is older than a span, ``_overdue`` does.
        self._in_flight: dict[float, int] = {}
        self._overdue_at: dict[float, int] = {}
        self._overdue = 0
        self._paused_until = -math.inf
        self._clock = -math.inf  # the latest "now" seen

    def sibling(self) -> SlidingWindow:
        """An empty window with this one's limit, window, margin and pause bound (its
        arguments checked already: a sweep makes one per integrated account)."""
        win = object.__new__(SlidingWindow)
        win.limit = self.limit
        win.window = self.window
        win.safety_s = self.safety_s
        win.span = self.span
        win.max_pause = self.max_pause
        win._times = []
        win._in_flight = {}
        win._overdue_at = {}
        win._overdue = 0
        win._paused_until = -math.inf
        win._clock = -math.inf
        return win

    @property
    def paused_until(self) -> float:
        """Nothing may be sent before this time (``-inf`` when not paused)."""
        return self._paused_until

    def __len__(self) -> int:
        return len(self._times)

    def next_free(self, now: float, *, not_before: float | None = None) -> float:
        """The earliest time ``>= now`` (and ``>= not_before``) at which a request fits.

        ``now`` must not go backwards between calls (times older than a span before it are
        dropped); ask about a later time with ``not_before``, never with a future ``now``.
        """
        self._advance(now)
        return self._first_free(now if not_before is None else max(now, not_before))

    def record(self, t: float) -> None:
        """Reserve a request at absolute time ``t`` (normally a value from ``next_free``)."""
        times = self._times
        if not times or t >= times[-1]:
            times.append(t)  # the usual case: the latest time yet
        else:
            bisect.insort(times, t)
        self._drop_stale()

    def release(self, t: float) -> None:
        """Cancel one reservation at ``t`` (its request was never sent); no-op if absent."""
        i = bisect.bisect_left(self._times, t)
        if i < len(self._times) and self._times[i] == t:
            del self._times[i]

    def sent(self, t: float) -> None:
        """The request booked at ``t`` went out; it counts as present until :meth:`answered`."""
        in_flight = self._in_flight
        in_flight[t] = in_flight.get(t, 0) + 1

    def answered(self, t: float, actual: float) -> None:
        """The answer to the request sent at ``t`` arrived at ``actual``.

        The server counted it by then, so it counts from ``actual`` (from ``t`` if that is
        later): that time is an upper bound on the server's, whatever its queues did.
        """
        if self._overdue and _take(self._overdue_at, t):
            self._overdue -= 1
            self.record(actual)
            return
        _take(self._in_flight, t)
        if actual > t:
            self._move(t, actual)

    def _move(self, t: float, later: float) -> None:
        """``release(t)`` then ``record(later)``, without the pruning when ``t`` is stored:
        nothing stored is stale at this clock, so neither is a later time."""
        times = self._times
        if times and times[-1] == t:  # the latest booked (an account's usual request)
            times[-1] = later
            return
        i = bisect.bisect_left(times, t)
        if i == len(times) or times[i] != t:
            self.record(later)  # t is not stored: release() does nothing
            return
        del times[i]
        if later >= times[-1]:
            times.append(later)
        else:
            bisect.insort(times, later)

    def pause_until(self, t: float) -> None:
        """Send nothing before ``t`` (after a 429); an earlier pause never shortens one."""
        if t > self._paused_until:
            self._paused_until = t

    def used(self, now: float) -> int:
        """Requests counted at ``now``: in the padded span ending there, or still unanswered."""
        lo = bisect.bisect_right(self._times, now - self.span)
        hi = bisect.bisect_right(self._times, now)
        return hi - lo + self._overdue

    def observe(self, remaining: int | None, reset_s: float | None, now: float) -> None:
        """Adapt to the server's count, which includes other clients sharing the budget.

        When the server has fewer requests left than we think, the difference is added as
        phantom requests that leave the window ``reset_s`` seconds from now. When it has
        none left while we still think we have some, nothing is sent before
        ``now + reset_s`` (plus the safety margin). When both agree the window is full,
        our own times already say when the next slot opens, so no extra pause is added.
        """
        self._advance(now)
        if remaining is None:
            return
        reset = self.window if reset_s is None else min(max(reset_s, 0.0), 10 * self.window)
        reset = min(reset, self.max_pause)
        ours = self.limit - self.used(now)
        if remaining >= ours:
            return
        if remaining <= 0:
            self.pause_until(now + reset + self.safety_s)
            return
        # A time at p stops counting for sends after p + span: place the phantoms so they
        # expire at now + reset + safety_s, but never in the future (they are not sends).
        phantom = min(now, now + reset - self.window)
        for _ in range(ours - remaining):
            bisect.insort(self._times, phantom)

    def idle(self, now: float) -> bool:
        """True when this window holds nothing that could delay a request at ``now``."""
        return (
            (not self._times or self._times[-1] <= now - self.span)
            and self._paused_until <= now
            and not self._in_flight
            and not self._overdue
        )

    def _advance(self, now: float) -> None:
        if now > self._clock:
            self._clock = now
        self._drop_stale()

    def _fits_now(self, now: float) -> bool:
        """After :meth:`_advance`: ``_first_free(now)`` is ``now`` by its fast path."""
        return self._paused_until <= now and len(self._times) < self.limit - self._overdue

    def _append_now(self, now: float) -> None:
        """After :meth:`_advance`: :meth:`record` of ``now``, without the pruning when
        ``now`` is the latest time: nothing stored is stale then, and neither is a time
        at the clock or after the latest stored."""
        times = self._times
        if (times and now >= times[-1]) or (not times and now >= self._clock):
            times.append(now)
        else:
            self.record(now)

    def _drop_stale(self) -> None:
        """Prune, but only when the oldest time can go (the two tests are :meth:`_prune`'s
        first step, exactly): most requests find nothing to drop."""
        times = self._times
        if times:
            oldest, clock, span = times[0], self._clock, self.span
            if oldest <= clock - span or oldest + span <= clock:
                self._prune()

    def _prune(self) -> None:
        """Drop the times that no longer constrain a send at the clock or later."""
        # A time T constrains a send at t >= now only if t - T < span. (The second test
        # agrees with _first_free's T + span to the last bit: an unanswered request must
        # never be neither in the window nor overdue.)
        times, clock, span = self._times, self._clock, self.span
        cut = bisect.bisect_right(times, clock - span)
        while cut < len(times) and times[cut] + span <= clock:
            cut += 1
        if cut:
            if self._in_flight:
                for t in self._times[:cut]:
                    if _take(self._in_flight, t):  # unanswered: still present
                        _add(self._overdue_at, t)
                        self._overdue += 1
            del self._times[:cut]

    def _first_free(self, t: float, *, upto: float = math.inf) -> float:
        """Earliest allowed time >= t; does not drop anything (t may be in the future).

        Only times ``<= upto`` count: a waiter that wakes counts what was sent and what is
        due by now, not the slots booked after its own (see :meth:`RateBudget.rebook`).
        """
        paused = self._paused_until
        if paused > t:
            t = paused
        times, span = self._times, self.span
        limit = self.limit - self._overdue
        if len(times) < limit:
            # The fast path: fewer times than the limit cannot fill any interval.
            return t
        if limit < 1:
            # Unanswered requests fill the window: no time is known to be free until an
            # answer arrives. Look again a window from now (idempotent, so the budget's
            # alternation between windows still ends).
            return max(t, self._clock + self.window)
        # Intervals (times[i+limit-1] - span, times[i] + span) are forbidden; those ending
        # at or before t cannot matter, so start at the first i with times[i] + span > t.
        i = bisect.bisect_right(times, t - span)
        last = len(times) - limit
        while i <= last:
            newest = times[i + limit - 1]
            if newest - span >= t or newest > upto:
                # Left ends only grow: no later interval contains t. (And every later
                # group holds a time after ``upto``, which does not count.)
                break
            end = times[i] + span
            if t < end:
                t = end
                # Skip every interval that now ends at or before t (a whole block of
                # equal times at once), keeping a queue of n reservations O(n/limit).
                i = bisect.bisect_right(times, t - span, i + 1)
            else:
                i += 1
        return t


class RateBudget:
    """The token window plus one window per integrated account (sans-IO).

    Each window is padded by ``safety_fraction * window + safety_s`` (the client's
    :class:`~truto_stream.RateLimits` passes its own, smaller pad). No pause, whatever a
    server asks for (``Retry-After``, ``ratelimit-reset``), lasts longer than
    ``max_pause`` seconds: the client passes its ``RetryPolicy.max_retry_after``, so
    the retry sleep and the budget's pause have one bound.

    The life of a request: :meth:`reserve` a slot (and :meth:`rebook` it on waking if it
    was in the future), :meth:`sent` once granted, :meth:`settle` when its answer arrives.
    """

    def __init__(
        self,
        *,
        token_limit: int = 500,
        account_limit: int = 50,
        window: float = 10.0,
        safety_fraction: float = 0.02,
        safety_s: float = 0.02,
        max_pause: float = math.inf,
    ) -> None:
        if safety_fraction < 0 or safety_s < 0:
            raise ValueError("safety margins must be >= 0")
        if not max_pause >= 0:
            raise ValueError(f"max_pause must be >= 0, got {max_pause!r}")
        self.window = float(window)
        self.account_limit = account_limit
        self.pad = safety_fraction * window + safety_s
        self.max_pause = float(max_pause)
        self.token = SlidingWindow(token_limit, window, safety_s=self.pad, max_pause=max_pause)
        # What each account's window starts as, made (and its limits checked) on first use.
        self._account_model: SlidingWindow | None = None
        self._accounts: dict[str, SlidingWindow] = {}
        self._last_eviction = -math.inf
        self.token_bound = False
        """Whether the last slot booked was put later by the per-token window."""

    def account(self, account_id: str) -> SlidingWindow:
        """The window of ``account_id`` (created on first use)."""
        win = self._accounts.get(account_id)
        if win is None:
            model = self._account_model
            if model is None:
                model = self._account_model = SlidingWindow(
                    self.account_limit, self.window, safety_s=self.pad, max_pause=self.max_pause
                )
            win = self._accounts[account_id] = model.sibling()
        return win

    @property
    def accounts_tracked(self) -> int:
        """How many per-account windows are held (bounded by :meth:`forget_idle`)."""
        return len(self._accounts)

    def reserve(self, account_id: str | None, now: float) -> float:
        """Pick and record the earliest time ``>= now`` free in both windows; return it.

        Since the free times of a window form a union of intervals (see the module
        docstring), alternate between the two windows until both accept the same time.
        """
        return self._book(account_id, now, math.inf)

    def rebook(self, account_id: str | None, slot: float, now: float) -> float:
        """Give back ``slot`` (its waiter has woken) and book the earliest time ``>= now``.

        Normally that is ``now``; later when a 429 paused the budget, or requests booked
        before this one reached the server late (:meth:`settle`). Only what was sent or
        falls due by ``now`` counts, not the slots booked after this one: were those to
        count, a waiter would always go behind them, and with more waiters than the limit
        every waiter that woke went to the back again, for ever.
        """
        self.release(account_id, slot)
        return self._book(account_id, now, now)

    def _book(self, account_id: str | None, now: float, upto: float) -> float:
        if now - self._last_eviction > self.window:
            self.forget_idle(now)
        token = self.token
        token._advance(now)
        acc = None
        if account_id is not None:
            acc = self._accounts.get(account_id)
            if acc is None:
                acc = self.account(account_id)
            acc._advance(now)
        if token._fits_now(now) and (acc is None or acc._fits_now(now)):
            # The usual case, far from both limits: what the search below finds at once.
            if acc is not None:
                acc._append_now(now)
            token._append_now(now)
            self.token_bound = False
            return now
        t = token_first = token._first_free(now, upto=upto)
        if acc is not None:
            while True:
                t_acc = acc._first_free(t, upto=upto)
                if t_acc == t:
                    break
                t = token._first_free(t_acc, upto=upto)
                if t == t_acc:
                    break
            acc.record(t)
        token.record(t)
        # Read by progress displays: was it the token's window that put this slot later?
        self.token_bound = t > now and t == token_first
        return t

    def release(self, account_id: str | None, t: float) -> None:
        """Undo a :meth:`reserve` whose request will not be sent (cancelled while waiting)."""
        self.token.release(t)
        if account_id is not None and account_id in self._accounts:
            self._accounts[account_id].release(t)

    def sent(self, account_id: str | None, slot: float) -> None:
        """The request booked at ``slot`` went out: until settled it counts as present.

        The server counts a request when it gets to it, which a busy server may do much
        later; so an unanswered request keeps counting even once its slot is a window old.
        """
        # SlidingWindow.sent on both, inlined: once per request.
        in_flight = self.token._in_flight
        in_flight[slot] = in_flight.get(slot, 0) + 1
        if account_id is not None:
            acc = self._accounts.get(account_id)
            in_flight = (acc if acc is not None else self.account(account_id))._in_flight
            in_flight[slot] = in_flight.get(slot, 0) + 1

    def settle(
        self,
        account_id: str | None,
        reserved: float,
        actual: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The answer to the request booked at ``reserved`` arrived at ``actual``.

        The server counted the request before it answered, so the answer's arrival bounds
        the server's count time from above: the request counts from ``actual`` (or from
        ``reserved``, if later), which keeps the windows conservative whatever the
        server's queues did. Call it when the request failed too (with the time it did).
        ``headers``: the answer's, fed to :meth:`observe_headers` at ``actual``.
        """
        self.token.answered(reserved, actual)
        if account_id is not None:
            self.account(account_id).answered(reserved, actual)
        if headers is not None:
            self.observe_headers(account_id, headers, actual)

    def blocked_until(self, account_id: str | None) -> float:
        """The later of the token's and the account's pauses (``-inf`` if none)."""
        t = self.token.paused_until
        if account_id is not None and account_id in self._accounts:
            t = max(t, self._accounts[account_id].paused_until)
        return t

    def observe_headers(
        self, account_id: str | None, headers: Mapping[str, str], now: float
    ) -> None:
        """Feed a response's ``ratelimit-limit/-remaining/-reset`` headers (429s too).

        The headers go to the account's window (Truto normalizes the per-account / vendor
        budget into them), or to the token's when there is no account or when
        ``ratelimit-limit`` matches the token limit and not the account limit. A
        ``ratelimit-limit`` lower than ours, for the same window length, lowers our limit.
        """
        if _without_counts(headers):
            # Neither a limit nor a count (a server that sends none): only the clock
            # moves, as observe() would move it with nothing to read.
            target = self.token if account_id is None else self.account(account_id)
            target._advance(now)
            return
        lower = _rate_headers(headers)

        def get(name: str) -> str | None:
            return lower.get(name, lower.get("x-" + name))

        policy = _policy(get("ratelimit-limit"))
        remaining_f = _number(get("ratelimit-remaining"))
        reset = _number(get("ratelimit-reset"))
        target = self.token
        if account_id is not None:
            target = self.account(account_id)
            if policy is not None and policy[0] == self.token.limit != target.limit:
                target = self.token
        if policy is not None:
            limit, window = policy
            if window is not None and window == target.window and 1 <= limit < target.limit:
                target.limit = limit
        remaining = None if remaining_f is None else int(remaining_f)
        target.observe(remaining, reset, now)

    def on_rate_limited(
        self,
        account_id: str | None,
        retry_after: float | None,
        now: float,
        *,
        remote: bool,
    ) -> float:
        """Pause after a 429 until ``now + retry_after`` (default: a padded window).

        Truto's own 429 pauses the account's window (the token's when there is no
        account); a vendor's (``remote``) 429 pauses that account only, never the token.
        The pause never exceeds ``max_pause``; the pause applied is returned.
        """
        delay = self.window + self.pad if retry_after is None else max(0.0, retry_after)
        delay = min(delay, self.max_pause)
        if account_id is not None:
            self.account(account_id).pause_until(now + delay)
        elif not remote:
            self.token.pause_until(now + delay)
        return delay

    def forget_idle(self, now: float) -> None:
        """Drop per-account windows with nothing in their padded span and no pause."""
        self._last_eviction = now
        idle = [key for key, win in self._accounts.items() if win.idle(now)]
        for key in idle:
            del self._accounts[key]


class RateLimiter:
    """Async wrapper over a :class:`RateBudget`: one per client, shared by all its tasks."""

    def __init__(self, budget: RateBudget, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self._clock = clock
        self._waiting = [0, 0]  # acquirers asleep: [held by an account's window, by the token's]

    @property
    def waiting(self) -> tuple[int, int]:
        """Acquirers waiting now: ``(on the per-token window, on per-account windows)``."""
        return self._waiting[1], self._waiting[0]

    async def acquire(self, account_id: str | None) -> float:
        """Wait until one request for ``account_id`` may be sent, and count it.

        Returns the slot time; the request then counts as sent: pass the slot to
        :meth:`RateBudget.settle` once the answer arrives (or the request fails). A slot
        granted for later is checked again on waking: slots settled meanwhile (requests
        that reached the server late) or a 429 may have moved it.
        """
        now = self._clock()
        # reserve() and the sleep have no await between them: the slot is ours.
        t = self.budget.reserve(account_id, now)
        while t > now:
            cause = int(self.budget.token_bound)
            self._waiting[cause] += 1
            try:
                await anyio.sleep(t - now)
            except BaseException:
                self.budget.release(account_id, t)  # cancelled: the request is never sent
                raise
            finally:
                self._waiting[cause] -= 1
            now = self._clock()
            # Normally the same slot (now); later if a 429 paused the budget or slots
            # booked before this one were settled later meanwhile.
            t = self.budget.rebook(account_id, t, now)
        self.budget.sent(account_id, t)
        return t
