"""The harness's pure parts: figures, ratios, the table, rate arithmetic, publishing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import harness
from benchmarks.report import Row, ScenarioResult, fmt, markdown, memory_ratio, ratio, status
from benchmarks.scenarios.s3_ratelimit import achieved_rate, window_profile


def test_fmt_and_ratios() -> None:
    assert fmt(46615.2) == "46,615"
    assert fmt(123.4, "MB") == "123 MB"
    assert fmt(7.456, "µs") == "7.46 µs"
    assert fmt(float("nan")) == "–"
    assert ratio(50.0, 2.0) == 25.0
    assert ratio(2.0, 50.0, higher_is_better=False) == 25.0
    assert math.isnan(ratio(1.0, 0.0))
    assert memory_ratio(40.0, 400.0) == "10.00x less"
    assert memory_ratio(60.0, 40.0) == "1.50x more"
    assert memory_ratio(float("nan"), 1.0) == "–"
    assert (status(True), status(False), status(None)) == ("met", "MISSED", "n/a")


def test_markdown_marks_misses_and_reports_emulator_share() -> None:
    result = ScenarioResult(
        1,
        "latency-bound sweep",
        rows=[Row("users/s", "10", "(b)", "20", "0.50x", ">= 1x", "MISSED")],
        notes=["a note | with a pipe"],
        emulator_cpu_s=1.0,
        sides_wall_s=4.0,
    )
    text = markdown([result])
    assert "| 1 | users/s | 10 | (b) | 20 | 0.50x | >= 1x | **MISSED** |" in text
    assert "| 1 | latency-bound sweep | 1.00 s | 4.00 s | 25% |" in text
    assert "- (1) a note | with a pipe" in text


def test_achieved_rate_after_the_first_burst() -> None:
    # A perfect client under 10 per 1 s: bursts of 10 at t = 0, 1, 2 (30 requests).
    times = [float(t) for t in (0, 1, 2) for _ in range(10)]
    stats = {
        "request_times": {"a": times},
        "status_counts": {"200": 31, "429": 2},  # 31: the reset's own answer counts too
        "requests": {"by_route": {"/unified/usage-metering/users": 32}},
        "rate_limited": {"truto": 2, "remote": 0},
    }
    rate, ok = achieved_rate(stats, 10)
    assert ok == 30
    assert rate == pytest.approx(10.0)
    most, spread = window_profile(stats, 1.0)
    assert spread == 0.0
    assert most == 10  # windows are half-open: a hit one window old has expired


def test_combine_publishes_only_the_generated_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        f"# Benchmarks\n\nintro\n\n{harness.START_MARK}\nold\n{harness.END_MARK}\n\nanalysis\n"
    )
    monkeypatch.setattr(harness, "DOCS", docs)
    paths = []
    for n, sid in enumerate((2, 1)):
        scenario = ScenarioResult(sid, f"s{sid}", rows=[Row(f"m{sid}", "1")]).to_dict()
        payload = {
            "command": f"python -m benchmarks --only {sid}",
            "started": f"2026-01-0{n + 1}T00:00:00+00:00",
            "settings": {"smoke": False, "rounds": 3, "heavy_rounds": 2, "slow_rounds": 1},
            "machine": {
                "cpu": "cpu",
                "cores": 2,
                "memory_gib": 1.0,
                "python": "3.11",
                "aiohttp": "3",
                "orjson": "3",
                "ijson": "3",
                "loadavg_start": [1.0, 1.0, 1.0],
                "loadavg_end": [2.0, 2.0, 2.0],
                "commit": "abc1234",
            },
            "scenarios": [scenario],
        }
        path = tmp_path / f"r{n}.json"
        path.write_text(json.dumps(payload))
        paths.append(str(path))
    assert harness.main(["--combine", *paths]) == 0
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n\n")
    assert text.endswith("\n\nanalysis\n")
    assert "old" not in text
    assert text.index("| 1 | m1 |") < text.index("| 2 | m2 |")
    assert "Scenario 2 measured 2026-01-01" in text
    assert "Scenario 1 measured 2026-01-02" in text
    assert "commit abc1234" in text
    assert "| 1 | m1 |" in capsys.readouterr().out
