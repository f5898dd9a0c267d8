"""A default (adaptive) stream sweep against fixed concurrencies, side by side (issue #15).

Each side is a stream sweep of the same accounts, in its own process (so peak RSS is its
own), against one emulator in its own process; rounds alternate the sides; medians are
printed: CPU µs per user, users/s, peak RSS (and its growth from just before the
sweep), the peak of buffered records and the most walks run. ``latency_ms`` is the
emulator's latency per vendor page of a stream (0: CPU-bound; the process or the
emulator is the limit, so more walks cannot help). ``MODE=paged`` (``LIMIT``, default
100) sweeps pages instead; the side ``ramp`` is the default made adaptive in paged mode
too (measure only: not the library's default).

    python -m benchmarks.adaptive_walks ACCOUNTS USERS ndjson|envelope ROUNDS \
        [LATENCY_MS] [SIDES]

``SIDES``: a comma list of ``default``, ``ramp`` and concurrencies (default
``default,2,8``).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks.emu import TOKEN, account_ids, accounts, running_emulator
from truto_stream import Client
from truto_stream.emulator import EmulatorConfig


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _sweep(url: str, ids: list[str], concurrency: int | None, framing: str) -> Any:
    mode: Any = os.environ.get("MODE", "stream")
    options: dict[str, Any] = {} if concurrency is None else {"concurrency": concurrency}
    if mode == "paged":
        options["params"] = {"limit": int(os.environ.get("LIMIT", "100"))}
    else:
        options["framing"] = framing
    users = 0
    async with (
        Client(token=TOKEN, base_url=url, rate_limits=None) as client,
        client.sweep("usage-metering", "users", accounts=ids, mode=mode, **options) as sweep,
    ):
        async for _, records in sweep.batches():
            for user in records:
                users += 1
                user["id"]
    return users, sweep


def side(url: str, count: int, framing: str, concurrency: str) -> None:
    """One side, in this process: print its figures as one JSON line."""
    if concurrency == "ramp":  # the default, ramping in paged mode too (measure only)
        import truto_stream.sweep

        truto_stream.sweep.ADAPTIVE_MODES = frozenset({"stream", "paged"})  # type: ignore[misc]
    ids = account_ids(accounts(count, 1))
    given = None if concurrency in ("default", "ramp") else int(concurrency)
    rss = _max_rss_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    users, sweep = asyncio.run(_sweep(url, ids, given, framing))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    figures = {
        "users": users,
        "cpu": cpu,
        "wall": wall,
        "walks": sweep.report.walks,
        "peak_buffered": sweep.peak_buffered_records,
        "rss_mb": _max_rss_mb(),
        "rss_growth_mb": _max_rss_mb() - rss,
    }
    print(json.dumps(figures))


def _summary(name: str, runs: list[dict[str, Any]]) -> str:
    def median(key: str) -> float:
        return statistics.median(float(run[key]) for run in runs)

    users = runs[0]["users"]
    return (
        f"  {name:>8}: {median('cpu') / users * 1e6:.2f} µs CPU/user, "
        f"{users / median('wall') / 1000:.1f}k users/s, peak RSS {median('rss_mb'):.1f} MB "
        f"(+{median('rss_growth_mb'):.1f}), peak buffered {median('peak_buffered'):.0f}, "
        f"walks {sorted(run['walks'] for run in runs)}"
    )


def main(argv: list[str]) -> None:
    count, users, framing, rounds = int(argv[0]), int(argv[1]), argv[2], int(argv[3])
    latency = float(argv[4]) if len(argv) > 4 else 0.0
    sides = (argv[5] if len(argv) > 5 else "default,2,8").split(",")
    config = EmulatorConfig(
        accounts=accounts(count, users),
        token_limit=0,
        account_limit=0,
        stream_framing=framing,  # type: ignore[arg-type]
        page_cache_mb=2048,
        latency_ms=latency,
    )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    with running_emulator(config) as emu:

        def run(name: str) -> dict[str, Any]:
            args = [sys.executable, "-m", "benchmarks.adaptive_walks", "--side", emu.url]
            out = subprocess.check_output([*args, str(count), framing, name])
            figures: dict[str, Any] = json.loads(out)
            return figures

        run("2")  # the emulator's caches warm up
        for _ in range(rounds):
            for name in sides:
                results[name].append(run(name))
    mode = os.environ.get("MODE", "stream")
    print(
        f"{mode}, {count} accounts x {users:,} users, {framing}, latency {latency} ms per "
        f"vendor page, {rounds} rounds alternating, medians"
    )
    for name, runs in results.items():
        print(_summary(name, runs))


if __name__ == "__main__":
    if sys.argv[1] == "--side":
        side(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        main(sys.argv[1:])
