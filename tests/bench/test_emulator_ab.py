"""benchmarks.emulator_ab: this checkout's emulator against another's, alternated (smoke)."""

from __future__ import annotations

import sys

import pytest

from benchmarks import emulator_ab


def test_a_round_runs_both_emulators_and_prints_paired_ratios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # This interpreter stands for the other venv: the same emulator on both sides.
    argv = ["--other-python", sys.executable, "--accounts", "2", "--users", "300"]
    emulator_ab.main([*argv, "--rounds", "1", "--framings", "ndjson", "--warm", "one"])
    out = capsys.readouterr().out
    assert "## stream (ndjson), 1 rounds" in out
    for side in ("ours", "naive"):
        for emu in ("this", "other"):
            assert f"| {side} | {emu} | " in out
        assert f"- {side}: users/s this/other, paired median " in out
    assert "- ours/naive against the this emulator: median " in out
