"""Live progress of a planned sweep: ETA, request rate against the limit, budget waits."""

from __future__ import annotations

import re

import anyio
import pytest

from tests.support import FAST_RETRY, TOKEN, EmulatorFactory
from truto_stream import AccountQuery, Client, RateLimits
from truto_stream.cli.progress import PlainProgress, RateMeter, Snapshot
from truto_stream.emulator import AccountSpec

pytestmark = pytest.mark.anyio

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z usage-metering/users: ")


def test_the_rate_meter_looks_back_one_span() -> None:
    meter = RateMeter(span=10.0)
    assert meter.add(0.0, 0) == 0.0
    assert meter.add(5.0, 50) == pytest.approx(10.0)
    assert meter.add(10.0, 150) == pytest.approx(15.0)
    assert meter.add(20.0, 150) == pytest.approx(0.0)  # nothing in the last 10 s


def test_a_snapshot_line_says_where_the_sweep_stands() -> None:
    s = Snapshot(accounts=10, finished=4, done=4, failed=0, skipped=0, running=6,
                 records=12_000, requests=120, retries=1, rate_limited=0, bytes=0,
                 elapsed=10.0, units=40, planned_requests=600, request_rate=48.0,
                 limit_rate=50.0, waiting_token=3)  # fmt: skip
    line = s.line()
    assert line.startswith("4/40 units, 12,000 records (1,200/s), 120/~600 requests ")
    assert "(48.0/s of 50/s allowed)" in line
    assert "ETA 10 s" in line  # 480 requests left at 48/s
    assert "waiting on the per-token budget" in line
    past = Snapshot(**{**s.__dict__, "requests": 700, "waiting_token": 0, "waiting_account": 2})
    assert "ETA past the estimate" in past.line() and "per-account budgets" in past.line()


async def test_plain_progress_prints_the_plan_then_timestamped_lines(
    emulator: EmulatorFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # The token budget binds (60 requests at 10 per 0.5 s): the progress sees it wait.
    accounts = tuple(AccountSpec("openai", "t", users=1_000) for _ in range(6))
    emu = await emulator(accounts=accounts, token_limit=10, account_limit=50, rate_window_s=0.5)
    limits = RateLimits(token_limit=10, account_limit=50, window=0.5)
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY, rate_limits=limits) as c:
        async with c.sweep("usage-metering", "users", accounts=AccountQuery(),
                           assume_records=1_000) as sweep:  # fmt: skip
            async with anyio.create_task_group() as tg:
                tg.start_soon(PlainProgress("usage-metering/users", interval=0.1).run, sweep)
                async for _ in sweep.batches():
                    pass
                tg.cancel_scope.cancel()
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "plan: usage-metering/users, paged"
    lines = [line for line in err if STAMP.match(line)]
    assert len(lines) >= 10
    assert all("/6 units" in line and "/~60 requests" in line for line in lines)
    assert any("of 20/s allowed" in line for line in lines)
    assert any("waiting on the per-token budget" in line for line in lines)
    assert any(re.search(r"ETA \d+ s", line) for line in lines)
