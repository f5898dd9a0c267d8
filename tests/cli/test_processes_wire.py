"""The shard pipe's sans-IO parts: frames and the NDJSON a shard sends."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from truto_stream.checkpoint import UnitProgress
from truto_stream.processes._wire import (
    PREFIX,
    decode_progress,
    encode_frame,
    encode_progress,
    ndjson_lines,
)
from truto_stream.unit import Unit

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
records = st.lists(st.dictionaries(st.text(max_size=12), json_values, max_size=6), max_size=8)


@given(records, st.text(min_size=1, max_size=40), st.none() | st.text(max_size=10), st.booleans())
def test_each_record_is_one_line_with_the_account_and_its_date(
    batch: list[dict[str, Any]], account: str, date: str | None, dated: bool
) -> None:
    originals = [dict(r) for r in batch]
    data = ndjson_lines(account, batch, date=date, dated=dated)
    lines = data.splitlines()
    assert len(lines) == len(originals)
    assert data == b"" or data.endswith(b"\n")
    for line, original in zip(lines, originals, strict=True):
        row = orjson.loads(line)
        assert next(iter(row)) == "integrated_account_id"
        assert row["integrated_account_id"] == account
        expected = {**original, "integrated_account_id": account}
        if dated:
            expected["date"] = date
        assert row == expected


def test_the_sweeps_account_wins_over_a_field_of_that_name() -> None:
    data = ndjson_lines("acc", [{"integrated_account_id": "other", "id": "1"}, {}], date=None,
                        dated=False)  # fmt: skip
    assert [orjson.loads(line) for line in data.splitlines()] == [
        {"integrated_account_id": "acc", "id": "1"},
        {"integrated_account_id": "acc"},
    ]


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.binary(max_size=200))
def test_a_frame_is_its_lengths_header_and_payload(header: dict[str, Any], payload: bytes) -> None:
    frame = encode_frame(header, payload)
    head_size, payload_size = PREFIX.unpack(frame[: PREFIX.size])
    assert len(frame) == PREFIX.size + head_size + payload_size
    assert orjson.loads(frame[PREFIX.size : PREFIX.size + head_size]) == header
    assert frame[PREFIX.size + head_size :] == payload


def test_progress_travels_as_json_and_back() -> None:
    unit = Unit("acc@2026-11-20", "acc", "2026-11-20")
    rows = [
        UnitProgress.start(unit).after_part("c1", 3, "u3", 3),
        UnitProgress.start(Unit.of("b")).ended("failed", "NotFound: gone"),
    ]
    assert decode_progress(orjson.loads(orjson.dumps(encode_progress(rows)))) == rows


@given(records, st.text(min_size=1, max_size=40), st.none() | st.text(max_size=10), st.booleans())
def test_record_texts_make_the_same_lines_as_their_dicts(
    batch: list[dict[str, Any]], account: str, date: str | None, dated: bool
) -> None:
    texts = [orjson.dumps(r) for r in batch]
    from_dicts = ndjson_lines(account, [dict(r) for r in batch], date=date, dated=dated)
    assert ndjson_lines(account, texts, date=date, dated=dated) == from_dicts
