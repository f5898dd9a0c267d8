"""Slack: does the process idle while the sweep's caller waits? (sans-IO, exhaustive)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from truto_stream._slack import PERIOD_SECONDS, SPARE_SHARE, Slack


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


def test_no_time_to_spare_until_a_period_shows_it() -> None:
    clocks = Clocks()
    slack = clocks.slack()
    slack.tick(10.0)
    assert not slack.tick(10.05)  # idle, but the period is not over
    assert slack.tick(10.11)


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
    clocks.delayed = 0.1  # a busy machine: the process waited for a CPU all along
    assert not slack.tick(0.1)
    assert slack.tick(0.2)  # a quiet one: all of it idle


def test_the_verdict_follows_the_last_period() -> None:
    clocks = Clocks()
    slack = clocks.slack()
    slack.tick(0.0)
    assert slack.tick(0.1)  # idle all of it
    clocks.cpu = 0.19
    assert not slack.tick(0.2)  # 10% idle
    clocks.cpu = 0.25
    assert slack.tick(0.32)  # 50%


def test_the_cpu_clock_is_read_once_a_period() -> None:
    clocks = Clocks()
    slack = clocks.slack()
    for i in range(1_000):  # 1,000 waits in 0.5 s
        slack.tick(i * 0.0005)
    assert clocks.reads <= 6


@given(st.lists(st.tuples(st.floats(0.0, 0.05), st.floats(0.0, 1.0)), min_size=1, max_size=60))
def test_spare_is_the_idle_share_of_the_last_whole_period(
    ticks: list[tuple[float, float]],
) -> None:
    """(time to the tick, share of it the process was busy), ticks in a row."""
    clocks = Clocks()
    slack = clocks.slack()
    now = 0.0
    began: float | None = None
    cpu_then = 0.0
    expected = False
    for gap, busy in ticks:
        now += gap
        clocks.cpu += gap * busy
        if began is None:
            began, cpu_then = now, clocks.cpu
        elif now - began >= PERIOD_SECONDS:
            span = now - began
            expected = span - (clocks.cpu - cpu_then) >= SPARE_SHARE * max(span, 1e-3)
            began, cpu_then = now, clocks.cpu
        assert slack.tick(now) == expected
