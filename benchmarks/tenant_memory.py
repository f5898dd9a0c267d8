"""The memory row of the tenant-scale scenario: peak RSS against a stated bound.

Issue #15: peak memory must not grow with concurrency beyond the configured buffer plus
one page per worker. The bound, in records: ``buffer_records`` (the sweep's default) plus
one page part per walk running at once (``min(concurrency, accounts)`` walks, a part as
large as the largest batch the consumer was handed). In bytes: that many records times
what one record costs as Python objects (``tracemalloc`` over ``orjson.loads`` of one of
the workload's bodies, measured once in the harness). It is compared with the growth of
the side's RSS from just before the sweep starts (interpreter and imports excluded) to its
peak; per-connection buffers and the raw bytes being parsed count against it.
"""

from __future__ import annotations

import dataclasses
import statistics
import tracemalloc
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import orjson

from benchmarks.baselines import USERS_PATH
from benchmarks.procs import SideResult
from benchmarks.report import Row, fmt, status
from benchmarks.tenant_report import Figures, speed_row
from benchmarks.tenant_workloads import MEMORY_CONCURRENCIES, Sized

__all__ = ["memory_rows", "memory_variants", "record_footprint"]

DEFAULT = "ours: default concurrency"


def record_footprint(url: str, token: str, account: str) -> float:
    """Bytes one record of ``account`` costs as Python objects (envelope stream body)."""
    query = urllib.parse.urlencode(
        {"integrated_account_id": account, "truto_response_format": "stream"}
    )
    request = urllib.request.Request(
        f"{url}/{USERS_PATH}?{query}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    tracemalloc.start()
    try:
        records = orjson.loads(body)["result"]
        size, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return size / max(1, len(records))


def memory_variants(*, smoke: bool = False) -> dict[str, int | None]:
    """Side names of the memory row and the concurrency each passes (None: the default).

    A smoke run measures the lowest concurrency and the default only.
    """
    concurrencies = MEMORY_CONCURRENCIES[:1] if smoke else MEMORY_CONCURRENCIES
    named: dict[str, int | None] = {f"ours: concurrency {c}": c for c in concurrencies}
    named[DEFAULT] = None
    return named


def _first(results: list[SideResult], key: str) -> Any:
    for result in results:
        if "error" not in result and result.get(key) is not None:
            return result[key]
    return None


def _default_label(results: list[SideResult]) -> str:
    """``default (8)``, or with an adaptive default the walks it ran at most of its cap."""
    cap = _first(results, "default_concurrency")
    walks = max((int(r.get("walks") or 0) for r in results if "error" not in r), default=0)
    if walks and isinstance(cap, int) and walks < cap:
        return f"default ({walks} of {cap} walks, adaptive)"
    return f"default ({cap})"


def _bound_row(
    work: Sized, name: str, fig: Figures, results: list[SideResult], per_record: float
) -> Row:
    concurrency = memory_variants()[name] or _first(results, "default_concurrency")
    buffer = _first(results, "default_buffer_records")
    part = max((int(r.get("largest_batch", 0)) for r in results if "error" not in r), default=0)
    # A default that is not a number (adaptive) may run every account at once.
    workers = min(concurrency, work.accounts) if isinstance(concurrency, int) else work.accounts
    growth = fig.peak_rss_mb - fig.rss_start_mb
    label = f"concurrency {concurrency}" if name != DEFAULT else _default_label(results)
    measure = (
        f"peak RSS growth, {work.title()}, {label} "
        f"({fmt(fig.users_per_s)} users/s, peak {fmt(fig.peak_rss_mb, 'MB')})"
    )
    if not isinstance(buffer, int) or not fig.ok:
        return Row(measure, fmt(growth, "MB"), "bound: buffer unknown", "", "", "<= bound", "n/a")
    bound_mb = (buffer + workers * part) * per_record / 2**20
    return Row(
        measure,
        fmt(growth, "MB"),
        f"bound: buffer {buffer:,} + {workers} walks x {part:,} records, {per_record:.0f} B each",
        fmt(bound_mb, "MB"),
        f"{growth / bound_mb:.2f}x of it",
        "<= bound",
        status(growth <= bound_mb),
    )


def _walks(results: list[SideResult]) -> set[int]:
    return {int(r.get("walks") or 0) for r in results if "error" not in r}


def _default_row(
    work: Sized, figs: Mapping[str, Figures], raw: Mapping[str, list[SideResult]]
) -> Row:
    """The default concurrency against the lowest one: never slower, never bigger.

    A default that ran more walks must be faster by the medians. One that ran the same
    walks in every round is the same configuration measured twice: its medians differ
    by the machine's noise either way, so it is judged by the rounds paired. A real
    slowdown puts three quarters of them below 1 (the upper quartile).
    """
    low = f"ours: concurrency {MEMORY_CONCURRENCIES[0]}"
    ours, base = figs[DEFAULT], figs[low]
    row = speed_row(
        f"users/s, {work.title()}, default concurrency against {MEMORY_CONCURRENCIES[0]} "
        f"(peak RSS {fmt(ours.peak_rss_mb, 'MB')} against {fmt(base.peak_rss_mb, 'MB')})",
        ours,
        f"concurrency {MEMORY_CONCURRENCIES[0]}",
        base,
        1.0,
    )
    pairs = [
        (a["users_per_s"], b["users_per_s"])
        for a, b in zip(raw[DEFAULT], raw[low], strict=True)
        if "error" not in a and "error" not in b
    ]
    same = _walks(raw[DEFAULT]) == _walks(raw[low]) == {MEMORY_CONCURRENCIES[0]}
    if row.status == "n/a" or not pairs or not same:
        return row
    ratios = sorted(a / b for a, b in pairs)
    upper = statistics.quantiles(ratios, n=4)[2] if len(ratios) > 1 else ratios[0]
    median = statistics.median(ratios)
    return dataclasses.replace(
        row,
        ratio=f"{row.ratio} (the same {MEMORY_CONCURRENCIES[0]} walks; paired {median:.2f}x, "
        f"upper quartile {upper:.2f}x)",
        target=">= 1x (same walks: paired upper quartile >= 1x)",
        status=status(upper >= 1.0),
    )


def memory_rows(
    work: Sized,
    figs: Mapping[str, Figures],
    raw: Mapping[str, list[SideResult]],
    per_record: float,
) -> list[Row]:
    """One bound row per concurrency, and the default concurrency against concurrency 2."""
    names = memory_variants(smoke=work.smoke)
    rows = [_bound_row(work, name, figs[name], raw[name], per_record) for name in names]
    rows.append(_default_row(work, figs, raw))
    return rows
