"""Record texts (``as_text``): the same records, members and verdicts as the dicts.

Each body the dict decoder reads is read again with ``as_text``, whole and cut at any
place: every record's text decodes to the dict the dict decoder gave, and a body one
refuses the other refuses with the same error type. The one documented difference (a
number beyond a double's range: valid JSON orjson cannot hold) is checked on its own.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_decode import bodies, broken_body, cut_lists, fed
from truto_stream._decode import BodyDecoder, BodyLimits, Decoded, decode_body
from truto_stream._decode._text import vouched
from truto_stream.errors import MalformedBody, StreamError


def fed_text(
    body: bytes, cuts: list[int], content_type: str | None, limits: BodyLimits | None = None
) -> Decoded:
    decoder = BodyDecoder(content_type, limits=limits or BodyLimits(), as_text=True)
    records: list[Any] = []
    previous = 0
    for cut in [*sorted(cuts), len(body)]:
        records += decoder.feed(body[previous:cut])
        previous = cut
    end = decoder.close()
    end.records[:0] = records
    return end


def outcome(run: Any, *, texts: bool) -> tuple[Any, ...]:
    try:
        d = run()
    except StreamError as err:
        return ("error", type(err))
    records = d.records
    if texts:
        for record in records:
            assert isinstance(record, bytes)
            assert record[:1] == b"{" and record[-1:] == b"}"
        records = [orjson.loads(r) for r in records]
    return ("ok", d.framing, records, d.members, d.keyed)


def check_same(
    body: bytes, cuts: list[int], content_type: str, limits: BodyLimits | None = None
) -> None:
    limits = limits or BodyLimits()
    # The dicts fed the same way (a whole body of dicts may be read in one decode, whose
    # verdict on some broken bodies differs in kind: texts are always read run by run).
    dicts = outcome(lambda: fed(body, cuts, content_type, limits), texts=False)
    whole = outcome(
        lambda: decode_body(body, content_type, limits=limits, as_text=True), texts=True
    )
    texts = outcome(lambda: fed_text(body, cuts, content_type, limits), texts=True)
    assert whole == texts
    if dicts != whole:  # only a number beyond a double's range may tell them apart
        assert dicts[0] == "error" and whole[0] == "ok"
        assert b"e" in body.lower() or b"E" in body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), cut_lists, st.booleans())
def test_texts_decode_to_the_dicts_however_fed(
    case: tuple[bytes, str, list[Any], dict[str, Any]], cuts: list[int], one_byte: bool
) -> None:
    body, content_type, records, members = case
    cuts = list(range(len(body))) if one_byte else [c % (len(body) + 1) for c in cuts]
    got = outcome(lambda: fed_text(body, cuts, content_type), texts=True)
    assert got[0] == "ok"
    assert (got[2], got[3]) == (records, members)
    check_same(body, cuts, content_type)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), cut_lists, st.data())
def test_broken_bodies_get_the_dict_decoders_verdict(
    case: tuple[bytes, str, list[Any], dict[str, Any]], cuts: list[int], data: st.DataObject
) -> None:
    body, content_type, _records, _members = case
    # Flips include bytes that are not UTF-8: msgspec is more lenient there than orjson.
    broken = broken_body(body, data, b'{}[]",:\\ ax0\xff\xed')
    check_same(broken, [c % (len(broken) + 1) for c in cuts], content_type)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), cut_lists, st.integers(2, 8))
def test_a_lower_depth_limit_is_the_same_rule(
    case: tuple[bytes, str, list[Any], dict[str, Any]], cuts: list[int], max_depth: int
) -> None:
    body, content_type, _records, _members = case
    limits = BodyLimits(max_depth=max_depth)
    check_same(body, [c % (len(body) + 1) for c in cuts], content_type, limits)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'[{"a":"\xff"}]', "application/json"),  # not UTF-8: msgspec lets it through
        (b'{"a":"\xed\xa0\x80"}\n', "application/x-ndjson"),  # an encoded surrogate
        (b'{"result":[{"a":"\\ud800"}]}', "application/json"),
        (b'[{"a":1},2]', "application/json"),
        (b'{"a":1}\n[2]\n', "application/x-ndjson"),
        (b'{"a":1}{"b":2}\n', "application/x-ndjson"),
        (b"[" + b'{"a":' * 1100 + b"1" + b"}" * 1100 + b"]", "application/json"),
    ],
)
def test_what_orjson_refuses_is_refused(body: bytes, content_type: str) -> None:
    with pytest.raises(MalformedBody):
        decode_body(body, content_type)
    with pytest.raises(MalformedBody):
        decode_body(body, content_type, as_text=True)
    with pytest.raises(MalformedBody):
        fed_text(body, list(range(0, len(body), 5)), content_type)


@pytest.mark.parametrize(
    "body",
    [
        # A value that spans lines, and a line of two: as many objects as lines in the
        # lines' array text, none of them a line.
        b'{"a":[1\n2]}\n{"x":1},{"y":2}\n',
        b'{"a":[1\n2]}\n{"x":1}\t,  {"y":2} \n',
        b'  {"a":{"b":[\n{"c":1}]}}\n{"x":1},{"y":2}\n{"z":3}\n',
    ],
)
def test_lines_whose_brackets_pair_across_them_are_refused(body: bytes) -> None:
    check_same(body, [], "application/x-ndjson")
    check_same(body, list(range(len(body))), "application/x-ndjson")
    with pytest.raises(StreamError):
        decode_body(body, "application/x-ndjson", as_text=True)


def test_nesting_beyond_orjsons_limit_is_refused_with_a_raised_recursion_limit() -> None:
    body = b"[" + b'{"a":' * 1100 + b"1" + b"}" * 1100 + b"]"
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        with pytest.raises(MalformedBody):
            decode_body(body, as_text=True)
    finally:
        sys.setrecursionlimit(old)


def test_a_number_beyond_a_double_is_kept_as_text() -> None:
    """The documented difference: valid JSON that orjson cannot hold."""
    body = b'[{"id":"a","n":1e400}]'
    with pytest.raises(MalformedBody):
        decode_body(body)
    assert decode_body(body, as_text=True).records == [b'{"id":"a","n":1e400}']


def test_texts_keep_the_servers_bytes_and_strip_line_whitespace() -> None:
    body = b'{"result":[{"a" : 1},\n {"b":"\\u00e9"}],"next_cursor":null}'
    assert decode_body(body, as_text=True).records == [b'{"a" : 1}', b'{"b":"\\u00e9"}']
    lines = b' {"a":1} \r\n{"b":2}\n'
    got = decode_body(lines, "application/x-ndjson", as_text=True).records
    assert got == [b'{"a":1}', b'{"b":2}']


_BYTES = [b"a", b"{", b",", b"\xc3", b"\xa9", b"\xff", b"\xe2\x82", b"\xac"]
_piece = st.lists(st.sampled_from(_BYTES)).map(b"".join)


@given(st.lists(_piece, max_size=6))
def test_utf8_is_vouched_for_record_by_record_as_for_the_whole_text(
    records: list[bytes],
) -> None:
    """Decoding only the records that are not ASCII gives the whole text's verdict (the
    commas and brackets between them are ASCII: no character spans two records)."""
    text = b"[" + b",".join(records) + b"]"
    try:
        text.decode("utf-8")
        whole = True
    except UnicodeDecodeError:
        whole = False
    assert vouched(text, records) is whole
