"""Scenario 3: a rate-limit-bound sweep, with Truto's limits on a shortened window.

The emulator enforces 500 requests per window per token and 50 per window per account,
with the window shortened from 10 s to 2 s (250 requests/s allowed). 25 accounts
(25 x 50 > 500, so the token limit binds) of small pages (10 users) keep the sweep
rate-bound, not CPU-bound; 5,500 requests span 11 windows, so the edges (the first burst,
the spread of the last one) weigh little. The client is told the same limits.

Achieved rate: a sliding window allows a burst of ``limit`` at once, then ``limit`` per
window, so the best possible finish for N requests is ``(N - limit) / (limit / window)``
after the first; achieved = ``(N - limit) / (t_last - t_first)`` from the emulator's own
request timestamps (429s not counted). Targets: >= 95% of the ceiling, no 429.
"""

from __future__ import annotations

import bisect
from typing import Any

from benchmarks.emu import TOKEN, account_ids, accounts, running_emulator
from benchmarks.harness import Context, Side, first_error, median
from benchmarks.report import Row, ScenarioResult, fmt, status
from truto_stream.emulator import EmulatorConfig

TITLE = "rate-limit-bound sweep"
TARGET = 0.95


USERS_ROUTE = "/unified/usage-metering/users"


def users_requests_ok(stats: dict[str, Any]) -> int:
    """Requests to the users route that were not refused with 429.

    (``status_counts`` also counts the control routes, e.g. the reset's own answer.)
    """
    by_route = stats.get("requests", {}).get("by_route", {})
    if USERS_ROUTE not in by_route:
        raise KeyError("the emulator's stats do not count requests by route")
    limited = stats["rate_limited"]
    return int(by_route[USERS_ROUTE]) - int(limited["truto"]) - int(limited["remote"])


def achieved_rate(stats: dict[str, Any], limit: int) -> tuple[float, int]:
    """(requests/s after the first burst, requests answered 200), from the emulator.

    The first and last request times come from the emulator's own clock; requests it
    refused with 429 are not counted as achieved.
    """
    stamps = sorted(t for times in stats["request_times"].values() for t in times)
    ok = users_requests_ok(stats)
    if ok <= limit or len(stamps) < 2:
        return float("nan"), ok
    return (ok - limit) / (stamps[-1] - stamps[0]), ok


def window_profile(stats: dict[str, Any], window: float) -> tuple[int, float]:
    """(most requests in any window on the server's clock, spread of the first burst).

    Windows are half-open, ``[t, t + window)``, as the emulator's: a hit exactly one
    window old no longer counts.
    """
    stamps = sorted(t for times in stats["request_times"].values() for t in times)
    if not stamps:
        return 0, float("nan")
    most = max(bisect.bisect_left(stamps, t + window) - i for i, t in enumerate(stamps))
    first_window = bisect.bisect_left(stamps, stamps[0] + window)
    return most, stamps[first_window - 1] - stamps[0]


def run(ctx: Context) -> ScenarioResult:
    """Ours against the ceiling, ``rounds`` times on fresh rate windows."""
    if ctx.smoke:
        token_limit, account_limit, window, n_accounts, pages = 40, 10, 0.25, 5, 12
    else:
        token_limit, account_limit, window, n_accounts, pages = 500, 50, 2.0, 25, 220
    page_users = 10
    specs = accounts(n_accounts, pages * page_users)
    config = EmulatorConfig(
        accounts=specs,
        token_limit=token_limit,
        account_limit=account_limit,
        rate_window_s=window,
        retry_after="reset",
        stats_timestamps=pages + 10,
    )
    ceiling = token_limit / window
    result = ScenarioResult(3, TITLE)
    limited: list[int] = []
    with running_emulator(config) as emu:
        args = {
            "url": emu.url,
            "token": TOKEN,
            "accounts": account_ids(specs),
            "params": {"limit": page_users},
            "rate_limits": {
                "token_limit": token_limit,
                "account_limit": account_limit,
                "window": window,
            },
        }
        side = Side("ours:ours_sweep", args, expect_users=n_accounts * pages * page_users)
        for r in range(ctx.rounds):
            emu.reset(rate_limits=True)
            run = ctx.run_once(emu, f"ours round {r + 1}", side)
            result.raw.setdefault("ours", []).append(run)
            stats = emu.stats()
            rate, requests = achieved_rate(stats, token_limit)
            n429 = int(stats["rate_limited"]["truto"])
            most, spread = window_profile(stats, window)
            run.update(
                achieved_rps=rate,
                server_requests=requests,
                server_429=n429,
                most_in_window=most,
                first_burst_spread_s=spread,
            )
            limited.append(n429)
    err = first_error(result.raw["ours"])
    if err:
        result.notes.append(f"ours failed: {err}")
    rate = median(result.raw["ours"], "achieved_rps")
    n429 = max(limited) if limited else -1
    total = median(result.raw["ours"], "server_requests")
    result.rows += [
        Row(
            f"requests/s, {n_accounts} accounts, {total:,.0f} requests, limits "
            f"{token_limit}/{account_limit} per {window:g} s",
            fmt(rate),
            "allowed ceiling (token limit / window)",
            fmt(ceiling),
            f"{rate / ceiling:.1%}",
            f">= {TARGET:.0%}",
            status(rate / ceiling >= TARGET if rate == rate else None),
        ),
        Row(
            "429 responses (worst round)",
            str(n429),
            "",
            "",
            "",
            "0",
            status(n429 == 0 if n429 >= 0 else None),
        ),
    ]
    spread = median(result.raw["ours"], "first_burst_spread_s")
    result.notes.append(
        f"The first {token_limit} requests reached the emulator over {spread:.2f} s "
        f"(most in any {window:g} s window on the server's clock: "
        f"{median(result.raw['ours'], 'most_in_window'):.0f})."
    )
    return result
