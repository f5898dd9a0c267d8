"""Scenario 5: time to first record, and time to cancel a 200-account sweep.

Time to first record: 50 ms of upstream latency per page, 100 users per page; from the
call to the first record, for ``client.list`` (cold: the first request opens the
connection; warm: pooled) and for a 50-account sweep. Target: one page latency + 20 ms.

Cancel: a sweep over 200 accounts x 10,000 users (50 ms per page, 64 walks in flight)
is left with ``break`` after 5,000 records; timed to leaving the sweep's ``async with``,
to leaving the client's (every connection closed) and until the emulator's own stats
show no open connection. Target: under 100 ms.
"""

from __future__ import annotations

from benchmarks.emu import TOKEN, account_ids, accounts, running_emulator
from benchmarks.harness import Context, Side, first_error, median
from benchmarks.report import Row, ScenarioResult, fmt, status
from truto_stream.emulator import EmulatorConfig

TITLE = "time to first record, time to cancel"
SLACK_S = 0.020
CANCEL_TARGET_S = 0.100


def run(ctx: Context) -> ScenarioResult:
    """First-record latency, then cancellation, on separate emulators."""
    latency = 0.010 if ctx.smoke else 0.050
    result = ScenarioResult(5, TITLE)
    specs = accounts(8 if ctx.smoke else 50, ctx.size(1_000, 300))
    config = EmulatorConfig(
        accounts=specs, latency_ms=latency * 1000, token_limit=0, account_limit=0
    )
    with running_emulator(config) as emu:
        args = {
            "url": emu.url,
            "token": TOKEN,
            "accounts": account_ids(specs),
            "params": {"limit": 100},
            "repeat": 3 if ctx.smoke else 7,
        }
        ctx.warm(emu, Side("baselines:warm_pages", args))
        runs = ctx.measure(
            emu,
            {
                "ours": Side("ours:ours_first_record", args),
                "(b) naive": Side("baselines:naive_first_record", args),
            },
        )
    result.raw.update(runs)
    target = latency + SLACK_S
    for key, what, naive in (
        ("list_cold_s", "`client.list`, first call (opens the connection)", "one GET"),
        ("list_warm_median_s", "`client.list`, pooled connection", "one GET"),
        ("sweep_median_s", f"`client.sweep` over {len(specs)} accounts", "first of a gather"),
    ):
        value = median(runs["ours"], key)
        base = median(runs["(b) naive"], key)
        result.rows.append(
            Row(
                f"time to first record, {what}, {latency * 1000:g} ms/page",
                fmt(value * 1000, "ms"),
                f"(b) {naive} + `orjson.loads`",
                fmt(base * 1000, "ms"),
                f"{value / base:.2f}x",
                f"<= {target * 1000:g} ms",
                status(value <= target if value == value else None),
            )
        )
    n_cancel = 20 if ctx.smoke else 200
    cancel_specs = accounts(n_cancel, ctx.size(10_000, 1_000))
    config = EmulatorConfig(
        accounts=cancel_specs, latency_ms=latency * 1000, token_limit=0, account_limit=0
    )
    with running_emulator(config) as emu:
        args = {
            "url": emu.url,
            "token": TOKEN,
            "accounts": account_ids(cancel_specs),
            "params": {"limit": 100},
            "records_before_cancel": 5_000 if not ctx.smoke else 500,
        }
        runs = ctx.measure(emu, {"ours cancel": Side("ours:ours_cancel", args)})
    result.raw.update(runs)
    err = first_error(runs["ours cancel"]) or first_error(result.raw["ours"])
    if err:
        result.notes.append(f"failed: {err}")
    still = max((r.get("still_open", 0) for r in runs["ours cancel"]), default=0)
    for key, what in (
        ("sweep_exit_s", "leave the sweep's `async with`"),
        ("client_exit_s", "leave the client's `async with` too"),
        ("server_idle_s", "until the emulator sees no open connection"),
    ):
        value = median(runs["ours cancel"], key)
        result.rows.append(
            Row(
                f"cancel a {n_cancel}-account sweep: {what}",
                fmt(value * 1000, "ms"),
                "",
                "",
                "",
                f"< {CANCEL_TARGET_S * 1000:g} ms",
                status(value < CANCEL_TARGET_S if value == value else None),
            )
        )
    if still > 0:
        result.notes.append(f"{still} connection(s) still open on the emulator after 5 s.")
    return result
