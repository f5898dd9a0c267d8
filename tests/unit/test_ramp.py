"""The ramp of an adaptive sweep's walks (sans-IO): when it doubles them, when it goes
back, when it settles (issue #15)."""

from __future__ import annotations

import heapq
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream._ramp import (
    CPU_SAMPLE,
    GAIN_SHARE,
    HELD_PERIODS,
    IDLE_SHARE,
    PARTS_PER_WALK,
    PERIOD_SECONDS,
    RAMP_START,
    Ramp,
    cpu_wait,
)

P = PERIOD_SECONDS * 1.001  # a period's length, safely past the threshold


def period(ramp: Ramp, t: float, records: int, *, idle: float = 0.9, queued: bool = True) -> bool:
    """One period ending at ``t`` (a period after the last), ``idle`` of it spent idle,
    ``records`` delivered in the fewest parts that end one."""
    deliver(ramp, records)
    ramp.waited(idle * P, 0.0)
    assert ramp.due(t)
    return ramp.judge(t, queued=queued)


def deliver(ramp: Ramp, records: int) -> None:
    """``records`` in :data:`PARTS_PER_WALK` parts a walk (the first holds them all)."""
    ramp.delivered(records)
    for _ in range(PARTS_PER_WALK * ramp.walks - 1):
        ramp.delivered(0)


def warmed(start: int = RAMP_START, cap: int = 8) -> Ramp:
    ramp = Ramp(start, cap)
    assert not period(ramp, P, 0)  # the first period (connections, first bytes) is not judged
    return ramp


def test_start_and_cap() -> None:
    assert Ramp(2, 8).walks == 2
    assert Ramp(2, 1).walks == 1 and Ramp(2, 1).settled
    assert Ramp(8, 8).settled  # a given concurrency: nothing to measure
    assert Ramp(0, 8).walks == 1


def test_no_decision_before_a_period_is_over() -> None:
    ramp = Ramp(2, 8)
    deliver(ramp, 100)
    ramp.waited(P / 2, 0.0)
    assert not ramp.due(P / 2)
    assert ramp.due(P)


def test_no_decision_before_a_period_holds_enough_parts_a_walk() -> None:
    ramp = warmed()
    for _ in range(PARTS_PER_WALK * 2 - 1):
        ramp.delivered(100)
    assert not ramp.due(10 * P)  # however long: a rate over too few parts is noise
    ramp.delivered(100)
    assert ramp.due(10 * P)


def test_a_warm_up_period_needs_one_part_a_walk() -> None:
    # It only lets the walks' first answers arrive: no rate is judged over it.
    ramp = Ramp(2, 8)
    ramp.delivered(100)
    assert not ramp.due(P)
    ramp.delivered(100)
    assert ramp.due(P) and not ramp.judge(P, queued=True)
    ramp.delivered(100)
    ramp.delivered(100)
    assert not ramp.due(2 * P)  # a judged period: four parts a walk


def test_doubles_while_each_step_pays_off() -> None:
    ramp = warmed()
    assert period(ramp, 2 * P, 100)  # idle, units queued: 2 -> 4
    assert ramp.walks == 4
    assert not period(ramp, 3 * P, 0)  # the new walks get going: not judged
    assert period(ramp, 4 * P, 200)  # twice the rate: 4 -> 8
    assert (ramp.walks, ramp.most, ramp.settled) == (8, 8, False)
    assert not period(ramp, 5 * P, 0)
    assert not period(ramp, 6 * P, 400)  # paid off, at the cap: settled
    assert ramp.settled and ramp.walks == 8
    assert not ramp.due(10.0)


def test_a_step_that_does_not_pay_off_goes_back_and_settles() -> None:
    ramp = warmed()
    assert period(ramp, 2 * P, 100)
    period(ramp, 3 * P, 0)
    # 2 -> 4 walks must bring GAIN_SHARE of the doubling: just under it goes back.
    assert period(ramp, 4 * P, int(100 * (1 + GAIN_SHARE)) - 1)
    assert (ramp.walks, ramp.most, ramp.settled) == (2, 4, True)


def test_no_step_when_the_process_is_busy() -> None:
    ramp = warmed()
    assert not period(ramp, 2 * P, 100, idle=IDLE_SHARE * 0.9)
    assert ramp.walks == 2 and not ramp.settled  # still measuring


def test_no_step_when_no_unit_waits_for_a_walk() -> None:
    ramp = warmed()
    assert not period(ramp, 2 * P, 100, queued=False)
    assert ramp.walks == 2


def test_time_waiting_for_a_cpu_is_not_idle() -> None:
    ramp = warmed()
    ramp.delivered(100)
    ramp.waited(P, 0.35 * P)  # waited the whole period: 0.65 of it not on a CPU ...
    assert not ramp.judge(2 * P, queued=True, delayed=0.6 * P)  # ... but 0.6 waiting for one
    assert ramp.walks == 2
    ramp.delivered(100)
    ramp.waited(P, 0.35 * P)
    assert ramp.judge(3 * P, queued=True, delayed=0.0)
    assert ramp.walks == 4


def test_cpu_waits_count_in_proportion_to_the_callers_waits() -> None:
    ramp = warmed()
    ramp.delivered(100)
    ramp.waited(0.5 * P, 0.0)  # half the period waiting, all idle
    # 0.4 of the period waiting for a CPU, half of it while the caller waited: still idle.
    assert ramp.judge(2 * P, queued=True, delayed=0.4 * P)


def test_cpu_wait_counts_up() -> None:
    first = cpu_wait()
    assert 0.0 <= first <= cpu_wait()


@given(
    st.integers(1, 64),
    st.integers(1, 64),
    st.lists(st.tuples(st.integers(0, 5000), st.floats(0, 1), st.booleans()), max_size=30),
)
def test_walks_stay_within_one_and_the_cap(
    start: int, cap: int, periods: list[tuple[int, float, bool]]
) -> None:
    ramp = Ramp(start, cap)
    for i, (records, idle, queued) in enumerate(periods, start=1):
        ramp.delivered(records)
        ramp.waited(idle * P, 0.0)
        if ramp.due(i * P):
            ramp.judge(i * P, queued=queued)
        assert 1 <= ramp.walks <= cap
        assert ramp.walks <= ramp.most <= cap


def test_a_step_is_judged_against_the_rate_held_before_it_not_one_slow_period() -> None:
    # A busy process delivers 100 records a period and idles too little to step; then
    # one period is slow (the server was descheduled): the process idles, and the ramp
    # steps. Against that one period, the unchanged rate after the step would look like a
    # gain (a regression to the mean); against the periods at 2 walks, it is none.
    ramp = warmed()
    for i in range(2, 8):
        assert not period(ramp, i * P, 100, idle=IDLE_SHARE * 0.5)
    assert period(ramp, 8 * P, 20)  # slow and idle: 2 -> 4
    assert not period(ramp, 9 * P, 0)  # the new walks get going
    assert period(ramp, 10 * P, 100)  # the same rate as before the slow period: back
    assert (ramp.walks, ramp.most, ramp.settled) == (2, 4, True)


def test_the_rate_before_a_step_counts_from_the_last_change_of_walks() -> None:
    # The periods at 2 walks do not weigh on the judgement of the step from 4 to 8.
    ramp = warmed()
    for i in range(2, 6):
        assert not period(ramp, i * P, 10, idle=IDLE_SHARE * 0.5)
    assert period(ramp, 6 * P, 10)  # 2 -> 4
    assert not period(ramp, 7 * P, 0)
    assert not period(ramp, 8 * P, 200, idle=IDLE_SHARE * 0.5)  # paid off; busy: stays
    assert period(ramp, 9 * P, 200)  # 4 -> 8, judged against 200 a period
    assert not period(ramp, 10 * P, 0)
    assert period(ramp, 11 * P, int(200 * (1 + GAIN_SHARE)) - 1)  # just under: back
    assert (ramp.walks, ramp.settled) == (4, True)


def test_the_rate_before_a_step_is_the_recent_one() -> None:
    # A stream that slowed down long after the start (its vendor got slower): a step is
    # judged against the rate of the last periods, not the faster rate long before.
    ramp = warmed()
    t = 1
    for records in [1000] * 10 + [100] * HELD_PERIODS:
        t += 1
        assert not period(ramp, t * P, records, idle=IDLE_SHARE * 0.5)
    assert period(ramp, (t + 1) * P, 100)  # 2 -> 4
    assert not period(ramp, (t + 2) * P, 0)
    assert period(ramp, (t + 3) * P, 200)  # twice the recent rate: paid off, 4 -> 8
    assert ramp.walks == 8 and not ramp.settled


def _jittery_sweep(seed: int, low: float, high: float, cap: int = 8) -> Ramp:
    """A stream sweep against a vendor whose pages take ``low``..``high`` seconds each
    (uniform, ``seed``), with units to spare, an idle process and a caller who takes each
    part as it comes: walks added at a step start then, walks taken back stop."""
    rng = random.Random(seed)
    ramp = Ramp(RAMP_START, cap)
    arrivals = [(rng.uniform(low, high), walk) for walk in range(ramp.walks)]
    heapq.heapify(arrivals)
    last = 0.0
    while arrivals and not ramp.settled:
        now, walk = heapq.heappop(arrivals)
        if walk >= ramp.walks:
            continue
        ramp.waited(now - last, 0.0)
        last, walks = now, ramp.walks
        if ramp.due(now) and ramp.judge(now, queued=True):
            for added in range(walks, ramp.walks):
                heapq.heappush(arrivals, (now + rng.uniform(low, high), added))
        ramp.delivered(100)
        heapq.heappush(arrivals, (now + rng.uniform(low, high), walk))
    return ramp


@pytest.mark.parametrize(("low", "high", "share"), [(0.15, 0.45, 0.98), (0.05, 0.5, 0.95)])
def test_uneven_pages_do_not_settle_the_ramp_low(low: float, high: float, share: float) -> None:
    # Every added walk delivers as much as the others: each step pays off in truth. With
    # periods of 0.1 s alone (one or two pages a walk), 41% (56%) of these sweeps judged a
    # step a loss and settled at 2 or 4 walks; with four parts a walk, none (4%).
    sweeps = [_jittery_sweep(seed, low, high) for seed in range(250)]
    at_cap = sum(ramp.walks == 8 and ramp.settled for ramp in sweeps)
    assert at_cap >= share * len(sweeps)


def test_the_cpu_clock_is_read_on_a_sample_of_the_waits() -> None:
    """Reading the process's CPU clock is a system call (about 1.7 µs here), twice a wait:
    1.3% of a stream sweep whose ramp never settles (a busy process). The first wait of
    each period is timed, then one in :data:`CPU_SAMPLE`."""
    ramp = warmed()
    timed = [ramp.sample() for _ in range(4 * CPU_SAMPLE)]
    assert timed[0] and sum(timed) == 4
    for _ in range(5):
        ramp.waited(0.01, None if not ramp.sample() else 0.0)
    deliver(ramp, 10)
    assert ramp.due(2 * P)
    ramp.judge(2 * P, queued=True)
    assert ramp.sample()  # a new period: its first wait is timed


def test_waits_not_timed_count_as_idle_as_the_timed_ones() -> None:
    """Idle is estimated from the timed waits, in proportion of all the waits' time: the
    verdict is the one every wait timed would give."""

    def verdict(sampled: bool) -> bool:
        ramp = warmed()
        deliver(ramp, 100)
        for i in range(40):  # 0.9 of the period waiting, a third of each wait on a CPU
            wall = 0.9 * P / 40
            timed = not sampled or i % CPU_SAMPLE == 0
            ramp.waited(wall, wall / 3 if timed else None)
        return ramp.judge(2 * P, queued=True)

    assert verdict(sampled=False) and verdict(sampled=True)

    busy = warmed()
    deliver(busy, 100)
    busy.waited(0.9 * P / 2, 0.9 * P / 2)  # timed: all on a CPU
    busy.waited(0.9 * P / 2, None)  # not timed: counted alike, not as idle
    assert not busy.judge(2 * P, queued=True)
