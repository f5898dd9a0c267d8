"""Arrow batches from record texts over real HTTP: the same tables as from dicts.

Against the emulator, for each of its integrations' accounts and each way a body can be
framed (an envelope, NDJSON, a bare array, a page of the stream; and ordinary pages),
``Client.arrow_batches`` (records handed on as their JSON text, batches built without a
dict per record) gives exactly the table that the dicts of ``Client.pages`` give. A
server that echoes the token in records: the texts are scrubbed before anything reads
them, as the dicts are.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

pa = pytest.importorskip("pyarrow")

from tests.client.rawhttp import Request, raw_server, send  # noqa: E402
from tests.client.test_secrets import TOKEN as SECRET  # noqa: E402
from tests.client.test_secrets import needles  # noqa: E402
from tests.support import FAST_RETRY, TOKEN, EmulatorFactory  # noqa: E402
from truto_stream import (  # noqa: E402
    AccountQuery,
    Client,
    arrow,
)
from truto_stream.arrow import RecordBatcher, model_schema  # noqa: E402
from truto_stream.errors import StreamError  # noqa: E402

pytestmark = pytest.mark.anyio

USERS = ("usage-metering", "users")


async def _dict_table(client: Client, account: str, **options: Any) -> Any:
    """The batches the dict path builds (records decoded to dicts, then converted)."""
    dated = "params" in options and "date" in options["params"]
    batcher = RecordBatcher(model_schema(*USERS, dated=dated), batch_rows=50, dated=dated)
    day = options.get("params", {}).get("date")
    batches = []
    async for page in client.pages(*USERS, account=account, **options):
        assert all(isinstance(r, dict) for r in page.records)
        batches += batcher.add(account, page.records, day)
    last = batcher.flush()
    batches += [last] if last is not None else []
    return pa.Table.from_batches(batches, schema=batcher.schema)


async def _text_table(client: Client, account: str, **options: Any) -> Any:
    batches = [b async for b in client.arrow_batches(*USERS, account=account, **options)]
    dated = "params" in options and "date" in options["params"]
    return pa.Table.from_batches(batches, schema=model_schema(*USERS, dated=dated))


@pytest.mark.parametrize(
    ("mode", "framing"),
    [("paged", "envelope"), *(("stream", f) for f in ("envelope", "ndjson", "array", "page"))],
)
async def test_every_integration_and_framing_gives_the_dict_paths_table(
    emulator: EmulatorFactory, mode: str, framing: str
) -> None:
    emu = await emulator(users=(30, 260), seed=5, stream_framing=framing)
    accounts = [a for a in emu.dataset.accounts if a.status == "active" and not a.is_blocked]
    assert {a.integration for a in accounts} == {"claude", "openai", "cursor"}
    options: dict[str, Any] = (
        {"mode": mode, "params": {"limit": 40}} if mode == "paged" else {"mode": mode}
    )
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        for account in accounts:
            want = await _dict_table(client, account.id, **options)
            got = await _text_table(client, account.id, **options)
            assert want.num_rows == len(list(emu.dataset.user_ids(account.id))) > 0
            assert got.equals(want), account.integration


async def test_a_sweeps_texts_decode_to_its_dicts(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(5, 80), seed=4)
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep(*USERS, accounts=AccountQuery(), as_text=True) as sweep:
            texts: list[tuple[str, Any]] = [
                (a, r) async for a, records in sweep.batches() for r in records
            ]
        async with client.sweep(*USERS, accounts=AccountQuery()) as sweep:
            dicts = [(a, r) async for a, records in sweep.batches() for r in records]
    assert all(isinstance(r, bytes) for _, r in texts)
    # The emulator's users are read by the text path itself (no batch falls back to dicts).
    text_columns = arrow._Columns(model_schema(*USERS)).texts
    assert text_columns is not None and text_columns.arrays([r for _, r in texts]) is not None
    decoded = sorted(((a, orjson.loads(r)) for a, r in texts), key=lambda x: (x[0], x[1]["id"]))
    assert decoded == sorted(dicts, key=lambda x: (x[0], x[1]["id"]))


async def test_texts_are_scrubbed_of_the_token_before_they_are_read() -> None:
    echoes = needles()
    records = [
        {"id": f"u{i}", "name": f"n {echoes[i % len(echoes)]}", "remote_data": {"k": echoes}}
        for i in range(300)
    ]

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, orjson.dumps({"result": records, "next_cursor": None}))

    async with raw_server(handler) as url:
        async with Client(token=SECRET, base_url=url, retry=FAST_RETRY, rate_limits=None) as c:
            table = pa.Table.from_batches([b async for b in c.arrow_batches(*USERS, account="acc")])
    text = orjson.dumps(table.to_pylist()).decode()
    assert table.num_rows == 300 and "<redacted>" in text
    assert [echo for echo in echoes if echo in text] == []


async def test_ndjson_lines_whose_brackets_pair_across_them_fail_as_dicts_would() -> None:
    # As many objects as lines in the lines' array text, none of them a line: the text
    # path must not hand the lines on as records, but fail as the dict path does.
    body = b'{"id":"a","tags":[1\n2]}\n{"id":"x"},{"id":"y"}\n'

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, body, {"Content-Type": "application/x-ndjson"})

    async with raw_server(handler) as url:
        async with Client(token=TOKEN, base_url=url, retry=FAST_RETRY, rate_limits=None) as c:
            with pytest.raises(StreamError) as texts:
                [b async for b in c.arrow_batches(*USERS, account="acc", mode="stream")]
            with pytest.raises(StreamError) as dicts:
                [p async for p in c.pages(*USERS, account="acc", mode="stream")]
    assert type(texts.value) is type(dicts.value)
