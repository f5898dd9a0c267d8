"""Slack: does the process idle while the sweep's caller waits? (sans-IO, exhaustive)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from truto_stream._slack import PERIOD_SECONDS, SPARE_SHARE, Slack


def _no_delay() -> float:
    return 0.0


def test_time_waiting_for_a_cpu_is_not_idle() -> None:
    delayed = [0.0]
    slack = Slack(delay_clock=lambda: delayed[0])
    slack.waited(0.0, 0.0, now=0.0)
    delayed[0] = 0.1  # a busy machine: the caller's wait was all a wait for a CPU
    slack.waited(0.1, 0.0, now=0.1)
    assert not slack.spare
    slack.waited(0.1, 0.0, now=0.2)  # a quiet one: all of it idle
    assert slack.spare


def test_no_time_to_spare_until_a_period_shows_it() -> None:
    slack = Slack(delay_clock=_no_delay)
    assert not slack.spare
    slack.waited(1.0, 0.0, now=10.0)  # the sweep's start: it only starts the period
    assert not slack.spare
    slack.waited(0.05, 0.0, now=10.05)  # half a period idle: not over yet
    assert not slack.spare
    slack.waited(0.0, 0.0, now=10.11)
    assert slack.spare


def test_the_sweeps_start_is_not_judged() -> None:
    # Connections and first answers: a long first wait, whose CPU waits (a busy machine)
    # can no longer be told apart.
    slack = Slack(delay_clock=_no_delay)
    slack.waited(0.5, 0.0, now=0.5)
    slack.waited(0.001, 0.001, now=0.61)  # then a busy period
    assert not slack.spare


def test_a_busy_process_has_none() -> None:
    slack = Slack(delay_clock=_no_delay)
    now = 0.0
    for _ in range(50):  # waits of 1 ms, the process busy through each
        now += 0.01
        slack.waited(0.001, 0.001, now)
    assert not slack.spare


def test_the_verdict_follows_the_last_period() -> None:
    slack = Slack(delay_clock=_no_delay)
    slack.waited(0.0, 0.0, now=0.0)
    slack.waited(0.1, 0.0, now=0.1)
    assert slack.spare  # idle all of it
    slack.waited(0.01, 0.0, now=0.21)  # 10% idle
    assert not slack.spare
    slack.waited(0.04, 0.0, now=0.32)  # 36%
    assert slack.spare


@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 0.05), st.floats(0.0, 1.0), st.floats(0.0, 0.05)
        ),  # (wall, share of it busy, time before the wait)
        min_size=1,
        max_size=60,
    )
)
def test_spare_is_the_idle_share_of_the_last_whole_period(
    waits: list[tuple[float, float, float]],
) -> None:
    slack = Slack(delay_clock=_no_delay)
    now = 0.0
    began: float | None = None
    idle = 0.0
    expected = False
    for wall, busy, gap in waits:
        now += gap + wall
        slack.waited(wall, wall * busy, now)
        if began is None:  # the first wait starts the first period
            began = now
            continue
        idle += wall - wall * busy
        if now - began >= PERIOD_SECONDS:
            expected = idle >= SPARE_SHARE * (now - began)
            began, idle = now, 0.0
        assert slack.spare == expected
