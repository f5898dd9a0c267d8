"""The target rows of one tenant-scale workload (issue #15's goals) from its sides' medians."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from benchmarks.report import Row, fmt
from benchmarks.tenant_report import (
    ARROW,
    COLUMNAR_TARGET,
    DISCOVER_TARGET,
    FLOOR,
    NAIVE,
    NAIVE_TARGET,
    PYARROW,
    SHARD_TARGET,
    STREAM_FLOOR_TARGET,
    Figures,
    gc_row,
    speed_row,
)
from benchmarks.tenant_workloads import Sized

__all__ = ["labelled", "workload_rows"]


def labelled(name: str, label: str) -> str:
    """A side's name for another library (``ours [before]``); ``label`` "" is this one."""
    return f"{name} [{label}]" if label else name


def _context(figs: Mapping[str, Figures]) -> str:
    """CPU per user (steadier than users/s on a busy machine) and the emulator's share."""
    ours, naive = figs["ours"], figs[NAIVE]
    return (
        f"CPU {fmt(ours.cpu_us_per_user, 'µs')}/user, (b) {fmt(naive.cpu_us_per_user, 'µs')}; "
        f"emulator {ours.emulator_share:.0%} of a core during ours, "
        f"{naive.emulator_share:.0%} during (b)"
    )


def _speed_rows(work: Sized, figs: Mapping[str, Figures]) -> list[Row]:
    title = work.title()
    ours = figs["ours"]
    rows = [
        speed_row(
            f"users/s, {title} ({_context(figs)})",
            ours,
            NAIVE,
            figs[NAIVE],
            NAIVE_TARGET if work.workload.versus_naive else None,
        )
    ]
    if FLOOR in figs:
        stream = work.workload.mode == "stream"
        rows.append(
            speed_row(
                f"users/s, {title}, against parsing the same bytes in memory",
                ours,
                f"{FLOOR} (dicts)",
                figs[FLOOR],
                STREAM_FLOOR_TARGET if stream else None,
            )
        )
    if PYARROW in figs:
        rows.append(
            speed_row(f"users/s, {title}, columnar floor", ours, PYARROW, figs[PYARROW], None)
        )
    if ARROW in figs and FLOOR in figs:
        arrow = figs[ARROW]
        rows += [
            speed_row(
                f"users/s, {title}, columnar path: `sweep.arrow_batches()` (CPU "
                f"{fmt(arrow.cpu_us_per_user, 'µs')}/user, "
                f"peak RSS {fmt(arrow.peak_rss_mb, 'MB')})",
                arrow,
                f"{FLOOR} (dicts)",
                figs[FLOOR],
                COLUMNAR_TARGET,
            ),
            gc_row(f"GC share of CPU, {title}, columnar path", arrow, NAIVE, figs[NAIVE]),
        ]
    rows.append(gc_row(f"GC share of CPU, {title}", ours, NAIVE, figs[NAIVE]))
    return rows


def _extra_rows(work: Sized, figs: Mapping[str, Figures]) -> list[Row]:
    ours = figs["ours"]
    rows: list[Row] = []
    shard = figs.get("ours: run_shard")
    if shard is not None:
        rss = f"{fmt(shard.peak_rss_mb, 'MB')} against {fmt(ours.peak_rss_mb, 'MB')}"
        rows += [
            speed_row(
                f"users/s, `run_shard` in 1 process, same accounts (peak RSS {rss})",
                shard,
                "in-process sweep (ours)",
                ours,
                SHARD_TARGET,
            ),
            gc_row("GC share of CPU, `run_shard`", shard, "in-process sweep", ours),
        ]
    found = figs.get("ours: discovered")
    if found is not None:
        rows += [
            speed_row(
                "users/s, same accounts discovered with `AccountQuery`",
                found,
                "same sweep given ids (ours)",
                ours,
                DISCOVER_TARGET,
            ),
            speed_row("users/s, discovered", found, NAIVE, figs[NAIVE], None),
            gc_row("GC share of CPU, discovered", found, "given ids", ours),
        ]
    return rows


def _before_rows(work: Sized, figs: Mapping[str, Figures], labels: Sequence[str]) -> list[Row]:
    """This library against each other one (``--ours-python``), side by side."""
    rows = []
    for label in labels:
        for name in ("ours", "ours: run_shard", "ours: discovered"):
            other = figs.get(labelled(name, label))
            if other is None or name not in figs:
                continue
            what = name.removeprefix("ours").removeprefix(": ") or "sweep"
            rows.append(
                speed_row(
                    f"users/s, {work.title()}, {what}: this library against [{label}] "
                    f"(GC {figs[name].gc_share:.0%} against {other.gc_share:.0%}; peak RSS "
                    f"{fmt(figs[name].peak_rss_mb, 'MB')} against "
                    f"{fmt(other.peak_rss_mb, 'MB')})",
                    figs[name],
                    labelled(name, label),
                    other,
                    None,
                )
            )
    return rows


def workload_rows(work: Sized, figs: Mapping[str, Figures], labels: Sequence[str]) -> list[Row]:
    """Every row of a (non-memory) workload: speed, floors, GC, extras, other libraries."""
    return [*_speed_rows(work, figs), *_extra_rows(work, figs), *_before_rows(work, figs, labels)]
