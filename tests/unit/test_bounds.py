"""The per-response bounds (sans-IO): the transfer-rate floor and the decompression limits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream._bounds import (
    INFLATION_ALLOWANCE,
    CompressionLimits,
    Inflation,
    RateFloor,
    Timeouts,
)
from truto_stream.errors import ConfigurationError

# --- RateFloor --------------------------------------------------------------------------------


def test_a_trickle_misses_the_floor_within_one_window() -> None:
    floor = RateFloor(min_rate=100, window=60)  # 6,000 bytes per 60 s of waiting
    for _ in range(11):  # one byte every 5 s: 55 s, 11 bytes
        assert floor.record(5.0, 1)
    assert not floor.record(5.0, 1)  # the window ends with 11 bytes of 6,000


def test_a_700_mb_stream_at_1_mb_per_s_passes() -> None:
    floor = RateFloor(min_rate=100, window=60)
    chunk = 2**16
    wait = chunk / 2**20  # 1 MiB/s
    assert all(floor.record(wait, chunk) for _ in range(700 * 2**20 // chunk))


def test_silence_after_a_good_window_fails_at_the_end_of_the_next() -> None:
    floor = RateFloor(min_rate=10, window=1.0)
    assert floor.record(0.5, 100)  # window 1 met
    assert floor.allowance() == pytest.approx(1.5)  # the rest of it, then all of window 2
    assert floor.record(1.4, 0)
    assert not floor.record(0.2, 0)  # window 2 ended with nothing


def test_one_long_wait_that_spans_whole_windows_fails() -> None:
    floor = RateFloor(min_rate=10, window=1.0)
    assert floor.record(0.1, 50)
    assert not floor.record(5.0, 10_000)  # the bytes came after four empty windows


def test_buffered_reads_cost_no_time() -> None:
    floor = RateFloor(min_rate=1_000_000, window=0.1)
    assert all(floor.record(0.0, 1) for _ in range(100_000))


def test_the_floor_can_be_turned_off() -> None:
    floor = RateFloor(min_rate=0, window=1.0)
    assert not floor.enabled
    assert floor.allowance() == math.inf
    assert floor.record(1e9, 0)


@given(
    reads=st.lists(st.tuples(st.floats(0, 3), st.integers(0, 500)), max_size=60),
    rate=st.floats(1, 200),
    window=st.floats(0.1, 5),
)
def test_the_floor_fails_exactly_when_a_window_ends_short(
    reads: list[tuple[float, int]], rate: float, window: float
) -> None:
    # Reference: replay the waits on a time line of windows and check each closed one.
    floor = RateFloor(rate, window)
    need = rate * window
    waited, got, ok = 0.0, 0, True
    for wait, size in reads:
        assert floor.allowance() > 0
        waited += wait
        while waited >= window:
            if got < need:
                ok = False
                break
            waited -= window
            got = 0
        if not ok:
            assert not floor.record(wait, size)
            return
        got += size
        assert floor.record(wait, size)


def test_timeouts_refuse_nonsense() -> None:
    with pytest.raises(ConfigurationError):
        Timeouts(rate_window=0)
    with pytest.raises(ConfigurationError):
        Timeouts(min_rate=-1)
    with pytest.raises(ConfigurationError):
        Timeouts(read_idle=math.nan)
    assert Timeouts(request=None, min_rate=0).min_rate == 0


# --- Inflation ------------------------------------------------------------------------------


def test_small_bodies_may_decode_at_any_ratio() -> None:
    check = Inflation(CompressionLimits(max_ratio=10))
    assert check.excess(INFLATION_ALLOWANCE, 1) is None
    assert check.excess(INFLATION_ALLOWANCE + 1, 1) is not None


def test_the_ratio_is_decoded_over_compressed_so_far() -> None:
    check = Inflation(CompressionLimits(max_ratio=200))
    big = 50 * 2**20
    assert check.excess(big, big // 200) is None
    assert "max_ratio=200" in (check.excess(big, big // 201) or "")


def test_the_decoded_size_bound() -> None:
    check = Inflation(CompressionLimits(max_decoded_bytes=1000, max_ratio=None))
    assert check.excess(1000, 1) is None
    assert "max_decoded_bytes=1000" in (check.excess(1001, 1000) or "")
    assert Inflation(CompressionLimits(None, None)).excess(10**15, 1) is None


@pytest.mark.parametrize(
    "kwargs", [{"max_decoded_bytes": 0}, {"max_ratio": 0.5}, {"max_ratio": math.inf}]
)
def test_compression_limits_refuse_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        CompressionLimits(**kwargs)  # type: ignore[arg-type]


# --- found by mutation testing (mutmut over _bounds.py): each failed to fail before ---------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"connect": -1}, "connect must be a finite number >= 0, got -1"),
        ({"connect": None}, "connect must be a finite number >= 0, got None"),
        ({"read_idle": None}, "read_idle must be"),
        ({"request": -1}, "request must be a finite number >= 0, got -1"),
        ({"request": math.inf}, "request must be"),
        ({"rate_window": math.inf}, "rate_window must be > 0, got inf"),
        ({"rate_window": -2}, "rate_window must be > 0, got -2"),
    ],
)
def test_each_timeout_is_checked_and_named(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        Timeouts(**kwargs)


def test_the_smallest_sensible_timeouts_are_accepted() -> None:
    assert Timeouts(rate_window=0.5).rate_window == 0.5  # a window under a second
    assert Timeouts(request=None).request is None


def test_a_fresh_window_allows_only_what_is_left_of_it() -> None:
    floor = RateFloor(min_rate=100, window=60)
    assert floor.min_rate == 100  # named in TransferTooSlow's message
    assert floor.allowance() == 60  # nothing received yet: this window must bring it
    assert floor.record(20, 5_999)
    assert floor.allowance() == 40
    assert floor.record(0, 1)  # exactly min_rate * window: this window is met
    assert floor.allowance() == 40 + 60  # so the wait may run into the next one


def test_exactly_the_floor_per_window_passes() -> None:
    floor = RateFloor(min_rate=100, window=60)
    for _ in range(5):
        assert floor.record(0, 6_000)
        assert floor.record(60, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_decoded_bytes": 0}, "max_decoded_bytes must be an int >= 1, got 0"),
        ({"max_ratio": 0.5}, "max_ratio must be a finite number >= 1, got 0.5"),
    ],
)
def test_compression_limits_name_what_is_wrong(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CompressionLimits(**kwargs)  # type: ignore[arg-type]


def test_the_smallest_compression_limits_are_accepted() -> None:
    assert CompressionLimits(max_decoded_bytes=1, max_ratio=1).max_ratio == 1
    assert CompressionLimits(max_ratio=1.5).max_ratio == 1.5
