"""Scenario 2: one large tenant in stream mode, in each framing the emulator serves.

One account of 1,000,000 users in one ``truto_response_format=stream`` response
(``page`` framing: stream pages of 1,000 users following ``next_cursor``). Targets: peak
RSS under 100 MB (against the naive whole-body read's), users/s at least 0.85x
``ijson.items`` over the same bytes in memory; ``orjson.loads`` of the whole body shown
for reference.
"""

from __future__ import annotations

from benchmarks.emu import TOKEN, account_ids, accounts, running_emulator
from benchmarks.harness import Context, Side, first_error, median
from benchmarks.limits import NON_BINDING_LIMITS
from benchmarks.procs import SideResult
from benchmarks.report import Row, ScenarioResult, fmt, memory_ratio, ratio, status
from truto_stream.emulator import EmulatorConfig
from truto_stream.emulator.config import StreamFraming

TITLE = "large tenant, stream mode"
FRAMINGS: tuple[StreamFraming, ...] = ("envelope", "ndjson", "array", "page")
RSS_TARGET_MB = 100.0
SPEED_TARGET = 0.85


def _ceiling(results: list[SideResult], parser: str) -> float:
    values = [r[parser] for r in results if "error" not in r and parser in r]
    return median(values, "users_per_s")


def run(ctx: Context) -> ScenarioResult:
    """For each framing: ours, (b) whole body + orjson, and the in-memory ceilings."""
    users = ctx.size(1_000_000, 3_000)
    specs = accounts(1, users)
    result = ScenarioResult(2, TITLE)
    for framing in FRAMINGS:
        config = EmulatorConfig(
            accounts=specs, stream_framing=framing, token_limit=0, account_limit=0
        )
        with running_emulator(config) as emu:
            args = {
                "url": emu.url,
                "token": TOKEN,
                "accounts": account_ids(specs),
                "params": {"limit": 1000} if framing == "page" else {},
                "stream": True,
                "mode": "stream",
                "framing": framing,
                # The emulator's limits are off here; the client's limiter runs, not binding.
                "rate_limits": NON_BINDING_LIMITS,
            }
            ijson_args = dict(args, parsers=["ijson", "library"])
            orjson_args = dict(args, parsers=["orjson"])
            sides = {
                "ours": Side("ours:ours_walk", dict(args, framing=None), expect_users=users),
                # The whole-body sides take 20-40 s and GBs each at 1M users: one round.
                "(b) naive whole body": Side(
                    "baselines:naive_gather", args, rounds=1, expect_users=users
                ),
                # One process per parser: a 5 GB orjson heap would slow the ijson run after it.
                "(c) ijson in memory": Side(
                    "baselines:parse_ceilings", ijson_args, expect_users=users
                ),
                "(c) orjson in memory": Side(
                    "baselines:parse_ceilings", orjson_args, rounds=1, expect_users=users
                ),
            }
            if framing != "page":
                sides["(b') ijson.items_async over HTTP"] = Side(
                    "baselines:naive_stream_ijson", args, rounds=1, expect_users=users
                )
            runs = ctx.measure(emu, sides, rounds=ctx.heavy_rounds)
        for name, res in runs.items():
            result.raw[f"{framing}/{name}"] = res
            err = first_error(res)
            if err:
                result.notes.append(f"{framing}, {name} failed: {err}")
        ours_rss = median(runs["ours"], "peak_rss_mb")
        naive_rss = median(runs["(b) naive whole body"], "peak_rss_mb")
        ours_ups = median(runs["ours"], "users_per_s")
        ijson_ups = _ceiling(runs["(c) ijson in memory"], "ijson")
        orjson_ups = _ceiling(runs["(c) orjson in memory"], "orjson")
        library_ups = _ceiling(runs["(c) ijson in memory"], "library")
        direct_ups = median(runs.get("(b') ijson.items_async over HTTP", []), "users_per_s")
        naive_ups = median(runs["(b) naive whole body"], "users_per_s")
        size = median(runs["(c) ijson in memory"], "bytes") / 2**20
        what = f"{framing}, {users:,} users ({fmt(size, 'MiB')})"
        result.rows += [
            Row(
                f"peak RSS, {what}",
                fmt(ours_rss, "MB"),
                "(b) whole body + orjson",
                fmt(naive_rss, "MB"),
                memory_ratio(ours_rss, naive_rss),
                f"< {RSS_TARGET_MB:g} MB",
                status(ours_rss < RSS_TARGET_MB if ours_rss == ours_rss else None),
            ),
            Row(
                f"users/s, {framing}",
                fmt(ours_ups),
                "(c) `ijson.items` in memory",
                fmt(ijson_ups),
                f"{ratio(ours_ups, ijson_ups):.2f}x",
                f">= {SPEED_TARGET}x",
                status(ours_ups / ijson_ups >= SPEED_TARGET if ijson_ups == ijson_ups else None),
            ),
            *_direct_row(framing, ours_ups, direct_ups),
            Row(
                f"users/s, {framing}, our parser alone over the bytes in memory (diagnostic)",
                fmt(library_ups),
                "(c) `ijson.items` in memory",
                fmt(ijson_ups),
                f"{ratio(library_ups, ijson_ups):.2f}x",
                "(reference)",
            ),
            Row(
                f"users/s, {framing}",
                fmt(ours_ups),
                "(c) `orjson.loads` whole body in memory / (b) over HTTP",
                f"{fmt(orjson_ups)} / {fmt(naive_ups)}",
                f"{ratio(ours_ups, orjson_ups):.2f}x / {ratio(ours_ups, naive_ups):.2f}x",
                "(reference)",
            ),
        ]
    return result


def _direct_row(framing: str, ours_ups: float, direct_ups: float) -> list[Row]:
    """The (b') row: the floor of streaming over this network path (not for ``page``)."""
    if framing == "page":
        return []
    return [
        Row(
            f"users/s, {framing}",
            fmt(ours_ups),
            "(b') `ijson.items_async(resp.content)` over HTTP",
            fmt(direct_ups),
            f"{ratio(ours_ups, direct_ups):.2f}x",
            "(reference)",
        )
    ]
