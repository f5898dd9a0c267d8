"""The JSON writers splice members into record texts: the same output as from dicts.

A sweep to ndjson or json hands the writers each record's own JSON text; the writer
splices ``integrated_account_id`` in front (and ``date`` at the end, in a sweep over
dates) instead of decoding and encoding the record. Sans-IO here: for any record, the
line written from its text has the same keys, in the same order, with the same values
as the line written from its dict (byte for byte when the text is compact, as servers
send it); a record that already has either member keeps exactly one. Over HTTP: the
command's output, for each framing, is what the dicts give, byte for byte.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli.support import CLI_EMULATOR, run_cli
from tests.support import EmulatorFactory
from truto_stream import AccountQuery, Client
from truto_stream.cli.writers import JsonWriter, NdjsonWriter, Writer, with_account, with_date

_text = st.text(alphabet=st.sampled_from(list('a é"\\\n{},:'))) | st.sampled_from(
    ["integrated_account_id", "date", '"date":']
)
_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_records = st.lists(
    st.dictionaries(
        st.sampled_from(["id", "name", "integrated_account_id", "date", "x", "y"]), _value
    ),
    max_size=6,
)


def _written(cls: type[Writer], account: str, records: list[Any]) -> bytes:
    out = io.BytesIO()
    writer = cls(out)
    writer.write_batch(account, records)
    writer.finish()
    return out.getvalue()


def _items(data: bytes, cls: type[Writer]) -> list[list[tuple[str, Any]]]:
    """Each written record's members in order (dicts keep the order of the text)."""
    if cls is NdjsonWriter:
        rows = [orjson.loads(line) for line in data.splitlines()]
    else:
        rows = orjson.loads(data)
    return [list(row.items()) for row in rows]


@settings(max_examples=200)
@given(_records, st.booleans(), st.sampled_from([NdjsonWriter, JsonWriter]))
def test_a_text_is_written_as_its_dict_is(
    records: list[dict[str, Any]], indented: bool, cls: type[Writer]
) -> None:
    option = orjson.OPT_INDENT_2 if indented else 0
    texts = [orjson.dumps(r, option=option) for r in records]
    from_dicts = _written(cls, "acc-1", [dict(r) for r in records])
    from_texts = _written(cls, "acc-1", texts)
    assert _items(from_texts, cls) == _items(from_dicts, cls)
    if not indented:
        assert from_texts == from_dicts  # compact texts: the very same bytes
    for row in _items(from_texts, cls):
        assert [k for k, _ in row].count("integrated_account_id") == 1
        assert row[0] == ("integrated_account_id", "acc-1")


@settings(max_examples=200)
@given(_records, st.none() | st.just("2026-11-20"), st.booleans())
def test_a_texts_date_is_the_dicts(
    records: list[dict[str, Any]], day: str | None, indented: bool
) -> None:
    option = orjson.OPT_INDENT_2 if indented else 0
    texts = with_date([orjson.dumps(r, option=option) for r in records], day)
    dicts = with_date([dict(r) for r in records], day)
    assert [list(orjson.loads(t).items()) for t in texts] == [list(d.items()) for d in dicts]
    assert all(type(t) is bytes for t in texts)


def test_members_already_there_are_written_once() -> None:
    texts = [
        b'{"id":"a","integrated_account_id":"theirs"}',
        b'{"id":"b","note":"integrated_account_id"}',
        b"{}",
        b'{ "id" : "c" }',
        b'{"id":"d",\n"x":1}',
    ]
    lines = _written(NdjsonWriter, "ours", texts).splitlines()
    assert len(lines) == 5
    assert [orjson.loads(line) for line in lines] == [
        with_account("ours", orjson.loads(t)) for t in texts
    ]
    assert lines[0] == b'{"integrated_account_id":"ours","id":"a"}'
    assert lines[3] == b'{"integrated_account_id":"ours", "id" : "c" }'  # the server's text
    dated = with_date([b'{"id":"a","date":"old"}', b"{}", b'{"id":"b"}'], "2026-01-02")
    assert dated == [
        b'{"id":"a","date":"2026-01-02"}',
        b'{"date":"2026-01-02"}',
        b'{"id":"b","date":"2026-01-02"}',
    ]


@pytest.mark.parametrize("cls", [NdjsonWriter, JsonWriter])
def test_a_member_spelled_with_escapes_is_still_the_member(cls: type[Writer]) -> None:
    """JSON names may be written with ``\\u`` escapes: ``"integrated\\u005faccount_id"`` is
    ``integrated_account_id``. Spliced in front of such a text, ours would come first and
    theirs, read last, would win: the record would name the server's account."""
    texts = [
        b'{"integrated\\u005faccount_id":"theirs","id":"a"}',
        b'{"id":"b","\\u0069ntegrated_account_id":"theirs"}',
        b'{"id":"c","name":"Ren\\u00e9e"}',
    ]
    rows = [dict(row) for row in _items(_written(cls, "ours", texts), cls)]
    assert rows == [with_account("ours", orjson.loads(t)) for t in texts]
    for data in (_written(cls, "ours", texts),):
        assert b"theirs" not in data
    dated = with_date([b'{"d\\u0061te":"old","id":"a"}'], "2026-01-02")
    assert [orjson.loads(t) for t in dated] == [{"date": "2026-01-02", "id": "a"}]
    assert b"old" not in dated[0]


async def _reference(url: str, token: str, dates: list[str] | None, mode: str) -> list[bytes]:
    """The lines the writer wrote from dicts: ``with_account`` (and the date) dumped."""
    lines = []
    async with Client(token=token, base_url=url) as client:
        options: dict[str, Any] = {"mode": mode}
        if dates:
            options |= {"dates": dates, "today": dates[-1]}
        async with client.sweep("usage-metering", "users", accounts=AccountQuery(), **options) as s:
            dated = s._dated()
            async for batch in s.batches():
                for record in batch.records:
                    if dated:
                        record["date"] = batch.unit.date
                    lines.append(orjson.dumps(with_account(batch.account_id, record)))
    return sorted(lines)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("framing", "mode", "dates"),
    [
        ("envelope", "paged", None),
        ("envelope", "paged", ["2026-11-19", "2026-11-20"]),
        ("envelope", "stream", None),
        ("ndjson", "stream", None),
        ("array", "stream", None),
        ("page", "stream", ["2026-11-20"]),
    ],
)
async def test_the_commands_ndjson_is_the_dicts_byte_for_byte(
    emulator: EmulatorFactory, framing: str, mode: str, dates: list[str] | None
) -> None:
    emu = await emulator(**CLI_EMULATOR, stream_framing=framing)
    token = CLI_EMULATOR["tokens"][0]
    args = ["sweep", "usage-metering/users", "--base-url", emu.url, "--mode", mode]
    for day in dates or []:
        args += ["--date", day]
    if dates:
        args += ["--today", dates[-1]]
    result = await run_cli(*args)
    assert result.code == 0, result.err
    got = sorted(result.stdout.splitlines())
    assert got == await _reference(emu.url, token, dates, mode)
    assert len(got) > 0


@settings(max_examples=50, deadline=None)
@given(_records, st.none() | st.just("2026-11-20"))
def test_parquet_from_texts_is_the_parquet_from_dicts(
    records: list[dict[str, Any]], day: str | None
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from truto_stream.cli.parquet import StreamParquetWriter
    from truto_stream.schema import known_model, model_columns

    typed = known_model("usage-metering", "users")
    assert typed is not None
    columns = model_columns(typed, dated=True)
    files = []
    for rows in (
        with_date([dict(r) for r in records], day),
        with_date([orjson.dumps(r) for r in records], day),
    ):
        out = io.BytesIO()
        writer = StreamParquetWriter(out, model_columns=columns, row_group_rows=4)
        writer.write_batch("acc-1", rows)
        writer.finish()
        files.append(pq.read_table(io.BytesIO(out.getvalue())))
    assert files[1].equals(files[0])
    assert files[0].num_rows == len(records)
