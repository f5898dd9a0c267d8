"""Scenario 4: CPU per user in paged mode, against ``orjson.loads`` of the same page bytes.

One account walked page by page (no latency, no limits); the child's CPU time (user +
system, so HTTP, parsing and the library's own work) divided by the users it yielded,
against ``orjson.loads`` over the very same page bodies held in memory. At 100 users per
page (the default) and 1,000 (Claude's maximum). Target: at most 1.25x.
"""

from __future__ import annotations

from benchmarks.emu import TOKEN, account_ids, accounts, running_emulator
from benchmarks.harness import Context, Side, first_error, median
from benchmarks.limits import NON_BINDING_LIMITS
from benchmarks.procs import SideResult
from benchmarks.report import Row, ScenarioResult, fmt, status
from truto_stream.emulator import EmulatorConfig

TITLE = "CPU per user, paged"
TARGET = 1.25


def _orjson_us(results: list[SideResult]) -> float:
    values = [r["orjson"] for r in results if "error" not in r and "orjson" in r]
    return median(values, "cpu_us_per_user")


def run(ctx: Context) -> ScenarioResult:
    """Ours, (b) and the orjson ceiling at two page sizes."""
    users = ctx.size(50_000, 2_000)
    specs = accounts(1, users)
    config = EmulatorConfig(
        accounts=specs, token_limit=0, account_limit=0, page_cache_mb=max(64, users // 500)
    )
    result = ScenarioResult(4, TITLE)
    with running_emulator(config) as emu:
        for page in (100,) if ctx.smoke else (100, 1000):
            args = {
                "url": emu.url,
                "token": TOKEN,
                "accounts": account_ids(specs),
                "params": {"limit": page},
                "parsers": ["orjson"],
                "rate_limits": NON_BINDING_LIMITS,
            }
            sides = {
                "ours": Side("ours:ours_walk", args, expect_users=users),
                "(b) naive": Side("baselines:naive_gather", args, expect_users=users),
                "(c) orjson.loads per page": Side(
                    "baselines:parse_ceilings", args, expect_users=users
                ),
            }
            ctx.warm(emu, Side("baselines:warm_pages", args))
            # CPU time per user is noisy on a shared 2-core machine and each run is short:
            # take at least 5 rounds.
            runs = ctx.measure(emu, sides, rounds=ctx.rounds if ctx.smoke else max(ctx.rounds, 5))
            for name, res in runs.items():
                result.raw[f"{page}/{name}"] = res
                err = first_error(res)
                if err:
                    result.notes.append(f"{page}/page, {name} failed: {err}")
            ours = median(runs["ours"], "cpu_us_per_user")
            naive = median(runs["(b) naive"], "cpu_us_per_user")
            ceiling = _orjson_us(runs["(c) orjson.loads per page"])
            result.rows += [
                Row(
                    f"CPU µs per user, {users:,} users, {page}/page",
                    fmt(ours, "µs"),
                    "(c) `orjson.loads` of the same pages",
                    fmt(ceiling, "µs"),
                    f"{ours / ceiling:.2f}x",
                    f"<= {TARGET}x",
                    status(ours / ceiling <= TARGET if ceiling == ceiling else None),
                ),
                Row(
                    f"CPU µs per user, {page}/page",
                    fmt(ours, "µs"),
                    "(b) naive (aiohttp + orjson, no limiter/retry)",
                    fmt(naive, "µs"),
                    f"{ours / naive:.2f}x",
                    "(reference)",
                ),
            ]
    return result
