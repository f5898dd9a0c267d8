"""Many walks at once read less each: what they hold while the caller is behind stays
bounded (issue #15: peak memory must not grow with concurrency beyond the buffer).

A walk hands on one read's records and waits for room in the sweep's buffer, while its
connection reads ahead (aiohttp buffers up to twice its read size). With every walk at a
256 KiB read, 512 stream walks grew by ~600 MB; the walks now share
``SWEEP_READ_BYTES`` (2 MiB), each between 32 KiB and 256 KiB.
"""

from __future__ import annotations

import math
import time

import pytest

from tests.support import ClientFor, EmulatorFactory
from truto_stream._fetch import ListRequest
from truto_stream._parse import (
    CHUNK_BYTES,
    MIN_READ_BYTES,
    ORJSON_MAX_BYTES,
    PAGE_BUFFER_BYTES,
    SWEEP_READ_BYTES,
    read_bytes_for,
)
from truto_stream.emulator import AccountSpec
from truto_stream.page import Mode

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


def test_a_pages_walks_read_what_their_connection_buffers() -> None:
    # A page's connection buffers at least PAGE_BUFFER_BYTES ahead whatever the read
    # size: smaller reads would only cut its records into more parts.
    def read_size(walks: int, mode: Mode) -> int:
        request = ListRequest.unified(
            "usage-metering", "users", account_id="a", mode=mode, read_bytes=read_bytes_for(walks)
        )
        return request.read_size

    assert [read_size(n, "paged") for n in (1, 16, 64, 512)] == [
        CHUNK_BYTES,
        CHUNK_BYTES,
        max(MIN_READ_BYTES, PAGE_BUFFER_BYTES),
        max(MIN_READ_BYTES, PAGE_BUFFER_BYTES),
    ]
    assert read_size(64, "stream") == read_bytes_for(64) == MIN_READ_BYTES


async def test_many_paged_walks_hand_a_large_page_on_in_few_parts(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    # A page over ORJSON_MAX_BYTES is decoded as it is read: at 32 KiB reads (the stream
    # share of 64 walks) a 1,000-user page went on in ~25 parts, each its own hand-off
    # to the caller (measured: 16.3 -> 14.1 µs of CPU per user at 128 KiB reads).
    accounts = tuple(AccountSpec("claude", f"t{i}", users=1_000) for i in range(3))
    emu = await emulator(accounts=accounts)
    ids = [a.id for a in emu.dataset.accounts]
    parts = 0
    async with (
        client_for(emu) as client,
        client.sweep(
            "usage-metering", "users", accounts=ids, params={"limit": 1_000}, concurrency=64
        ) as s,
    ):
        async for _batch in s.batches():
            parts += 1
    page_bytes = emu.stats_snapshot()["bytes_sent"] / len(ids)
    assert page_bytes > ORJSON_MAX_BYTES  # read and decoded part by part
    # A read returns less than asked when less has arrived: twice the full reads' count.
    reads = 2 * math.ceil(page_bytes / PAGE_BUFFER_BYTES)
    assert parts <= len(ids) * reads, (parts, page_bytes)
