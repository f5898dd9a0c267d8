"""Body parsing over in-memory byte sources: every framing, any chunking, exact results."""

from __future__ import annotations

from typing import Any

import anyio
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truto_stream._decode import BodyLimits
from truto_stream._decode._runs import guess_run
from truto_stream._decode._scan import Container
from truto_stream._parse import ORJSON_MAX_BYTES, BodyMeta, parse_body
from truto_stream.errors import MalformedBody, StreamError, TruncatedBody

# Strings full of the byte patterns the record cutter looks for.
TRICKY = st.text(alphabet=st.sampled_from(list('},{]["\\:a é\n')), max_size=12)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), TRICKY)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(TRICKY, inner, max_size=4)
    ),
    max_leaves=12,
)
RECORDS = st.lists(
    st.fixed_dictionaries({"id": st.text(max_size=6)}, optional={"x": VALUES, "e": VALUES}),
    max_size=40,
)
# Truto's cursors are strings (or null): any other next_cursor is a MalformedBody.
META = st.dictionaries(
    st.sampled_from(["next_cursor", "prev_cursor", "result_count", "debug", "odd]}"]),
    VALUES,
    max_size=3,
).map(lambda m: {**m, "next_cursor": str(m["next_cursor"])} if "next_cursor" in m else m)


class Chunked:
    """A byte source handing out ``data`` in chunks of the given sizes (cycled)."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data = data
        self._sizes = sizes or [len(data) or 1]
        self._at = 0
        self._turn = 0

    async def read(self, n: int = -1) -> bytes:
        if n == 0:
            return b""
        size = self._sizes[self._turn % len(self._sizes)]
        self._turn += 1
        if n > 0:
            size = min(size, n)
        chunk = self._data[self._at : self._at + size]
        self._at += len(chunk)
        return chunk


def parse(
    body: bytes,
    sizes: list[int],
    *,
    content_type: str = "application/json",
    known: bool = False,
    part_bytes: int | None = None,
    batches: list[list[Any]] | None = None,
) -> tuple[list[Any], BodyMeta]:
    async def run() -> tuple[list[Any], BodyMeta]:
        out: list[Any] = []

        async def emit(records: list[Any]) -> None:
            assert records, "empty batches are not emitted"
            out.extend(records)
            if batches is not None:
                batches.append(records)

        meta = await parse_body(
            Chunked(body, sizes),
            content_type=content_type,
            content_length=len(body) if known else None,
            emit=emit,
            part_bytes=part_bytes,
        )
        return out + meta.records, meta

    return anyio.run(run, backend="asyncio")


def envelope(
    records: list[Any], before: dict[str, Any], after: dict[str, Any], indent: bool
) -> bytes:
    doc = {**before, "result": records, **after}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 if indent else 0)


@settings(max_examples=150)
@given(
    records=RECORDS,
    before=META,
    after=META,
    indent=st.booleans(),
    pad=st.integers(0, 300_000),
    sizes=st.lists(st.integers(1, 70_000), max_size=4),
)
def test_envelopes_parse_exactly(
    records: list[Any],
    before: dict[str, Any],
    after: dict[str, Any],
    indent: bool,
    pad: int,
    sizes: list[int],
) -> None:
    # Padding records make the body large enough to leave the whole-body fast path.
    padded = [*records, *({"id": f"p{i}", "x": "y" * 50} for i in range(pad // 70))]
    before = {k: v for k, v in before.items() if k not in after}
    body = envelope(padded, before, after, indent)
    got, meta = parse(body, sizes)
    assert got == padded
    assert meta.members == {**before, **after}


@settings(max_examples=80)
@given(records=RECORDS, sizes=st.lists(st.integers(1, 70_000), max_size=4), indent=st.booleans())
def test_bare_arrays_parse_exactly(records: list[Any], sizes: list[int], indent: bool) -> None:
    padded = [*records, *({"id": f"p{i}"} for i in range(2_000))]
    body = orjson.dumps(padded, option=orjson.OPT_INDENT_2 if indent else 0)
    got, _meta = parse(body, sizes)
    assert got == padded


@settings(max_examples=80)
@given(
    records=RECORDS, cut=st.floats(0.05, 0.999), sizes=st.lists(st.integers(1, 70_000), max_size=3)
)
def test_a_cut_body_is_never_taken_for_a_whole_one(
    records: list[Any], cut: float, sizes: list[int]
) -> None:
    padded = [*records, *({"id": f"p{i}", "x": "y" * 50} for i in range(1_500))]
    body = envelope(padded, {}, {"next_cursor": "abc"}, indent=False)
    cut_body = body[: int(len(body) * cut)]
    with pytest.raises(StreamError):
        parse(cut_body, sizes)


@settings(max_examples=60)
@given(
    records=RECORDS,
    sizes=st.lists(st.integers(1, 70_000), max_size=3),
    part=st.integers(1, 20_000),
    framing=st.sampled_from(["envelope", "array", "ndjson"]),
)
def test_reads_decoded_in_parts_give_the_same_records_in_small_batches(
    records: list[Any], sizes: list[int], part: int, framing: str
) -> None:
    padded = [*records, *({"id": f"p{i}", "x": "y" * 50} for i in range(1_000))]
    content_type = "application/x-ndjson" if framing == "ndjson" else "application/json"
    body = {
        "envelope": lambda: envelope(padded, {}, {"next_cursor": "c"}, indent=False),
        "array": lambda: orjson.dumps(padded),
        "ndjson": lambda: b"\n".join(map(orjson.dumps, padded)),
    }[framing]()
    batches: list[list[Any]] = []
    got, meta = parse(body, sizes, content_type=content_type, part_bytes=part, batches=batches)
    assert got == padded
    assert meta.next_cursor == ("c" if framing == "envelope" else None)
    # A batch holds the records its part completed: the part's bytes, plus the start of
    # the record the previous part cut.
    largest = max(len(orjson.dumps(r)) + 1 for r in padded)
    assert batches
    for batch in batches:
        assert sum(len(orjson.dumps(r)) + 1 for r in batch) <= part + 2 * largest


def test_take_records_cuts_exactly_at_record_ends() -> None:
    records = [{"id": "1", "e": [{"a": "},{"}, {"b": "}]"}]}, {"id": "2", "e": []}]
    buf = bytearray(orjson.dumps(records)[1:-1] + b',{"id":"3","e":[{"a"')
    taken = guess_run(buf, b"[", b"]", 1, Container.ARRAY, b'{"id":')
    assert taken is not None
    got, end = taken
    assert got == records
    assert buf[end:].startswith(b',{"id":"3"')
    assert (
        guess_run(bytearray(b'{"id":"3","e":[{"a"'), b"[", b"]", 1, Container.ARRAY, None) is None
    )


@pytest.mark.parametrize("known", [False, True])
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"result":[{"id":1},{"id":2}],"next_cursor":"x"', TruncatedBody),
        (b'{"result":[{"id":1},{"id":2}]', TruncatedBody),
        (b'{"result":[{"id":1},{"id":2}],"next_cursor":"x"}garbage', MalformedBody),
        (b'{"result":[{"id":1},{"id":2]]}', MalformedBody),
        (b"", MalformedBody),
    ],
)
def test_broken_bodies(body: bytes, error: type[Exception], known: bool) -> None:
    # Small bodies take the whole-body path, big ones the incremental one: same verdicts.
    big = body.replace(b'{"id":1}', b",".join([b'{"id":1}'] * 20_000)) if body else body
    for data in (body, big):
        with pytest.raises(error):
            parse(data, [4096], known=known)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            b"\n".join(orjson.dumps({"id": i}) for i in range(30_000)) + b"\n",
            "application/x-ndjson",
        ),
        (b"".join(orjson.dumps({"id": i}) for i in range(30_000)), "application/json"),
        (orjson.dumps({"result": {str(i): {"id": i} for i in range(30_000)}}), "application/json"),
    ],
)
def test_other_framings(body: bytes, content_type: str) -> None:
    got, _meta = parse(body, [10_000], content_type=content_type)
    assert [r["id"] for r in got] == list(range(30_000))


def test_a_small_page_is_not_one_record() -> None:
    # The record bound applies to records; a small page read whole is bounded by its length.
    limits = BodyLimits(max_record_bytes=100)
    body = orjson.dumps({"result": [{"id": i, "name": "x" * 40} for i in range(500)]})

    async def run(whole: bool) -> BodyMeta:
        async def emit(records: list[Any]) -> None:
            raise AssertionError("a small page is handed on whole")

        return await parse_body(
            Chunked(body, [4096]),
            content_type="application/json",
            content_length=len(body),
            emit=emit,
            whole=whole,
            limits=limits,
        )

    meta = anyio.run(run, False, backend="asyncio")
    assert len(meta.records) == 500
    with pytest.raises(MalformedBody, match="read whole larger than 100"):
        anyio.run(run, True, backend="asyncio")


class Recording(Chunked):
    """A :class:`Chunked` source that records the size of each read asked of it."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        super().__init__(data, sizes)
        self.asked: list[int] = []

    async def read(self, n: int = -1) -> bytes:
        self.asked.append(n)
        return await super().read(n)


@pytest.mark.parametrize("length", [1_000, 200_000, ORJSON_MAX_BYTES])
def test_a_page_of_known_length_is_asked_for_whole(length: int) -> None:
    # One read takes a page that has arrived, whatever its size, and one more finds the
    # end: no piece-by-piece reads (each a trip through the transport and the scrubber).
    records = [{"id": i, "name": "x" * 40} for i in range(length // 80)]
    body = orjson.dumps({"result": records, "next_cursor": None})
    body += b" " * (length - len(body))
    source = Recording(body, [len(body)])

    async def run() -> BodyMeta:
        async def emit(records: list[Any]) -> None:
            raise AssertionError("a small page is handed on whole")

        return await parse_body(
            source, content_type="application/json", content_length=len(body), emit=emit
        )

    meta = anyio.run(run, backend="asyncio")
    assert len(meta.records) == len(records)
    assert source.asked == [len(body), len(body)]
