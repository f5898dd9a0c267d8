"""Scenario 1: a latency-bound sweep, against the SDK's approach and a naive gather.

50 accounts x 1,000 users, 100 per page, 50 ms of upstream latency per page. The
emulator's rate limits are off (this scenario is about latency, scenario 3 is about rate
limits); our client keeps its rate limiter in the path with budgets that do not bind.
Targets: >= 20x the SDK approach's users/s, no slower than the naive gather, bounded
memory.
"""

from __future__ import annotations

from benchmarks import sdk_venv
from benchmarks.emu import TOKEN, account_ids, accounts, running_emulator
from benchmarks.harness import Context, Side, first_error, median
from benchmarks.limits import NON_BINDING_LIMITS
from benchmarks.report import Row, ScenarioResult, fmt, memory_ratio, ratio, status
from truto_stream.emulator import EmulatorConfig

TITLE = "latency-bound sweep"


def run(ctx: Context) -> ScenarioResult:
    """Measure ours (batches and per record), (b), (a) and, if installable, the real SDK."""
    n_accounts = 4 if ctx.smoke else 50
    users = ctx.size(1_000, 300)
    latency_ms = 5.0 if ctx.smoke else 50.0
    specs = accounts(n_accounts, users)
    total = n_accounts * users
    config = EmulatorConfig(
        accounts=specs,
        latency_ms=latency_ms,
        token_limit=0,
        account_limit=0,
        page_cache_mb=512,
    )
    label = f"{n_accounts} accounts x {users:,} users, 100/page, {latency_ms:g} ms/page"
    result = ScenarioResult(1, TITLE)
    with running_emulator(config) as emu:
        args = {
            "url": emu.url,
            "token": TOKEN,
            "accounts": account_ids(specs),
            "params": {"limit": 100},
        }
        ours_args = dict(args, rate_limits=NON_BINDING_LIMITS)
        slow = ctx.settings.slow_rounds
        sides = {
            "ours (batches)": Side("ours:ours_sweep", ours_args, expect_users=total),
            "ours (records)": Side(
                "ours:ours_sweep", dict(ours_args, consume="records"), expect_users=total
            ),
            "(b) naive gather": Side("baselines:naive_gather", args, expect_users=total),
            "(a) SDK approach": Side(
                "baselines:sdk_style_sweep", args, rounds=slow, expect_users=total
            ),
        }
        real = sdk_venv.ensure(ctx) if ctx.settings.real_sdk else None
        if real is not None:
            sides["(a') truto-python-sdk"] = Side(
                "",
                args,
                rounds=slow,
                script=sdk_venv.SCRIPT,
                python=str(real),
                expect_users=total,
            )
        else:
            result.notes.append(
                "The real truto-python-sdk side was skipped: "
                + (sdk_venv.last_error or "disabled (--no-real-sdk or --smoke).")
            )
        ctx.warm(emu, Side("baselines:warm_pages", args))
        runs = ctx.measure(emu, sides)
    result.raw = runs
    ours = median(runs["ours (batches)"], "users_per_s")
    for name, results in runs.items():
        err = first_error(results)
        if err:
            result.notes.append(f"{name} failed: {err}")
    b = median(runs["(b) naive gather"], "users_per_s")
    a = median(runs["(a) SDK approach"], "users_per_s")
    wall = median(runs["ours (batches)"], "wall_s")
    result.rows.append(
        Row(
            f"users/s, {label} (wall {fmt(wall, 's')})",
            fmt(ours),
            "(a) SDK approach",
            fmt(a) + f" (wall {fmt(median(runs['(a) SDK approach'], 'wall_s'), 's')})",
            f"{ratio(ours, a):.1f}x",
            ">= 20x",
            status(ours / a >= 20 if a == a and ours == ours else None),
        )
    )
    if "(a') truto-python-sdk" in runs:
        real_ups = median(runs["(a') truto-python-sdk"], "users_per_s")
        result.rows.append(
            Row(
                "users/s, same sweep",
                fmt(ours),
                "(a') truto-python-sdk 0.1.6 (PyPI, Python 3.12)",
                fmt(real_ups),
                f"{ratio(ours, real_ups):.1f}x",
                ">= 20x",
                status(ours / real_ups >= 20 if real_ups == real_ups else None),
            )
        )
    result.rows.append(
        Row(
            "users/s, same sweep",
            fmt(ours),
            "(b) naive gather",
            fmt(b),
            f"{ratio(ours, b):.2f}x",
            ">= 1x (no slower)",
            status(ours >= b if b == b and ours == ours else None),
        )
    )
    result.notes.append(
        "CPU per user: ours {:.1f} µs (GC {:.0%} of it), (b) {:.1f} µs (GC {:.0%}).".format(
            median(runs["ours (batches)"], "cpu_us_per_user"),
            median(runs["ours (batches)"], "gc_share_of_cpu"),
            median(runs["(b) naive gather"], "cpu_us_per_user"),
            median(runs["(b) naive gather"], "gc_share_of_cpu"),
        )
    )
    per_record = median(runs["ours (records)"], "users_per_s")
    result.rows.append(
        Row(
            "users/s, same sweep, `async for item in sweep` (one record at a time)",
            fmt(per_record),
            "(b) naive gather",
            fmt(b),
            f"{ratio(per_record, b):.2f}x",
            ">= 1x",
            status(per_record >= b if b == b and per_record == per_record else None),
        )
    )
    rss = median(runs["ours (batches)"], "peak_rss_mb")
    rss_b = median(runs["(b) naive gather"], "peak_rss_mb")
    buffered = median(runs["ours (batches)"], "peak_buffered_records")
    result.rows.append(
        Row(
            f"peak RSS (peak buffered records {buffered:,.0f}, cap 10,000)",
            fmt(rss, "MB"),
            "(b) naive gather",
            fmt(rss_b, "MB"),
            memory_ratio(rss, rss_b),
            "bounded",
            status(buffered <= 10_000 if buffered == buffered else None),
        )
    )
    return result
