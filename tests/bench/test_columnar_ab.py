"""benchmarks.columnar_ab: the columnar path against another library's, paired (smoke)."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("pyarrow")

from benchmarks import columnar_ab


def test_two_rounds_print_each_side_and_the_paired_ratios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # This interpreter stands for the other venv: the same library on both sides.
    small = ["--accounts", "2", "--users", "300", "--rounds", "2", "--dicts"]
    columnar_ab.main(["--other-python", sys.executable, *small])
    out = capsys.readouterr().out
    assert out.count("(k users/s, µs CPU/user)") == 2  # a line per round
    for side in ("this", "other", "floor", "this dicts"):
        assert f"\n{side}: " in out
    for pair in ("this / other", "this / floor", "other / floor", "this / this dicts"):
        assert f"{pair}: users/s paired " in out


def test_ratios_are_paired_round_by_round() -> None:
    a = [{"users_per_s": 2.0}, {"users_per_s": 9.0}, {"users_per_s": 3.0}]
    b = [{"users_per_s": 1.0}, {"users_per_s": 9.0}, {"users_per_s": 1.0}]
    assert columnar_ab.paired(a, b) == (2.0, 1.0, 3.0)


def test_cpu_ratios_are_the_others_cpu_over_this_ones() -> None:
    a = [{"cpu_us_per_user": 2.0}, {"cpu_us_per_user": 4.0}, {"cpu_us_per_user": 1.0}]
    b = [{"cpu_us_per_user": 3.0}, {"cpu_us_per_user": 4.0}, {"cpu_us_per_user": 3.0}]
    assert columnar_ab.paired(a, b, "cpu_us_per_user") == (1.5, 1.0, 3.0)
