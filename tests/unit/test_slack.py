"""Slack: does the process idle while the sweep's caller waits? (sans-IO, exhaustive)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from truto_stream._slack import PERIOD_SECONDS, SPARE_PERIODS, SPARE_SHARE, Slack


class Clocks:
    """The process's CPU seconds and its waits for a CPU, set by the test."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.delayed = 0.0
        self.reads = 0

    def cpu_clock(self) -> float:
        self.reads += 1
        return self.cpu

    def delay_clock(self) -> float:
        return self.delayed

    def slack(self) -> Slack:
        return Slack(cpu_clock=self.cpu_clock, delay_clock=self.delay_clock)


def test_the_first_tick_starts_the_first_period() -> None:
    clocks = Clocks()
    slack = clocks.slack()
    clocks.cpu = 0.01  # the sweep's start: half a second, mostly waiting
    assert not slack.tick(0.5)
    clocks.cpu = 0.11  # then a busy period
    assert not slack.tick(0.61)


def test_no_time_to_spare_until_two_periods_show_it() -> None:
    clocks = Clocks()
    slack = clocks.slack()
    slack.tick(10.0)
    assert not slack.tick(10.05)  # idle, but the period is not over
    assert not slack.tick(10.11)  # one idle period
    assert slack.tick(10.22)  # two in a row


def test_a_busy_process_has_none() -> None:
    clocks = Clocks()
    slack = clocks.slack()
    now = 0.0
    for _ in range(50):
        now += 0.01
        clocks.cpu += 0.0095  # busy 95% of the time
        assert not slack.tick(now)


def test_time_waiting_for_a_cpu_is_not_idle() -> None:
    clocks = Clocks()
    slack = clocks.slack()
    slack.tick(0.0)
    assert not slack.tick(0.125)  # idle all of it
    clocks.delayed = 0.125  # a busy machine: the process waited for a CPU all along
    assert not slack.tick(0.25)
    assert not slack.tick(0.375)  # a quiet one: all of it idle
    assert slack.tick(0.5)


def test_the_verdict_follows_the_last_two_periods() -> None:
    clocks = Clocks()
    slack = clocks.slack()
    slack.tick(0.0)
    assert not slack.tick(0.125)  # idle all of it
    assert slack.tick(0.25)  # and again
    clocks.cpu = 0.1125
    assert not slack.tick(0.375)  # 10% idle: one busy period ends it
    clocks.cpu = 0.175
    assert not slack.tick(0.5)  # 50%
    clocks.cpu = 0.2375
    assert slack.tick(0.625)  # 50%


def test_the_cpu_clock_is_read_once_a_period() -> None:
    clocks = Clocks()
    slack = clocks.slack()
    for i in range(1_000):  # 1,000 waits in 0.5 s
        slack.tick(i * 0.0005)
    assert clocks.reads <= 6


@given(st.lists(st.tuples(st.floats(0.0, 0.05), st.floats(0.0, 1.0)), min_size=1, max_size=60))
def test_spare_is_the_idle_share_of_the_last_whole_periods(
    ticks: list[tuple[float, float]],
) -> None:
    """(time to the tick, share of it the process was busy), ticks in a row."""
    clocks = Clocks()
    slack = clocks.slack()
    now = 0.0
    began: float | None = None
    cpu_then = 0.0
    idled: list[bool] = []  # each whole period's verdict
    for gap, busy in ticks:
        now += gap
        clocks.cpu += gap * busy
        if began is None:
            began, cpu_then = now, clocks.cpu
        elif now - began >= PERIOD_SECONDS:
            span = now - began
            idled.append(span - (clocks.cpu - cpu_then) >= SPARE_SHARE * max(span, 1e-3))
            began, cpu_then = now, clocks.cpu
        expected = len(idled) >= SPARE_PERIODS and all(idled[-SPARE_PERIODS:])
        assert slack.tick(now) == expected


def test_one_idle_period_among_busy_ones_is_not_time_to_spare() -> None:
    # A loaded machine: the process gets a fifth of a core, and its clocks (CPU time,
    # waits for a CPU) skew by a few milliseconds, so a busy period can read 25% idle
    # now and then. One such period let 64 walks decode 1,500-2,200 records ahead of a
    # busy caller (tests/sweep/test_decode_ahead.py under load).
    clocks = Clocks()
    slack = clocks.slack()
    slack.tick(0.0)
    now = 0.0
    for period in range(8):
        now += 0.11
        clocks.delayed += 0.09  # waits for a CPU
        clocks.cpu += 0.012 if period == 3 else 0.02  # period 3 reads 8 ms idle of 20
        assert not slack.tick(now), period
