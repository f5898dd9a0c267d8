"""Scenario 6: how cost grows: accounts 10 -> 100 -> 1,000, users per account 1k -> 100k.

Paged sweeps (100 users per page, no latency, no limits), ours against the naive gather:
users/s and peak RSS per size. Ours should hold its rate and keep its memory flat (the
buffer is bounded in records); the naive gather's memory grows with the pages in flight.
"""

from __future__ import annotations

from benchmarks.emu import TOKEN, account_ids, accounts, running_emulator
from benchmarks.harness import Context, Side, first_error, median
from benchmarks.limits import NON_BINDING_LIMITS
from benchmarks.report import Row, ScenarioResult, fmt, memory_ratio, ratio
from truto_stream.emulator import EmulatorConfig

TITLE = "scaling"
GRID = ((10, 1_000), (100, 1_000), (1_000, 1_000), (10, 10_000), (10, 100_000))
SMOKE_GRID = ((2, 200), (20, 200))


def run(ctx: Context) -> ScenarioResult:
    """Each grid point on its own emulator (page cache sized to the data)."""
    result = ScenarioResult(6, TITLE)
    grid = SMOKE_GRID if ctx.smoke else GRID
    for n_accounts, per_account in grid:
        users = ctx.size(per_account, per_account) if not ctx.smoke else per_account
        specs = accounts(n_accounts, users)
        total = n_accounts * users
        config = EmulatorConfig(
            accounts=specs,
            token_limit=0,
            account_limit=0,
            page_cache_mb=min(2048, max(64, total * 900 // 2**20 + 64)),
        )
        with running_emulator(config) as emu:
            args = {
                "url": emu.url,
                "token": TOKEN,
                "accounts": account_ids(specs),
                "params": {"limit": 100},
                "rate_limits": NON_BINDING_LIMITS,
            }
            sides = {
                "ours": Side("ours:ours_sweep", args, expect_users=total),
                "(b) naive gather": Side("baselines:naive_gather", args, expect_users=total),
            }
            ctx.warm(emu, Side("baselines:warm_pages", args))
            runs = ctx.measure(emu, sides, rounds=ctx.heavy_rounds)
        label = f"{n_accounts:,} x {users:,}"
        for name, res in runs.items():
            result.raw[f"{label}/{name}"] = res
            err = first_error(res)
            if err:
                result.notes.append(f"{label}, {name} failed: {err}")
        ours = median(runs["ours"], "users_per_s")
        naive = median(runs["(b) naive gather"], "users_per_s")
        gc_ours = median(runs["ours"], "gc_share_of_cpu")
        gc_naive = median(runs["(b) naive gather"], "gc_share_of_cpu")
        rss = median(runs["ours"], "peak_rss_mb")
        naive_rss = median(runs["(b) naive gather"], "peak_rss_mb")
        result.rows += [
            Row(
                f"users/s, {label} ({total:,} users; GC {gc_ours:.0%} of CPU, (b) {gc_naive:.0%})",
                fmt(ours),
                "(b) naive gather",
                fmt(naive),
                f"{ratio(ours, naive):.2f}x",
                "(how it grows)",
            ),
            Row(
                f"peak RSS, {label}",
                fmt(rss, "MB"),
                "(b) naive gather",
                fmt(naive_rss, "MB"),
                memory_ratio(rss, naive_rss),
                "(how it grows)",
            ),
        ]
    return result
