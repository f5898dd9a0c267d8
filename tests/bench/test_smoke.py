"""The benchmark harness keeps working: a seconds-long smoke of every scenario.

Not a timed test: no figure is checked against a target here, only that every scenario
runs end to end (emulator process, child sides, result files) and that no side failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_benchmark_smoke_runs_every_scenario(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    [result_file] = tmp_path.glob("bench-*.json")
    data = json.loads(result_file.read_text())
    scenarios = {s["sid"]: s for s in data["scenarios"]}
    assert sorted(scenarios) == [1, 2, 3, 4, 5, 6, 7]
    for scenario in scenarios.values():
        assert scenario["rows"], scenario["title"]
        for side, runs in scenario["raw"].items():
            for run in runs:
                assert "error" not in run, (scenario["title"], side, run["error"])
    assert "| # | measure |" in proc.stdout
    assert list(tmp_path.glob("bench-*.md"))
    # Tenant scale: every code path ran (run_shard, discovery, the columnar floor, memory).
    tenant = scenarios[7]["raw"]
    for side in ("ours: run_shard", "ours: discovered", "(c) pyarrow.json floor"):
        assert any(name.endswith("/" + side) for name in tenant), side
    assert any("concurrency" in name for name in tenant)
    assert "| workload | side | users | users/s |" in proc.stdout


def test_smoke_leaves_docs_alone(tmp_path: Path) -> None:
    """--smoke never rewrites docs/benchmarks.md (only a full run does)."""
    from benchmarks.harness import parse_args

    settings = parse_args(["--smoke", "--out", str(tmp_path)])
    assert settings.smoke
    assert not settings.docs
    assert not settings.real_sdk
