"""The plan benchmark runs (tiny): the planned sweep makes fewer requests, and no 429."""

from __future__ import annotations

from benchmarks.plan_sweep import run


def test_the_plan_benchmark_smoke() -> None:
    summary = run(window=0.25, scale=0.05, rounds=1)
    sides = summary["sides"]
    planned = sides["planned"]
    assert planned["records"] == sides["planned, default pages"]["records"]
    assert sides["per-day, default pages"]["requests"] > sides["planned, default pages"]["requests"]
    assert sides["planned, default pages"]["requests"] > planned["requests"]
    assert all(side["rate_limited"] == 0 for side in sides.values())
