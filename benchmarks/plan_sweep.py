"""``python -m benchmarks.plan_sweep``: a planned sweep against the same sweep at default pages.

A mixed sweep (Claude, OpenAI Codex and Cursor accounts) over a week, against the
emulator in its own process with Truto's limits (500 requests per window per token, 50
per account) on a shortened window (2 s instead of 10 s by default, so it takes a minute
or so), three ways, each with a fresh client and fresh rate windows. Records come
without ``remote_data`` (``truto_ignore_remote_data``), so that the rate limits bind and
not the 2 cores parsing 440,000 records while serving them:

- ``per-day, default pages``: what a sweep did before plans: one sweep per day with
  ``date=DAY``, each integration at its default page (100), OpenAI and Cursor swept again
  every day;
- ``planned, default pages``: the plan's units (Claude per day, the others once) with
  ``limit=100``: the dates' effect alone;
- ``planned``: the plan as made: each integration's largest page (Claude 1,000).

For each: the requests the emulator served (users route), the wall time, 429s, records,
and the plan's estimate and time floor; then the ratios to the planned sweep. Nothing here
is registered with the harness (``python -m benchmarks``); it runs on its own::

    python -m benchmarks.plan_sweep                 # a minute or two
    python -m benchmarks.plan_sweep --smoke         # seconds
    python -m benchmarks.plan_sweep --window 2 --rounds 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

import anyio

from benchmarks.emu import TOKEN, EmulatorHandle, running_emulator
from truto_stream import AccountQuery, Client, DateRange, RateLimits
from truto_stream.emulator import AccountSpec, EmulatorConfig
from truto_stream.plan import render_plan
from truto_stream.plan.estimate import format_duration, window_floor

__all__ = ["main"]

TODAY = "2026-07-15"
WEEK = DateRange("2026-07-08", "2026-07-14")
USERS_ROUTE = "/unified/usage-metering/users"
_PARAMS = {"truto_ignore_remote_data": True}


def _accounts(scale: float) -> tuple[AccountSpec, ...]:
    def n(count: int) -> int:
        return max(1, round(count * scale))

    return (
        *(AccountSpec("claude", f"t{i % 5}", users=3_000) for i in range(n(20))),
        *(AccountSpec("openai", f"t{i % 5}", users=1_000) for i in range(n(20))),
        *(AccountSpec("cursor", f"t{i % 5}", users=200) for i in range(n(10))),
    )


async def _sweep(client: Client, **kwargs: Any) -> tuple[int, Any]:
    """One sweep: (records, its plan)."""
    records = 0
    async with client.sweep("usage-metering", "users", **kwargs) as sweep:
        async for batch in sweep.batches():
            records += len(batch.records)
    return records, sweep.plan


async def _side(name: str, url: str, limits: RateLimits) -> dict[str, Any]:
    """One way of sweeping the week, with one client (one rate budget) throughout."""
    records = 0
    async with Client(token=TOKEN, base_url=url, rate_limits=limits) as client:
        started = time.monotonic()
        if name == "per-day, default pages":
            for day in WEEK:
                # limit=100: each integration's default page (Cursor takes none: one page).
                params: dict[str, Any] = {**_PARAMS, "date": day.isoformat(), "limit": 100}
                got, _ = await _sweep(client, accounts=AccountQuery(), params=params)
                records += got
            return {"records": records, "seconds": time.monotonic() - started}
        params = {**_PARAMS, "limit": 100} if name == "planned, default pages" else dict(_PARAMS)
        records, plan = await _sweep(
            client, accounts=AccountQuery(), dates=WEEK, today=TODAY, params=params
        )
        seconds = time.monotonic() - started
    est = plan.estimate
    return {"records": records, "seconds": seconds, "estimate": est.requests,
            "floor_s": est.floor_s, "plan": render_plan(plan)}  # fmt: skip


SIDES = ("per-day, default pages", "planned, default pages", "planned")


def _measure(emu: EmulatorHandle, name: str, limits: RateLimits) -> dict[str, Any]:
    emu.reset(rate_limits=True)
    result = anyio.run(_side, name, emu.url, limits, backend="asyncio")
    stats = emu.stats()
    limited = stats["rate_limited"]
    result["requests"] = int(stats["requests"]["by_route"].get(USERS_ROUTE, 0))
    result["rate_limited"] = int(limited["truto"]) + int(limited["remote"])
    busiest = max(stats["requests"]["by_account"].values(), default=0)
    # What Truto's own limits (500 and 50 per 10 s) would impose on the same requests.
    result["truto_floor_s"] = max(
        window_floor(result["requests"], 500, 10.0), window_floor(busiest, 50, 10.0)
    )
    return result


def run(*, window: float, scale: float, rounds: int) -> dict[str, Any]:
    """Every side ``rounds`` times, interleaved; medians of requests and seconds."""
    config = EmulatorConfig(accounts=_accounts(scale), today=TODAY, rate_window_s=window,
                            token_limit=500, account_limit=50, retry_after="reset")  # fmt: skip
    limits = RateLimits(token_limit=500, account_limit=50, window=window)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SIDES}
    with running_emulator(config) as emu:
        _measure(emu, "planned", limits)  # warm the emulator's templates
        for _ in range(rounds):
            for name in SIDES:
                runs[name].append(_measure(emu, name, limits))
    summary: dict[str, Any] = {"window_s": window, "scale": scale, "rounds": rounds, "sides": {}}
    for name, results in runs.items():
        side = dict(results[-1])
        for key in ("seconds", "requests", "truto_floor_s"):
            side[key] = statistics.median(r[key] for r in results)
        summary["sides"][name] = side
    return summary


def _table(summary: dict[str, Any]) -> str:
    sides = summary["sides"]
    planned = sides["planned"]
    lines = [
        "| sweep | requests | wall time | 429s | records | requests / planned | "
        "time / planned | at Truto's 10 s window, at least |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, side in sides.items():
        lines.append(
            f"| {name} | {side['requests']:,.0f} | {side['seconds']:.2f} s | "
            f"{side['rate_limited']} | {side['records']:,} | "
            f"{side['requests'] / planned['requests']:.1f}x | "
            f"{side['seconds'] / planned['seconds']:.1f}x | "
            f"{format_duration(side['truto_floor_s'])} |"
        )
    lines.append("")
    lines.append(
        f"planned: estimate ~{planned['estimate']:,} requests, floor {planned['floor_s']:.1f} s "
        f"(window {summary['window_s']:g} s, Truto's 500/50 per window)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plan_sweep")
    parser.add_argument("--window", type=float, default=2.0, help="rate window, s (default 2)")
    parser.add_argument("--scale", type=float, default=1.0, help="accounts x this (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (median)")
    parser.add_argument("--smoke", action="store_true", help="tiny, seconds")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    scale = 0.1 if args.smoke else args.scale
    window = 0.25 if args.smoke else args.window
    summary = run(window=window, scale=scale, rounds=max(1, args.rounds))
    print(summary["sides"]["planned"]["plan"])
    print()
    print(_table(summary))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(summary, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
