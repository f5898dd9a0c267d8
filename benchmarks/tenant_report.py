"""Figures and rows of the tenant-scale scenario: medians per side, targets, side table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from benchmarks.harness import median
from benchmarks.procs import SideResult
from benchmarks.report import Row, fmt, ratio, status

__all__ = [
    "ARROW",
    "COLUMNAR_TARGET",
    "FLOOR",
    "GC_TARGET",
    "NAIVE",
    "NAIVE_TARGET",
    "PYARROW",
    "Figures",
    "figures",
    "side_table",
    "speed_row",
]

NAIVE: Final = "(b) naive gather"
FLOOR: Final = "(c) orjson.loads floor"
PYARROW: Final = "(c) pyarrow.json floor"
#: Our columnar path: the same sweep consumed as Arrow batches.
ARROW: Final = "ours: arrow_batches()"

NAIVE_TARGET: Final = 1.1
STREAM_FLOOR_TARGET: Final = 0.8
GC_TARGET: Final = 0.10
SHARD_TARGET: Final = 0.9
#: "a columnar path far above [the orjson floor]": we read "far" as at least 1.5x.
COLUMNAR_TARGET: Final = 1.5
DISCOVER_TARGET: Final = 0.95


@dataclass(frozen=True)
class Figures:
    """One side's medians over its rounds (NaN where it failed or has no such figure)."""

    users: float
    users_per_s: float
    wall_s: float
    cpu_s: float
    cpu_us_per_user: float
    gc_share: float
    peak_rss_mb: float
    rss_start_mb: float
    emulator_share: float
    runs: int

    @property
    def ok(self) -> bool:
        return self.users_per_s == self.users_per_s


def _emulator_share(results: Sequence[SideResult]) -> float:
    shares = [
        float(r["emulator_cpu_s"]) / float(r["wall_s"])
        for r in results
        if "error" not in r and r.get("wall_s")
    ]
    return statistics.median(shares) if shares else float("nan")


def figures(results: Sequence[SideResult]) -> Figures:
    """The medians of one side's results."""
    good = [r for r in results if "error" not in r]
    return Figures(
        users=median(good, "users"),
        users_per_s=median(good, "users_per_s"),
        wall_s=median(good, "wall_s"),
        cpu_s=median(good, "cpu_s"),
        cpu_us_per_user=median(good, "cpu_us_per_user"),
        gc_share=median(good, "gc_share_of_cpu"),
        peak_rss_mb=median(good, "peak_rss_mb"),
        rss_start_mb=median(good, "rss_sweep_start_mb"),
        emulator_share=_emulator_share(good),
        runs=len(good),
    )


def _pct(value: float) -> str:
    return "–" if value != value else f"{value:.0%}"


def speed_row(
    measure: str,
    ours: Figures,
    baseline_name: str,
    baseline: Figures,
    target: float | None,
) -> Row:
    """users/s of ours against a baseline's, met when the ratio reaches ``target``."""
    r = ratio(ours.users_per_s, baseline.users_per_s)
    ok = None if target is None or r != r else r >= target
    return Row(
        measure,
        fmt(ours.users_per_s),
        baseline_name,
        fmt(baseline.users_per_s),
        f"{r:.2f}x",
        f">= {target:g}x" if target is not None else "(reference)",
        status(ok) if target is not None else "info",
    )


def gc_row(measure: str, ours: Figures, baseline_name: str, baseline: Figures | None) -> Row:
    """The collector's share of our CPU (target under 10%), a baseline's beside it."""
    share = ours.gc_share
    return Row(
        measure,
        _pct(share),
        baseline_name if baseline is not None else "",
        _pct(baseline.gc_share) if baseline is not None else "",
        "",
        f"< {GC_TARGET:.0%}",
        status(None if share != share else share < GC_TARGET),
    )


def side_table(blocks: Sequence[tuple[str, dict[str, Figures]]]) -> str:
    """Every side's medians, workload by workload (the per-side figures of the scenario)."""
    lines = [
        "Tenant scale (7), every side's medians: users/s over the side's own timed section; "
        "CPU = user + system of the side's process (all threads); GC = CPU time inside the "
        "cyclic collector (`gc.callbacks`); peak RSS = the process's VmHWM; emulator = the "
        "emulator process's CPU during the side / the side's wall time (floors: their "
        "untimed fetch only).",
        "",
        "| workload | side | users | users/s | wall | CPU | CPU µs/user | GC share | "
        "peak RSS | emulator |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for title, sides in blocks:
        for n, (name, fig) in enumerate(sides.items()):
            cells = [
                title if n == 0 else "",
                name,
                fmt(fig.users),
                fmt(fig.users_per_s),
                fmt(fig.wall_s, "s"),
                fmt(fig.cpu_s, "s"),
                fmt(fig.cpu_us_per_user, "µs"),
                _pct(fig.gc_share),
                fmt(fig.peak_rss_mb, "MB"),
                "–" if name.startswith("(c)") else _pct(fig.emulator_share),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
