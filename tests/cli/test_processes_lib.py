"""``truto_stream.processes.ProcessSweep`` (what ``sweep --processes`` runs), as a library.

The emulator runs in a process of its own with Truto's limits on (the window scaled from
10 s to 1 s on both sides); its own request timestamps are the judge of the budget split.
"""

from __future__ import annotations

import bisect
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import pytest

from tests.cli.support import TOKEN
from truto_stream import RateLimits, RetryPolicy
from truto_stream.checkpoint import Checkpoint
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess
from truto_stream.errors import ConfigurationError
from truto_stream.page import Mode
from truto_stream.plan import lookup as lookup_module
from truto_stream.processes import ProcessSweep
from truto_stream.sweep import AccountQuery, sweep_key

pytestmark = pytest.mark.anyio

WINDOW = 1.0
#: Truto's limits scaled down with the window so that the per-token one binds: 60 per
#: token and 20 per account per second, split across two shard processes.
LIMITS = RateLimits(token_limit=60, account_limit=20, window=WINDOW)
NO_RETRY_ON_429 = {"retry": RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)}


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


async def _stats(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/_emulator/stats") as response:
            stats: dict[str, Any] = await response.json()
            return stats


@pytest.mark.parametrize(("mode", "given"), [("paged", False), ("stream", False), ("stream", True)])
async def test_two_processes_stay_within_truto_limits_with_zero_429s(
    mode: Mode, given: bool
) -> None:
    stream = mode == "stream"
    # Paged: 16 accounts x 12 pages of 25 = 192 requests, over 3 s at 60/s. Stream: one
    # request per account, 150 accounts. Given by id, each account is looked up while
    # planning (150 requests, in this process): the shards count those that are still in
    # the window when they start.
    count, users = (150, 30) if stream else (16, 300)
    accounts = tuple(AccountSpec("openai", f"t{i % 3}", users=users) for i in range(count))
    config = EmulatorConfig(
        tokens=(TOKEN,), seed=9, accounts=accounts, rate_window_s=WINDOW,
        token_limit=LIMITS.token_limit, account_limit=LIMITS.account_limit,
        stats_timestamps=50,
    )  # fmt: skip
    dataset = Dataset(config)
    want = {(a.id, uid) for a in dataset.accounts for uid in dataset.user_ids(a.id)}
    with EmulatorProcess(config) as emu:
        sweep = ProcessSweep(
            "usage-metering", "users", processes=2, mode=mode,
            accounts=[a.id for a in dataset.accounts] if given else AccountQuery(),
            params=None if stream else {"limit": 25}, token=TOKEN, base_url=emu.url,
            rate_limits=LIMITS, client_options=NO_RETRY_ON_429, concurrency=32,
        )  # fmt: skip
        got: list[tuple[str, str]] = []
        with anyio.fail_after(60):
            async with sweep:
                async for batch in sweep.batches():
                    rows = [orjson.loads(line) for line in batch.ndjson.splitlines()]
                    assert len(rows) == batch.records
                    got += [(r["integrated_account_id"], r["id"]) for r in rows]
        stats = await _stats(emu.url)
    assert sweep.processes == 2
    assert len(got) == len(set(got)) and set(got) == want
    assert sweep.report.ok and sweep.report.count("done") == count
    assert stats["rate_limited"] == {"truto": 0, "remote": 0}
    every = [t for times in stats["request_times"].values() for t in times]
    assert _max_in_window(every, WINDOW) <= LIMITS.token_limit
    for times in stats["request_times"].values():
        assert _max_in_window(times, WINDOW) <= LIMITS.account_limit


async def test_commits_reach_the_checkpoint_while_the_shards_run(tmp_path: Path) -> None:
    accounts = tuple(AccountSpec("openai", "t", users=400) for _ in range(4))
    config = EmulatorConfig(tokens=(TOKEN,), seed=4, accounts=accounts, latency_ms=20)
    db = tmp_path / "sweep.db"
    with EmulatorProcess(config) as emu:
        sweep = ProcessSweep(
            "usage-metering", "users", processes=2, accounts=AccountQuery(),
            params={"limit": 10}, token=TOKEN, base_url=emu.url, checkpoint=str(db),
            commits="manual", concurrency=2,
        )  # fmt: skip
        with anyio.fail_after(30):
            async with sweep:
                written = 0
                async for batch in sweep.batches():
                    written += batch.records
                    sweep.commit({"records": written})
                    if written >= 200:
                        break
                # The sweep is still open: the background flusher wrote the commit.
                while _sink(db) != {"records": written}:  # noqa: ASYNC110
                    await anyio.sleep(0.02)
                rows = sqlite3.connect(db).execute("SELECT count(*) FROM units").fetchone()
    assert rows[0] >= 1


def _sink(db: Path) -> Any:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT position FROM sink").fetchone()
    return orjson.loads(row[0]) if row else None


async def test_a_checkpoint_of_another_sweep_is_refused(tmp_path: Path) -> None:
    key = sweep_key("http://127.0.0.1:9", "usage-metering", "users", {}, "stream")
    checkpoint = await Checkpoint.open(tmp_path / "other.db", key)
    try:
        sweep = ProcessSweep(
            "usage-metering", "users", processes=2, accounts=["a"], token=TOKEN,
            base_url="http://127.0.0.1:9", checkpoint=checkpoint,
        )  # fmt: skip
        with pytest.raises(ConfigurationError, match="another sweep"):
            async with sweep:
                pass
    finally:
        await checkpoint.aclose()


def test_the_token_stays_out_of_the_repr() -> None:
    sweep = ProcessSweep("usage-metering", "users", processes=2, accounts=["a"], token=TOKEN)
    assert TOKEN not in repr(sweep)


async def test_the_shards_count_what_planning_sent_on_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Planning looks each account up (ids given, dates asked): 30 requests at 10 per
    second, in this process, just before the shards start. Each shard has 5 per second;
    unless it counts the planning's requests still in the window, the first ones overrun
    the token's limit. (One account a lookup request: batched, they would be one.)"""
    monkeypatch.setattr(lookup_module, "LOOKUP_BATCH", 1)
    limits = RateLimits(token_limit=10, account_limit=10, window=WINDOW)
    accounts = tuple(AccountSpec("openai", "t", users=20) for _ in range(30))
    config = EmulatorConfig(
        tokens=(TOKEN,), seed=2, accounts=accounts, rate_window_s=WINDOW,
        token_limit=limits.token_limit, account_limit=limits.account_limit,
    )  # fmt: skip
    ids = [a.id for a in Dataset(config).accounts]
    with EmulatorProcess(config) as emu:
        sweep = ProcessSweep(
            "usage-metering", "users", processes=2, accounts=ids, token=TOKEN,
            dates=["2026-11-20"], today="2026-11-28",
            base_url=emu.url, rate_limits=limits, client_options=NO_RETRY_ON_429,
        )  # fmt: skip
        with anyio.fail_after(30):
            async with sweep:
                records = sum([batch.records async for batch in sweep.batches()])
        stats = await _stats(emu.url)
    assert records == 30 * 20
    assert stats["requests"]["by_route"]["/integrated-account/{id}"] == 30
    assert stats["rate_limited"] == {"truto": 0, "remote": 0}
