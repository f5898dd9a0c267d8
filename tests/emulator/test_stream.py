"""truto_response_format=stream: every framing carries the same records as paged mode."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from tests.emulator.helpers import USERS, users_page, walk
from tests.support import TOKEN, EmulatorFactory
from truto_stream.emulator import Emulator

pytestmark = pytest.mark.anyio


def _claude(emu: Emulator) -> str:
    return next(a.id for a in emu.dataset.accounts if a.integration == "claude")


async def _stream_raw(emu: Emulator, acc: str, **params: str) -> tuple[dict[str, str], bytes]:
    q = {"integrated_account_id": acc, "truto_response_format": "stream", **params}
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s,
        s.get(emu.url + USERS, params=q) as r,
    ):
        assert r.status == 200, await r.text()
        return dict(r.headers), await r.read()


async def _stream_records(emu: Emulator, acc: str, framing: str, **params: str) -> list[Any]:
    if framing == "page":
        records: list[Any] = []
        cursor: str | None = None
        while True:
            extra = dict(params)
            if cursor is not None:
                extra["next_cursor"] = cursor
            headers, body = await _stream_raw(emu, acc, **extra)
            assert headers["Transfer-Encoding"] == "chunked"
            page = orjson.loads(body)
            records += page["result"]
            cursor = page["next_cursor"]
            if cursor is None:
                return records
    headers, body = await _stream_raw(emu, acc, **params)
    assert headers["Transfer-Encoding"] == "chunked"
    if framing == "ndjson":
        assert headers["Content-Type"].startswith("application/x-ndjson")
        assert body.endswith(b"\n")
        return [orjson.loads(line) for line in body.splitlines()]
    parsed = orjson.loads(body)
    if framing == "array":
        assert isinstance(parsed, list)
        return parsed
    assert parsed["result_count"] == len(parsed["result"])
    assert parsed["next_cursor"] is None
    result: list[Any] = parsed["result"]
    return result


@pytest.mark.parametrize("framing", ["envelope", "ndjson", "array", "page"])
@pytest.mark.parametrize("integration", ["claude", "openai", "cursor"])
async def test_stream_framings_carry_paged_records(
    emulator: EmulatorFactory, framing: str, integration: str
) -> None:
    emu = await emulator(users=(1234, 1234), stream_framing=framing, stream_batch=100)
    acc = next(a.id for a in emu.dataset.accounts if a.integration == integration)
    paged = await walk(emu, acc)
    streamed = await _stream_records(emu, acc, framing)
    assert streamed == paged
    assert len(streamed) == 1234


@pytest.mark.parametrize("meta", ["before", "after", "both"])
async def test_envelope_meta_placement(emulator: EmulatorFactory, meta: str) -> None:
    emu = await emulator(users=(20, 20), stream_meta=meta)
    acc = _claude(emu)
    _, body = await _stream_raw(emu, acc)
    parsed = orjson.loads(body)
    assert len(parsed["result"]) == parsed["result_count"] == 20
    keys = list(parsed)
    if meta == "before":
        assert keys[-1] == "result"
    elif meta == "after":
        assert keys[0] == "result"
    else:
        assert keys[0] == "result_count"
        assert keys[-1] != "result"


async def test_stream_respects_field_options(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(50, 50), stream_framing="ndjson")
    acc = _claude(emu)
    _, body = await _stream_raw(
        emu, acc, truto_ignore_remote_data="true", **{"truto_exclude_fields[]": "emails"}
    )
    for line in body.splitlines():
        user = orjson.loads(line)
        assert "remote_data" not in user
        assert "emails" not in user


async def test_stream_empty_account(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(0, 0))
    acc = _claude(emu)
    _, body = await _stream_raw(emu, acc)
    assert orjson.loads(body)["result"] == []
    assert (await users_page(emu, acc)).json() == {
        "result": [],
        "next_cursor": None,
        "prev_cursor": None,
        "result_count": 0,
    }


async def test_breaking_out_closes_the_connection(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(200_000, 200_000), stream_framing="ndjson", bandwidth_bps=2_000_000)
    acc = _claude(emu)
    q = {"integrated_account_id": acc, "truto_response_format": "stream"}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
        resp = await s.get(emu.url + USERS, params=q)
        await resp.content.readline()
        snap = emu.stats_snapshot()
        assert snap["responses"]["in_progress"] == 1
        assert snap["connections"]["open"] == 1
        resp.close()  # drop the connection mid-body
    snap = await emu.wait_idle(5.0)
    assert snap["responses"]["in_progress"] == 0
    assert snap["connections"]["open"] == 0
    assert snap["responses"]["aborted"] == 1
