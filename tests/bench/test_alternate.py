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
    assert out.count("µs CPU/user {") == 2  # a line per round
    for side in ("this", "other", "naive"):
        assert f"\n{side}: µs CPU/user " in out
    assert "this / other: " in out
