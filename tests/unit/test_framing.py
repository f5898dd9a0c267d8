"""Body framing: detection, NDJSON splitting, envelope members from the head of a body."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truto_stream._decode._json import BOM
from truto_stream._decode._members import find_result_value, scan_object, skip_bom_ws
from truto_stream._decode.framing import Framing, detect_framing, is_json_seq
from truto_stream._decode.ndjson import LineSplitter
from truto_stream.errors import MalformedBody, TruncatedBody, UnexpectedContentType

# --- detect_framing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ctype",
    [
        "application/x-ndjson",
        "application/jsonl",
        "application/json-seq",
        "application/x-jsonlines",
        "Application/X-NDJSON; charset=utf-8",
    ],
)
def test_ndjson_content_types(ctype: str) -> None:
    assert detect_framing(ctype, b'{"a": 1}') is Framing.NDJSON


@pytest.mark.parametrize(
    ("ctype", "head", "complete", "framing"),
    [
        ("application/json", b'{"result": [], "next_cursor": null}', True, Framing.ENVELOPE),
        (None, b'\xef\xbb\xbf \r\n\t{"result": [', False, Framing.ENVELOPE),
        ("text/plain", b'{"next_cursor": "x", "result": [{"a": 1}', False, Framing.ENVELOPE),
        ("application/json", b'{"meta": {"result": 1}, "result": []}', True, Framing.ENVELOPE),
        ("application/octet-stream", b"[]", True, Framing.ARRAY),
        ("application/json; charset=utf-8", b'  [{"a": 1},', False, Framing.ARRAY),
        ("application/vnd.truto+json", b"[1]", True, Framing.ARRAY),
        ("", b'{"id": 1}\n{"id": 2}\n', True, Framing.NDJSON),
        ("application/json", b'{"id": 1}\r\n{"id": 2}', True, Framing.NDJSON),
        ("application/json", b'{"id": "a\\nb"}\n[1]', True, Framing.NDJSON),
        ("application/json", b'{"id": 1} {"id": 2}', True, Framing.CONCATENATED),
        ("application/json", b'{"id": 1}{"id": 2}', True, Framing.CONCATENATED),
        ("application/json", b'{\n  "id": 1\n}\n{\n  "id": 2\n}', True, Framing.CONCATENATED),
        # The head cannot say what follows the first value: concatenated reads both.
        ("application/json", b'{"id": 1}\n', False, Framing.CONCATENATED),
        ("application/json", b'{"id": 1, "raw_data": {"x": "', False, Framing.CONCATENATED),
        # A cut first object whose visible keys are an envelope's metadata.
        ("application/json", b'{"next_cursor": "c", "junk": "', False, Framing.ENVELOPE),
    ],
)
def test_detect_by_bytes(ctype: str | None, head: bytes, complete: bool, framing: Framing) -> None:
    assert detect_framing(ctype, head, complete=complete) is framing


@pytest.mark.parametrize(
    ("head", "complete", "error", "match"),
    [
        (b"", True, MalformedBody, "empty"),
        (b"  \n", True, MalformedBody, "empty"),
        (b"", False, MalformedBody, "empty"),
        (b"\xef\xbb\xbf   ", False, MalformedBody, "no JSON"),
        (b'{"id": 1}', True, MalformedBody, "not a Truto list envelope"),
        (b'{"error": "x"}  \n', True, MalformedBody, "not a Truto list envelope"),
        (b"<html><body>hi</body></html>", True, MalformedBody, "not JSON"),
        (b'"just a string"', True, MalformedBody, "not JSON"),
        (b"42", True, MalformedBody, "not JSON"),
        (b'{"id": 1} xyz', True, MalformedBody, "unexpected bytes"),
        (b'{"id": 1', True, TruncatedBody, "ends inside"),
        (b'{"id": "abc', True, TruncatedBody, "ends inside"),
        (b'{"id" 1}', True, MalformedBody, "':'"),
        (b"{id: 1}", True, MalformedBody, "member name"),
    ],
)
def test_detect_errors(head: bytes, complete: bool, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        detect_framing("application/json", head, complete=complete)


@pytest.mark.parametrize(
    "ctype", ["text/html; charset=utf-8", "image/png", "application/pdf", "text/xml", "video/mp4"]
)
def test_unexpected_content_type_message_is_short(ctype: str) -> None:
    body = b"<!DOCTYPE html>\n<html>" + b"secret page text " * 1000 + b"\x00\x01"
    with pytest.raises(UnexpectedContentType) as info:
        detect_framing(ctype, body)
    text = str(info.value)
    assert ctype.split(";")[0] in text
    assert len(text) < 200
    assert "<!DOCTYPE html>" in text
    assert text.isprintable()


# --- LineSplitter ---------------------------------------------------------------------------


def test_line_splitter_basics() -> None:
    sp = LineSplitter()
    assert sp.feed(b'{"a":1}\r\n\n  \n{"b"') == [b'{"a":1}']
    assert sp.feed(b":2}") == []
    assert sp.feed(b"\n{") == [b'{"b":2}']
    assert sp.feed(b"") == []
    assert sp.close() == [b"{"]
    assert sp.close() == []


def test_line_splitter_json_seq() -> None:
    assert is_json_seq("application/json-seq; charset=utf-8")
    assert not is_json_seq("application/x-ndjson")
    assert not is_json_seq(None)
    sp = LineSplitter(json_seq=True)
    assert sp.feed(b'\x1e{"a":1}\n\x1e{"b":2}\n\x1e\n') == [b'{"a":1}', b'{"b":2}']


def test_line_splitter_limits_line_length() -> None:
    sp = LineSplitter(max_line_bytes=10)
    assert sp.feed(b"0123456789\n") == [b"0123456789"]
    with pytest.raises(MalformedBody, match="longer than 10"):
        sp.feed(b"0123456789A\n")
    sp = LineSplitter(max_line_bytes=10)
    sp.feed(b"012345")
    with pytest.raises(MalformedBody):
        sp.feed(b"6789AB")  # no newline yet: the pending line alone is too long
    sp = LineSplitter(max_line_bytes=10)
    with pytest.raises(MalformedBody):
        sp.feed(b"ok\n" + b"x" * 11)  # the partial line after the newline is too long
    with pytest.raises(ValueError, match="max_line_bytes"):
        LineSplitter(0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
        max_size=20,
    ),
    st.booleans(),
    st.booleans(),
    st.data(),
)
def test_line_splitter_any_chunking(
    lines: list[bytes], crlf: bool, final_newline: bool, data: st.DataObject
) -> None:
    sep = b"\r\n" if crlf else b"\n"
    body = sep.join(lines) + (sep if final_newline and lines else b"")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=8)))
    sp = LineSplitter(max_line_bytes=64)
    got: list[bytes] = []
    prev = 0
    for cut in [*cuts, len(body)]:
        got.extend(sp.feed(body[prev:cut]))
        prev = cut
    got.extend(sp.close())
    expected = []
    for line in lines:
        # The splitter strips one trailing \r: the CRLF's own, or the line's when LF only.
        stripped = line[:-1] if (not crlf and line.endswith(b"\r")) else line
        if stripped and not stripped.isspace():
            expected.append(stripped)
    assert got == expected


def test_line_splitter_is_fast() -> None:
    line = orjson.dumps({"id": "x" * 40, "name": "y" * 500}) + b"\n"
    body = line * 100_000  # about 56 MB
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    sp = LineSplitter()
    start = time.perf_counter()
    count = sum(len(sp.feed(c)) for c in chunks) + len(sp.close())
    assert count == 100_000
    assert time.perf_counter() - start < 1.5


# --- envelope metadata: examples ------------------------------------------------------------


def scan_envelope_head(head: bytes) -> dict[str, Any]:
    """The members before ``result`` that a (maybe cut) head shows: the decoder's head scan."""
    if BOM.startswith(head):
        return {}  # empty, or cut inside the byte-order mark
    i = skip_bom_ws(head, 0)
    if i >= len(head):
        return {}
    if head[i] != 0x7B:
        raise MalformedBody("not an object")
    return scan_object(head, i, complete=False)[0]


def test_scan_head_example() -> None:
    body = (
        b'{"next_cursor": "a\\"b\\\\", "x": [1, {"y": "]}"}], "result": [{"a": "}\\\\\\""}],'
        b' "prev_cursor": null, "result_count": 12, "k\\"": {"z": [true, -1.5e3]}}  \n'
    )
    assert scan_envelope_head(body) == {"next_cursor": 'a"b\\', "x": [1, {"y": "]}"}]}
    found = find_result_value(body)
    assert found is not None
    assert found[0] == {"next_cursor": 'a"b\\', "x": [1, {"y": "]}"}]}
    assert body[found[1] :].startswith(b'[{"a"')


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"", {}),
        (b"   ", {}),
        (b"{", {}),
        (b"{}", {}),
        (b'{"result_count": 12', {}),  # 12 may be 123...
        (b'{"result_count": 12,', {"result_count": 12}),
        (b'{"a": tru', {}),
        (b'{"a": "x', {}),
        (b'{"a": "x"', {"a": "x"}),
        (b'{"a"', {}),
        (b'{"a": 1, "b": [1, 2', {"a": 1}),
        (b'{"a": 1, "result": [', {"a": 1}),
        (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),
    ],
)
def test_scan_head_windows(head: bytes, expected: dict[str, Any]) -> None:
    assert scan_envelope_head(head) == expected


def test_scan_head_requires_an_object() -> None:
    with pytest.raises(MalformedBody):
        scan_envelope_head(b"[1, 2]")


def test_scan_duplicate_keys_last_wins() -> None:
    body = b'{"a": 1, "a": 2, "result": [], "b": 1, "b": 2}'
    assert scan_envelope_head(body) == orjson.loads(b'{"a": 1, "a": 2}')


def test_scan_head_refuses_a_duplicated_cursor() -> None:
    with pytest.raises(MalformedBody, match="twice"):
        scan_envelope_head(b'{"next_cursor": "a", "next_cursor": "b", "result": []}')


def test_scans_are_linear() -> None:
    records = [{"id": str(i), "name": 'n\\"]}' * 20} for i in range(4000)]
    body = orjson.dumps({"next_cursor": "c", "result": records, "result_count": 4000})
    start = time.perf_counter()
    for _ in range(20):
        assert scan_envelope_head(body[:65536]) == {"next_cursor": "c"}
    assert time.perf_counter() - start < 1.0


# --- envelope metadata: property tests ------------------------------------------------------

_text = st.text(
    alphabet=st.sampled_from(list('abcXYZ "\\/[]{}:,\n\t\x00\x1fé€😀\u2028'))
    | st.characters(codec="utf-8"),
    max_size=12,
)
_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_json = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_keys = _text.filter(lambda k: k != "result")
_WHITESPACE = [b"", b" ", b"\n", b"\t", b"\r\n", b"  ", b"\n    "]


@dataclass
class Envelope:
    body: bytes
    before: list[tuple[str, Any]]
    after: list[tuple[str, Any]]
    value_ends: list[int]  # per "before" member: index just past its value
    key_starts: list[int]  # per "after" member: index of its key's opening quote


def _dump(value: Any, ws: Callable[[], bytes]) -> bytes:
    if isinstance(value, dict):
        if not value:
            return b"{" + ws() + b"}"
        return (
            b"{"
            + b",".join(
                ws() + orjson.dumps(k) + ws() + b":" + ws() + _dump(v, ws) + ws()
                for k, v in value.items()
            )
            + b"}"
        )
    if isinstance(value, list):
        if not value:
            return b"[" + ws() + b"]"
        return b"[" + b",".join(ws() + _dump(v, ws) + ws() for v in value) + b"]"
    return orjson.dumps(value)


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    keys = draw(st.lists(_keys, unique=True, max_size=8))
    values = [draw(_json) for _ in keys]
    split = draw(st.integers(0, len(keys)))
    records = draw(st.lists(st.dictionaries(_text, _json, max_size=3), max_size=5))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    spaced = draw(st.booleans())

    def ws() -> bytes:
        return rnd.choice(_WHITESPACE) if spaced else b""

    members = [*zip(keys[:split], values[:split], strict=True), ("result", records)]
    members += list(zip(keys[split:], values[split:], strict=True))
    out = bytearray(draw(st.sampled_from([b"", b"\xef\xbb\xbf", b" \n"])) + b"{")
    value_ends: list[int] = []
    key_starts: list[int] = []
    for i, (key, value) in enumerate(members):
        if i:
            out += b","
        out += ws()
        if i > split:
            key_starts.append(len(out))
        out += orjson.dumps(key) + ws() + b":" + ws() + _dump(value, ws)
        if i < split:
            value_ends.append(len(out))
        out += ws()
    out += b"}" + ws()
    body = bytes(out)
    assert orjson.loads(body.removeprefix(b"\xef\xbb\xbf")) == dict(members)  # valid JSON
    return Envelope(body, members[:split], members[split + 1 :], value_ends, key_starts)


@settings(max_examples=180, deadline=None)
@given(envelopes(), st.data())
def test_scan_head_exact_for_any_cut(env: Envelope, data: st.DataObject) -> None:
    body = env.body
    cuts = data.draw(st.lists(st.integers(0, len(body)), min_size=1, max_size=6))
    for h in [*cuts, len(body)]:
        got = scan_envelope_head(body[:h])
        # Members whose value ends strictly inside the head must be there; members whose
        # value is cut must not; a value ending exactly at the cut may go either way.
        must = sum(1 for end in env.value_ends if end < h)
        may = sum(1 for end in env.value_ends if end <= h)
        assert any(got == dict(env.before[:k]) for k in range(must, may + 1)), (h, got)
    assert scan_envelope_head(body) == dict(env.before)
    assert detect_framing("application/json", body, complete=True) is Framing.ENVELOPE
