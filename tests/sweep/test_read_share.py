"""Many walks at once read less each: what they hold while the caller is behind stays
bounded (issue #15: peak memory must not grow with concurrency beyond the buffer).

A walk hands on one read's records and waits for room in the sweep's buffer, while its
connection reads ahead (aiohttp buffers up to twice its read size). With every walk at a
256 KiB read, 512 stream walks grew by ~600 MB; the walks now share
``SWEEP_READ_BYTES`` (2 MiB), each between 32 KiB and 256 KiB.
"""

from __future__ import annotations

import time

import pytest

from tests.support import ClientFor, EmulatorFactory
from truto_stream._parse import (
    CHUNK_BYTES,
    MIN_READ_BYTES,
    SWEEP_READ_BYTES,
    read_bytes_for,
)
from truto_stream.emulator import AccountSpec

pytestmark = pytest.mark.anyio


def test_the_walks_share_the_sweeps_read_bytes() -> None:
    assert [read_bytes_for(n) for n in (1, 8, 16, 24, 32, 64, 512)] == [
        CHUNK_BYTES,
        CHUNK_BYTES,
        CHUNK_BYTES,
        SWEEP_READ_BYTES // 24,
        SWEEP_READ_BYTES // 32,
        MIN_READ_BYTES,
        MIN_READ_BYTES,
    ]
    assert read_bytes_for(0) == CHUNK_BYTES


async def test_many_stream_walks_hand_on_small_parts(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    accounts = tuple(AccountSpec("claude", f"t{i}", users=600) for i in range(96))
    emu = await emulator(accounts=accounts)
    ids = [a.id for a in emu.dataset.accounts]
    largest, users = 0, 0
    async with (
        client_for(emu) as client,
        client.sweep("usage-metering", "users", accounts=ids, mode="stream", concurrency=96) as s,
    ):
        async for batch in s.batches():
            largest = max(largest, len(batch.records))
            users += len(batch.records)
            if users < 5_000:
                time.sleep(0.002)  # noqa: ASYNC251 - a caller behind: the walks read ahead
    assert users == 96 * 600
    # A record of this data set is over 300 bytes of JSON. A walk's first batch is what
    # its connection had buffered (up to two reads) plus one read: at 32 KiB reads under
    # 330 records; at 256 KiB, an account's whole body (600) at once.
    assert largest <= 3 * MIN_READ_BYTES // 300, largest
