"""benchmarks.alternate: this library against another interpreter's, alternated (smoke)."""

from __future__ import annotations

import sys

import pytest

from benchmarks import alternate


def test_two_rounds_alternate_the_libraries_and_print_medians(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # This interpreter stands for the other venv: the same library on both sides.
    alternate.main(
        ["--other-python", sys.executable, "--accounts", "2", "--users", "150", "--rounds", "2"]
    )
    out = capsys.readouterr().out
    assert out.count("(k users/s, µs CPU/user) {") == 2  # a line per round
    for side in ("this", "other", "naive"):
        assert f"\n{side}: µs CPU/user " in out
    for pair in ("this / other", "this / naive", "other / naive"):
        assert f"{pair}: users/s paired " in out


def test_the_columnar_set_up_alternates_the_arrow_sides_with_the_floor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("pyarrow")
    small = ["--accounts", "2", "--users", "300", "--rounds", "2"]
    alternate.main(["--columnar", "--other-python", sys.executable, *small])
    out = capsys.readouterr().out
    assert out.count("(k users/s, µs CPU/user) {") == 2
    for side in ("this", "other", "floor"):
        assert f"\n{side}: µs CPU/user " in out
    assert "this dicts" not in out
    for pair in ("this / other", "this / floor", "other / floor"):
        assert f"{pair}: users/s paired " in out
