"""The scenarios of the benchmark by number, (title, run): the six of issue #6, and 7,
"tenant scale" (issue #15). ``NAMES`` maps names ``--only`` accepts to numbers."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.harness import Context
from benchmarks.report import ScenarioResult
from benchmarks.scenarios import (
    s1_latency,
    s2_stream,
    s3_ratelimit,
    s4_cpu,
    s5_responsiveness,
    s6_scaling,
    s7_tenant,
)

__all__ = ["NAMES", "SCENARIOS"]

SCENARIOS: dict[int, tuple[str, Callable[[Context], ScenarioResult]]] = {
    1: (s1_latency.TITLE, s1_latency.run),
    2: (s2_stream.TITLE, s2_stream.run),
    3: (s3_ratelimit.TITLE, s3_ratelimit.run),
    4: (s4_cpu.TITLE, s4_cpu.run),
    5: (s5_responsiveness.TITLE, s5_responsiveness.run),
    6: (s6_scaling.TITLE, s6_scaling.run),
    7: (s7_tenant.TITLE, s7_tenant.run),
}

NAMES: dict[str, int] = {"tenant-scale": 7, "tenant": 7}
