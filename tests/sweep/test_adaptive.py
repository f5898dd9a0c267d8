"""A default stream sweep adds walks only when they deliver records sooner (issue #15):
it starts with 2, doubles them up to its cap (8) against slow streams, stays at 2 when
the process is busy, the caller is slow, or the server is the limit (it goes back)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from tests.support import FAST_RETRY, TOKEN, EmulatorFactory
from truto_stream import Client
from truto_stream.emulator import AccountSpec, Emulator
from truto_stream.sweep import Sweep

pytestmark = pytest.mark.anyio


async def _emulator(
    emulator: EmulatorFactory, accounts: int, users: int, **config: Any
) -> Emulator:
    specs = tuple(
        AccountSpec(integration="claude", tenant_id="t", users=users) for _ in range(accounts)
    )
    return await emulator(
        accounts=specs, account_limit=0, token_limit=0, stream_framing="ndjson", **config
    )


async def _sweep(
    emu: Emulator, *, pause: float = 0.0, limit: int | None = None, **options: Any
) -> tuple[Sweep, int]:
    """Sweep every account of ``emu`` in stream mode; ``pause``: the caller's time per batch;
    ``limit``: the records between two of the emulator's latencies (a vendor's page)."""
    ids = [a.id for a in emu.dataset.accounts]
    users = 0
    params = None if limit is None else {"limit": limit}
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY, rate_limits=None) as client:
        plan = await client.plan(
            "usage-metering", "users", accounts=ids, mode="stream", params=params
        )
        emu.reset_stats()  # the plan's lookups are not walks
        async with client.sweep(
            "usage-metering", "users", plan=plan, mode="stream", **options
        ) as sweep:
            async for _, records in sweep.batches():
                users += len(records)
                if pause:
                    await asyncio.sleep(pause)
    return sweep, users


async def test_a_default_stream_sweep_ramps_up_to_its_cap_against_slow_streams(
    emulator: EmulatorFactory,
) -> None:
    # Every 10 records a stream waits 8 ms (a vendor's page): each stream is
    # latency-bound, the process idles, and each doubling doubles the rate. At 8 walks
    # the process (emulator included) is still idle three quarters of the time: with
    # faster streams (20 ms per 100 records) it was CPU-bound at 8 walks on a slow
    # machine, and the ramp rightly stopped at 4. Small pages keep a 0.1 s period's rate
    # smooth: at 40 ms per 50 records a period held 2 or 3 pages a walk, its rate swung
    # by a third, and an unlucky pair of periods judged the step to 4 walks a loss (the
    # ramp went back to 2: a clean-clone CI run failed so).
    emu = await _emulator(emulator, 16, 800, latency_ms=8)
    sweep, users = await _sweep(emu, limit=10)
    assert users == 16 * 800
    assert sweep.adaptive and sweep.concurrency == 8
    assert sweep.report.walks == 8
    assert emu.stats_snapshot()["responses"]["most_in_progress"] == 8


async def test_a_default_stream_sweep_stays_at_two_walks_when_the_process_is_busy(
    emulator: EmulatorFactory,
) -> None:
    # The emulator serves from this process's loop with no latency: the loop never
    # idles while the caller waits, so more walks could not be served sooner.
    emu = await _emulator(emulator, 10, 5_000)
    sweep, users = await _sweep(emu)
    assert users == 10 * 5_000
    assert sweep.report.walks == 2


async def test_no_walk_is_added_for_a_slow_caller(emulator: EmulatorFactory) -> None:
    # Slow streams, but a slower caller: the buffer stays full, never dry.
    emu = await _emulator(emulator, 8, 500, latency_ms=20)
    sweep, users = await _sweep(emu, pause=0.03, buffer_records=300)
    assert users == 8 * 500
    assert sweep.report.walks == 2
    assert emu.stats_snapshot()["responses"]["most_in_progress"] == 2


async def test_a_given_concurrency_is_the_walks_run(emulator: EmulatorFactory) -> None:
    emu = await _emulator(emulator, 8, 500, latency_ms=20)
    sweep, users = await _sweep(emu, concurrency=3)
    assert users == 8 * 500
    assert not sweep.adaptive and sweep.report.walks == 3
    assert sweep.report.to_dict()["walks"] == 3
    assert emu.stats_snapshot()["responses"]["most_in_progress"] == 3


@asynccontextmanager
async def _shared_pace_server(records_per_s: int) -> AsyncIterator[tuple[str, list[int]]]:
    """NDJSON streams that share one pace, however many are open: more connections are
    not faster (a server at its limit). Yields the URL and, per response started, how
    many were in progress (itself included)."""
    lock = asyncio.Lock()
    started: list[int] = []
    open_now = 0
    piece = 20  # records a write; one write at a time across all streams
    # 1 KB records: a body is read as it arrives, not whole (the first reads take up to
    # 256 KiB that has arrived).
    pad = "x" * 1_000

    async def body(writer: asyncio.StreamWriter, account: str, users: int) -> None:
        for i in range(0, users, piece):
            lines = b"".join(
                orjson.dumps({"id": f"{account}-{j}", "pad": pad}) + b"\n"
                for j in range(i, i + piece)
            )
            async with lock:
                writer.write(f"{len(lines):x}\r\n".encode() + lines + b"\r\n")
                await writer.drain()
                await asyncio.sleep(piece / records_per_s)
        writer.write(b"0\r\n\r\n")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                query = head.split(b" ", 2)[1].decode().partition("?")[2]
                account = dict(p.split("=", 1) for p in query.split("&"))["integrated_account_id"]
                open_now += 1
                started.append(open_now)
                try:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                    )
                    await body(writer, account, 1_000)
                finally:
                    open_now -= 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", started
    finally:
        server.close()
        await server.wait_closed()


async def test_walks_that_do_not_pay_off_end_between_units() -> None:
    async with _shared_pace_server(10_000) as (url, started):
        ids = [f"acc{i}" for i in range(16)]
        users = 0
        async with (
            Client(token=TOKEN, base_url=url, retry=FAST_RETRY, rate_limits=None) as client,
            client.sweep(
                "usage-metering", "users", accounts=ids, mode="stream", framing="ndjson"
            ) as sweep,
        ):
            async for _, records in sweep.batches():
                users += len(records)
    assert users == 16 * 1_000
    # The process idled while the caller waited: the ramp tried 4 walks, found the
    # server no faster, and went back to 2; the walks beyond them ended between units.
    assert sweep.report.walks == 4
    assert max(started) == 4
    assert started[-1] <= 2, started


async def test_adaptive_makes_a_given_concurrency_a_cap_in_paged_mode_too(
    emulator: EmulatorFactory,
) -> None:
    # 20 ms a page: each walk waits on the network, so the ramp doubles from 2 (paged
    # sweeps run their 64 from the start unless asked).
    emu = await _emulator(emulator, 40, 500, latency_ms=20)
    ids = [a.id for a in emu.dataset.accounts]
    users = 0
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY, rate_limits=None) as client:
        plan = await client.plan("usage-metering", "users", accounts=ids, params={"limit": 100})
        emu.reset_stats()
        sweep = client.sweep("usage-metering", "users", plan=plan, concurrency=16, adaptive=True)
        async with sweep:
            async for _, records in sweep.batches():
                users += len(records)
    assert users == 40 * 500
    assert sweep.adaptive and sweep.concurrency == 16
    most = emu.stats_snapshot()["responses"]["most_in_progress"]
    assert 2 < sweep.report.walks <= 16 and most <= sweep.report.walks


async def test_adaptive_false_runs_the_stream_default_from_the_start(
    emulator: EmulatorFactory,
) -> None:
    emu = await _emulator(emulator, 8, 500, latency_ms=20)
    sweep, users = await _sweep(emu, adaptive=False)
    assert users == 8 * 500
    assert not sweep.adaptive and sweep.report.walks == 8
    assert emu.stats_snapshot()["responses"]["most_in_progress"] == 8
