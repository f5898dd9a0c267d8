"""The library's sides: each runs in its own child process, like the baselines.

Every consumer does the same trivial work per record as the baselines (count it, read its
``id``). Sides take one JSON-able ``args`` dict: ``url``, ``token``, ``accounts`` and
scenario options.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import Any, Final

import orjson

from benchmarks.timing import Stopwatch
from truto_stream.client import Client, RateLimits

__all__ = ["ours_cancel", "ours_first_record", "ours_sweep", "ours_walk", "poll_connections"]

MODEL: Final = "usage-metering"
RESOURCE: Final = "users"


def _client(args: dict[str, Any]) -> Client:
    """A client on the emulator; ``rate_limits``: absent = defaults, None = off, or a dict."""
    limits: RateLimits | None = RateLimits()
    if "rate_limits" in args:
        rate = args["rate_limits"]
        limits = RateLimits(**rate) if rate is not None else None
    return Client(
        token=args["token"],
        base_url=args["url"],
        rate_limits=limits,
        max_connections=int(args.get("max_connections", 100)),
        prefetch=int(args.get("prefetch", 2)),
    )


async def ours_sweep(args: dict[str, Any]) -> dict[str, Any]:
    """A sweep over ``accounts``; ``consume`` is ``batches`` (default) or ``records``."""
    users = 0
    per_record = args.get("consume") == "records"
    async with _client(args) as client:
        with Stopwatch() as sw:
            async with client.sweep(
                MODEL,
                RESOURCE,
                accounts=args["accounts"],
                params=args.get("params"),
                mode=args.get("mode", "paged"),
                framing=args.get("framing"),
                concurrency=int(args.get("concurrency", 64)),
                buffer_records=int(args.get("buffer_records", 10_000)),
            ) as sweep:
                if per_record:
                    async for item in sweep:
                        users += 1
                        item.record["id"]
                else:
                    async for _account, records in sweep.batches():
                        for user in records:
                            users += 1
                            user["id"]
        report = sweep.report.to_dict()
    return sw.result(
        users,
        peak_buffered_records=sweep.peak_buffered_records,
        requests=report["totals"]["requests"],
        rate_limited=report["totals"]["rate_limited"],
        failed=report["states"]["failed"],
    )


async def ours_walk(args: dict[str, Any]) -> dict[str, Any]:
    """One account through ``client.pages`` (``mode`` paged or stream)."""
    users = 0
    parts = 0
    async with _client(args) as client:
        with Stopwatch() as sw:
            async for page in client.pages(
                MODEL,
                RESOURCE,
                account=args["accounts"][0],
                params=args.get("params"),
                mode=args.get("mode", "paged"),
                framing=args.get("framing"),
            ):
                parts += 1
                for user in page.records:
                    users += 1
                    user["id"]
    return sw.result(users, parts=parts)


async def ours_first_record(args: dict[str, Any]) -> dict[str, Any]:
    """Time to first record: a ``list`` on an open client, and a sweep, ``repeat`` times.

    ``list``: ``repeat`` tries on one open client, each on another account; the first try
    opens the connection (reported as cold), the others reuse the pool. ``sweep``: a new
    client per try (fresh rate budgets and connections), timed from opening the sweep.
    """
    repeat = int(args.get("repeat", 5))
    accounts: list[str] = args["accounts"]
    lists: list[float] = []
    sweeps: list[float] = []
    async with _client(args) as client:
        for i in range(repeat):
            account = accounts[i % len(accounts)]
            t0 = time.perf_counter()
            async with contextlib.aclosing(
                client.list(MODEL, RESOURCE, account=account, params=args.get("params"))
            ) as records:
                async for _user in records:
                    lists.append(time.perf_counter() - t0)
                    break
    for _ in range(repeat):
        # A new client per sweep: a sweep's start, with fresh budgets and connections.
        async with _client(args) as client:
            t0 = time.perf_counter()
            async with client.sweep(
                MODEL, RESOURCE, accounts=accounts, params=args.get("params")
            ) as sweep:
                async for _item in sweep:
                    sweeps.append(time.perf_counter() - t0)
                    break
    return {
        "list_first_s": lists,
        "list_cold_s": lists[0],
        "list_warm_median_s": statistics.median(lists[1:] or lists),
        "sweep_median_s": statistics.median(sweeps),
        "sweep_s": sweeps,
    }


def _open_connections(stats: dict[str, Any]) -> int:
    """Open connections in an ``/_emulator/stats`` snapshot (fails loudly if absent)."""
    connections = stats.get("connections")
    value = connections.get("open") if isinstance(connections, dict) else None
    if value is None:
        value = stats.get("connections_open")
    if value is None:
        raise KeyError("the emulator's stats report no open-connection count")
    return int(value)


async def poll_connections(url: str, *, deadline_s: float = 5.0) -> tuple[float, int]:
    """Poll ``/_emulator/stats`` until only our own poll connection is open.

    Returns (seconds waited, open connections seen last, not counting the poll's own).
    Each poll is a one-shot HTTP/1.1 request on a raw socket (``Connection: close``).
    """
    host, _, port = url.split("//", 1)[1].rstrip("/").partition(":")
    t0 = time.perf_counter()
    others = -1
    while time.perf_counter() - t0 < deadline_s:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"GET /_emulator/stats HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"Connection: close\r\n\r\n"
        )
        raw = await reader.read()
        writer.close()
        stats = orjson.loads(raw.split(b"\r\n\r\n", 1)[1])
        others = _open_connections(stats) - 1
        if others <= 0:
            return time.perf_counter() - t0, others
        await asyncio.sleep(0.002)
    return time.perf_counter() - t0, others


async def ours_cancel(args: dict[str, Any]) -> dict[str, Any]:
    """Cancel a sweep over many accounts mid-flight; time each step of the shutdown.

    Consume ``records_before_cancel`` records, then ``break``: ``sweep_exit_s`` is the time
    to leave the sweep's ``async with`` block, ``client_exit_s`` to also leave the client's
    (every connection closed), ``server_idle_s`` until the emulator reports no open
    connection.
    """
    before = int(args.get("records_before_cancel", 5_000))
    seen = 0
    t0 = time.perf_counter()
    async with _client(args) as client:
        async with client.sweep(
            MODEL,
            RESOURCE,
            accounts=args["accounts"],
            params=args.get("params"),
            concurrency=int(args.get("concurrency", 64)),
        ) as sweep:
            async for _account, records in sweep.batches():
                seen += len(records)
                if seen >= before:
                    t0 = time.perf_counter()
                    break
        t_sweep = time.perf_counter() - t0
    t_client = time.perf_counter() - t0
    waited, still_open = await poll_connections(args["url"])
    return {
        "records_seen": seen,
        "sweep_exit_s": t_sweep,
        "client_exit_s": t_client,
        "server_idle_s": t_client + waited,
        "still_open": still_open,
    }
