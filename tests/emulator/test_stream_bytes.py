"""Stream bodies byte for byte: what the emulator sends is what the renderer renders.

The stream writes records batch by batch (``stream_batch``, and a batch never crosses a
``limit`` boundary), one HTTP chunk per write, and may serve a batch from its page cache.
These tests spell the expected chunks out of a fresh :class:`Renderer` (no cache) and
compare them with the chunks read off the wire: first request (rendered), repeat (cached),
with no room in the cache, and with a ``malformed`` body fault.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import pytest

from tests.emulator.helpers import USERS
from tests.support import TOKEN, EmulatorFactory
from truto_stream.emulator import Emulator
from truto_stream.emulator.render import Renderer
from truto_stream.emulator.writer import MALFORMED

pytestmark = pytest.mark.anyio

BATCH = 37
LIMIT = 50


@dataclass(frozen=True)
class Ask:
    """One stream request: its framing, fields, date and key."""

    framing: str = "envelope"
    meta: str = "after"
    excluded: frozenset[str] = frozenset()
    date: str | None = None
    key_by: str | None = None

    @property
    def keyed(self) -> bool:
        """Whether records come as ``"key":record`` pairs (only in envelopes)."""
        return self.key_by is not None and self.framing == "envelope"

    def params(self, account: str) -> dict[str, str]:
        q = {"integrated_account_id": account, "truto_response_format": "stream"}
        q["limit"] = str(LIMIT)
        if "remote_data" in self.excluded:
            q["truto_ignore_remote_data"] = "true"
        for n, name in enumerate(sorted(self.excluded - {"remote_data"})):
            q[f"truto_exclude_fields[{n}]"] = name
        if self.date is not None:
            q["date"] = self.date
        if self.key_by is not None:
            q["truto_key_by"] = self.key_by
        return q


def _bounds(stop: int, limit: int) -> Iterator[tuple[int, int]]:
    """The batches of a whole-account stream: ``BATCH`` records, cut at ``limit`` multiples
    (one simulated vendor page each)."""
    pos, boundary = 0, limit
    while pos < stop:
        end = min(pos + BATCH, stop, boundary)
        yield pos, end
        pos = end
        if pos == boundary:
            boundary += limit


def _records(emu: Emulator, account: str, ask: Ask) -> list[bytes]:
    """Each batch as the stream writes it, rendered by a renderer with no cache."""
    renderer = Renderer(emu.dataset, cache_bytes=0)
    acc = emu.dataset.account(account)
    date = ask.date or emu.config.default_date()
    out: list[bytes] = []
    keyed = ask.keyed
    limit = LIMIT if acc.vendor.limit is not None else max(1, acc.user_count)
    for pos, end in _bounds(acc.user_count, limit):
        if keyed:
            key_by = str(ask.key_by)
            chunk = renderer.keyed_records(acc, pos, end, ask.excluded, key_by, date=date)
        elif ask.framing == "ndjson":
            chunk = renderer.records(acc, pos, end, ask.excluded, "\n", date=date) + b"\n"
        else:
            chunk = renderer.records(acc, pos, end, ask.excluded, date=date)
        if ask.framing != "ndjson" and any(out) and chunk:
            chunk = b"," + chunk
        out.append(chunk)
    return out


def _expected(emu: Emulator, account: str, ask: Ask) -> list[bytes]:
    """Every chunk of the response: framing, batches (empty ones are not written), framing."""
    records = [chunk for chunk in _records(emu, account, ask) if chunk]
    n = emu.dataset.account(account).user_count
    meta = Renderer.meta(None, n, None)
    opener, closer = (b"{", b"}") if ask.keyed else (b"[", b"]")
    if ask.framing == "ndjson":
        return records
    if ask.framing == "array":
        return [b"[", *records, b"]"]
    if ask.meta == "before":
        return [b"{" + meta + b',"result":' + opener, *records, closer + b"}"]
    return [b'{"result":' + opener, *records, closer + b"," + meta + b"}"]


async def _chunks(emu: Emulator, params: dict[str, str]) -> list[bytes]:
    """The body as its HTTP chunks."""
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session,
        session.get(emu.url + USERS, params=params) as resp,
    ):
        assert resp.status == 200, await resp.text()
        assert resp.headers["Transfer-Encoding"] == "chunked"
        chunks, part = [], b""
        async for data, end_of_chunk in resp.content.iter_chunks():
            part += data
            if end_of_chunk and part:  # the end of the body may come as an empty "chunk"
                chunks.append(part)
                part = b""
        assert part == b""
        return chunks


def _accounts(emu: Emulator, integration: str) -> list[str]:
    return [a.id for a in emu.dataset.accounts if a.integration == integration][:2]


def _days_ago(days: int) -> str:
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)).isoformat()


#: (framing, meta placement): one emulator each.
FRAMINGS = [("envelope", "after"), ("envelope", "before"), ("ndjson", "after"), ("array", "after")]
#: Field options, dates and keys asked of the same accounts of one emulator, in turn.
VARIANTS = [
    Ask(),
    Ask(excluded=frozenset({"emails", "remote_data"})),
    Ask(excluded=frozenset({"name"}), date=_days_ago(9)),
    Ask(date=_days_ago(9)),
    Ask(key_by="id"),
    Ask(key_by="email", excluded=frozenset({"remote_data"})),
]


@pytest.mark.parametrize(("framing", "meta"), FRAMINGS)
@pytest.mark.parametrize("integration", ["claude", "cursor"])
async def test_stream_chunks_are_the_rendered_batches(
    emulator: EmulatorFactory, framing: str, meta: str, integration: str
) -> None:
    emu = await emulator(
        users=(150, 420), stream_framing=framing, stream_meta=meta, stream_batch=BATCH
    )
    for _ in range(2):  # rendered, then from the page cache
        for variant in VARIANTS:
            ask = dataclasses.replace(variant, framing=framing, meta=meta)
            for account in _accounts(emu, integration):
                assert await _chunks(emu, ask.params(account)) == _expected(emu, account, ask)
    assert emu.state.renderer.cache.hits > 0


@pytest.mark.parametrize("framing", ["envelope", "ndjson"])
async def test_stream_chunks_without_room_in_the_cache(
    emulator: EmulatorFactory, framing: str
) -> None:
    emu = await emulator(
        users=(300, 300), stream_framing=framing, stream_batch=BATCH, page_cache_mb=0
    )
    ask = Ask(framing=framing)
    account = _accounts(emu, "claude")[0]
    for _ in range(2):
        assert await _chunks(emu, ask.params(account)) == _expected(emu, account, ask)
    assert emu.state.renderer.cache.hits == 0


@pytest.mark.parametrize("framing", ["envelope", "ndjson"])
async def test_malformed_fault_splices_into_the_same_bytes(
    emulator: EmulatorFactory, framing: str
) -> None:
    at = 5_000
    emu = await emulator(
        users=(200, 200), stream_framing=framing, stream_batch=BATCH, faults=f"malformed:{at}"
    )
    ask = Ask(framing=framing)
    account = _accounts(emu, "claude")[0]
    body = b"".join(_expected(emu, account, ask))
    damaged = b"".join(await _chunks(emu, ask.params(account)))  # the first attempt fails
    assert damaged == body[:at] + MALFORMED + body[at:]
    assert b"".join(await _chunks(emu, ask.params(account))) == body  # the retry is whole
