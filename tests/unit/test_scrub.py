"""The token scrubbed out of body bytes as they stream (sans-IO): no form left, JSON kept."""

from __future__ import annotations

import json
import string
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream._redact import Redactor, encodings
from truto_stream._scrub import MIN_FORM_BYTES, REDACTED_BYTES, BodyForms
from truto_stream._transport import ScrubbedBody

from .fake_transport import FakeBody

TOKEN = "sk-live/9f8e7d6c5b4a+3210=zyx&w?v"
UUID = "3f2c1a9e-5b7d-4c8e-9a1f-0e2d3c4b5a69"
tokens = st.text(
    string.ascii_letters + string.digits + '-_./+=~!$&?%"\\é\n\u2028', min_size=MIN_FORM_BYTES
)


def scrub(token: str, chunks: list[bytes]) -> bytes:
    scrubber = Redactor([token]).body_forms.scrubber()
    return b"".join([scrubber.feed(chunk) for chunk in chunks]) + scrubber.end()


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def strings(value: Any) -> list[str]:
    """Every string of a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def no_form_in(value: Any, token: str) -> bool:
    forms = [f for f in encodings(token) if len(f.encode()) >= MIN_FORM_BYTES]
    return not any(form in text for text in strings(value) for form in forms)


def test_every_form_of_the_token_is_replaced_in_a_json_body() -> None:
    forms = sorted(encodings(TOKEN))
    document: dict[str, Any] = {
        "result": [{"id": f"u{i}", "note": f"x {form} y"} for i, form in enumerate(forms)]
    }
    document["next_cursor"] = f"c-{TOKEN}"
    for body in (orjson.dumps(document), json.dumps(document).replace("/", "\\/").encode()):
        clean = scrub(TOKEN, [body])
        decoded = orjson.loads(clean)
        assert no_form_in(decoded, TOKEN)
        assert decoded["next_cursor"] == "c-<redacted>"
        assert all(r["note"] == "x <redacted> y" for r in decoded["result"])


def test_a_body_without_the_token_passes_through_untouched_and_uncopied() -> None:
    body = orjson.dumps({"result": [{"id": "u1", "name": "sk-live/9f8e7d6c5b4"}]})
    scrubber = Redactor([TOKEN]).body_forms.scrubber()
    head, tail = body[:20], body[20:]
    assert scrubber.feed(head) is head
    assert scrubber.feed(tail) + scrubber.end() == tail


def test_a_form_cut_between_chunks_is_held_back_then_replaced() -> None:
    body = b'{"a": "' + TOKEN.encode() + b'"}'
    for i in range(len(body) + 1):
        assert scrub(TOKEN, [body[:i], body[i:]]) == b'{"a": "<redacted>"}'
    assert scrub(TOKEN, [bytes([b]) for b in body]) == b'{"a": "<redacted>"}'


def test_what_is_held_back_is_only_what_could_start_a_form() -> None:
    scrubber = Redactor([UUID]).body_forms.scrubber()
    assert scrubber.feed(b'{"a": "3f2c1') == b'{"a": "'  # the token's first bytes wait
    assert scrubber.feed(b'x"}') == b'3f2c1x"}'  # not the token after all
    assert scrubber.feed(b"[1, 2, 3]") == b"[1, 2, 3]"
    assert scrubber.end() == b""


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("\\\\", ""),  # an escaped backslash, then the token
        ("\\n", "\\t"),  # escapes right before and after
        ("\\u00e9", "\\u00e9"),
        ("\\\\\\\\", "\\\\"),
        ('\\"', '\\"'),
    ],
)
def test_escapes_around_a_form_stay_whole(before: str, after: str) -> None:
    body = f'{{"a": "{before}{UUID}{after}", "b": 1}}'.encode()
    expected = {"a": unescape(before) + "<redacted>" + unescape(after), "b": 1}
    for i in range(len(body) + 1):
        assert orjson.loads(scrub(UUID, [body[:i], body[i:]])) == expected


def unescape(text: str) -> str:
    value = json.loads('"' + text + '"')
    assert isinstance(value, str)
    return value


def test_a_form_starting_inside_an_escape_takes_the_whole_escape() -> None:
    # The hex form of the token begins with hex digits: after "\\u", "\\u0"... it
    # starts inside a \\uXXXX escape, which must not be left without its backslash.
    hexed = UUID.encode().hex()
    for prefix in ("\\u", "\\u0", "\\u00", "\\u000", "\\\\", "\\\\\\u0"):
        body = f'["{prefix}{hexed}"]'.encode()
        for i in range(len(body) + 1):
            clean = scrub(UUID, [body[:i], body[i:]])
            assert isinstance(orjson.loads(clean), list), (prefix, i, clean)
            assert hexed.encode() not in clean


@pytest.mark.parametrize("text", ['abcdefgh"x', "abcdefgh\\x", "abcdefgh\\", "abcdefgh\n"])
def test_a_form_ending_on_a_backslash_takes_the_escaped_byte(text: str) -> None:
    # The raw token ends with a backslash: in the bytes of "abcdefgh\"" it ends on the
    # escape's backslash, and replacing it alone would leave a bare quote.
    token = "abcdefgh\\"
    body = orjson.dumps({"a": text, "b": "x"})
    for i in range(len(body) + 1):
        clean = scrub(token, [body[:i], body[i:]])
        decoded = orjson.loads(clean)
        assert no_form_in(decoded, token) and decoded["b"] == "x"


@pytest.mark.parametrize("token", ["nothing-to-see-here", "token-0123456789", "/path-like-token"])
def test_a_form_whose_first_byte_is_escaped_takes_the_backslash(token: str) -> None:
    # In "\\nothing..." the token's bytes follow an escape's backslash: replacing them
    # alone would leave "\\<redacted>", an invalid escape.
    body = ('{"a": "\\' + token + '", "b": "x"}').encode()
    for i in range(len(body) + 1):
        clean = scrub(token, [body[:i], body[i:]])
        decoded = orjson.loads(clean)
        assert decoded == {"a": "<redacted>", "b": "x"}


def test_a_numeric_token_in_a_number_keeps_the_body_valid() -> None:
    token = "12345678901"
    body = b'{"n": 9912345678901, "f": -1.12345678901e5, "s": "12345678901"}'
    clean = scrub(token, [body])
    assert orjson.loads(clean) == {"n": 9999999999999, "f": -1.99999999999e5, "s": "99999999999"}


def test_forms_shorter_than_the_minimum_are_not_searched() -> None:
    assert not Redactor(["t"]).body_forms
    assert not Redactor(["short"]).body_forms
    assert Redactor(["8 chars!"]).body_forms
    assert "forms redacted" in repr(Redactor([TOKEN]).body_forms)
    assert TOKEN not in repr(Redactor([TOKEN]).body_forms)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def documents_with_tokens(draw: st.DrawFn) -> tuple[str, bytes]:
    token = draw(tokens)
    forms = sorted(encodings(token))
    pieces = draw(st.lists(st.text() | st.sampled_from(forms) | json_values, max_size=8))
    texts = [p for p in pieces if isinstance(p, str)]
    value = {"result": pieces, "next_cursor": "".join(texts), "".join(texts[:2]): 1}
    body = json.dumps(value, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        body = body.replace("/", "\\/")
    return token, body.encode("utf-8", "surrogatepass")


@given(case=documents_with_tokens(), cuts=st.lists(st.integers(0, 4000), max_size=6))
def test_any_json_body_stays_valid_and_loses_every_form(
    case: tuple[str, bytes], cuts: list[int]
) -> None:
    token, body = case
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return  # lone surrogates: not a body a server can send
    clean = scrub(token, cut(body, cuts))
    assert clean == scrub(token, [body])  # however the body is cut
    assert no_form_in(orjson.loads(clean), token)
    if REDACTED_BYTES not in clean and clean == body:
        assert no_form_in(orjson.loads(body), token)


@given(value=json_values, cuts=st.lists(st.integers(0, 2000), max_size=6))
def test_a_body_without_the_token_is_unchanged(value: Any, cuts: list[int]) -> None:
    body = orjson.dumps(value)
    if any(form.encode() in body for form in encodings(TOKEN)):
        return
    assert scrub(TOKEN, cut(body, cuts)) == body


@given(token=tokens, data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=5))
def test_arbitrary_bytes_lose_every_form_however_cut(
    token: str, data: bytes, cuts: list[int]
) -> None:
    forms = BodyForms(encodings(token)).forms
    body = data[: len(data) // 2] + forms[0] + data[len(data) // 2 :] if forms else data
    clean = scrub(token, cut(body, cuts))
    assert clean == scrub(token, [body])
    assert not any(form in clean for form in forms)


def scrub_ending_in_one_pass(token: str, chunks: list[bytes]) -> bytes:
    """As :func:`scrub`, the last chunk through ``feed_last`` (what a body read whole does)."""
    scrubber = Redactor([token]).body_forms.scrubber()
    *head, last = chunks or [b""]
    return b"".join([scrubber.feed(chunk) for chunk in head]) + scrubber.feed_last(last)


@given(case=documents_with_tokens(), cuts=st.lists(st.integers(0, 4000), max_size=4))
def test_the_last_chunk_in_one_pass_gives_what_feed_and_end_give(
    case: tuple[str, bytes], cuts: list[int]
) -> None:
    token, body = case
    chunks = cut(body, cuts)
    assert scrub_ending_in_one_pass(token, chunks) == scrub(token, chunks)


@given(token=tokens, data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=4))
def test_arbitrary_bytes_ending_in_one_pass_lose_every_form_alike(
    token: str, data: bytes, cuts: list[int]
) -> None:
    forms = BodyForms(encodings(token)).forms
    bodies = [data]
    if forms:
        bodies.append(data[: len(data) // 2] + forms[0] + data[len(data) // 2 :] + b"\\")
    for body in bodies:
        chunks = cut(body, cuts)
        assert scrub_ending_in_one_pass(token, chunks) == scrub(token, chunks)


@pytest.mark.anyio
async def test_the_scrubbed_body_reads_like_any_body() -> None:
    body = orjson.dumps({"result": [{"id": TOKEN}] * 3, "next_cursor": TOKEN})
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    source = ScrubbedBody(FakeBody(chunks, None), Redactor([TOKEN]).body_forms.scrubber())
    assert source.read_buffered(0) == b""
    first = source.read_buffered(5)
    assert first == b'{"re'  # the 's' may begin the token: held back for now
    rest = await source.read(-1)
    assert source.at_eof() and source.bytes_read == len(body)
    assert orjson.loads(first + rest) == {
        "result": [{"id": "<redacted>"}] * 3,
        "next_cursor": "<redacted>",
    }
    assert await source.read(10) == b""


# --- found by mutation testing (mutmut over _scrub.py): each failed to fail before ----------


@pytest.mark.parametrize(
    "token",
    ["tok en-secret", "tok#en-secret", "t\u00f6k\u00e9n-secret", "0123456789", TOKEN],
)
def test_tokens_with_spaces_hashes_and_accents_are_scrubbed_in_strings(token: str) -> None:
    forms = [json.dumps(token), json.dumps(token, ensure_ascii=False)]
    body = orjson.dumps({"result": [{"a": token, "b": f"x{token}y"}], "c": "|".join(forms)})
    body += b" " + "|".join(forms).encode()
    out = scrub(token, [body])
    assert token.encode() not in out and json.dumps(token).encode() not in out
    assert orjson.loads(out[: out.rindex(b"}") + 1])  # still JSON


def test_a_token_with_a_surrogate_escape_builds_its_forms() -> None:
    assert BodyForms(encodings("tok\udcffen-value"))


BODIES = [
    f'{{"a":"{TOKEN}{TOKEN}","b":"{TOKEN}"}}',  # forms back to back
    '{"a":"\\n' + TOKEN + '\\u00e9","b":"\\\\' + TOKEN + '\\\\"}',  # escapes around
    json.dumps({"a": TOKEN.replace("/", "\\/"), "b": "sk-live/9f8e7d6c" + "x" * 20}),
    json.dumps([TOKEN]) + " " * 30 + json.dumps({"k": TOKEN[:-1]}),  # a near miss
]


@pytest.mark.parametrize("body", BODIES)
def test_every_cut_gives_what_the_whole_body_gives(body: str) -> None:
    # Each single cut and each pair of cuts of the body: the held-back end, the escapes
    # cut in two and the forms that straddle chunks all come out as they do whole.
    data = body.encode()
    whole = scrub(TOKEN, [data])
    assert TOKEN.encode() not in whole
    for a in range(len(data) + 1):
        assert scrub(TOKEN, cut(data, [a])) == whole, a
    for a in range(0, len(data), 3):
        for b in range(a, len(data), 5):
            assert scrub(TOKEN, cut(data, [a, b])) == whole, (a, b)
    assert scrub(TOKEN, [data[i : i + 1] for i in range(len(data))]) == whole


TAILS = [TOKEN[:k] for k in range(1, len(TOKEN))] + ["\\", "\\u", "\\u00", "\\u00e", "\\\\"]


@pytest.mark.parametrize("tail", TAILS)
def test_a_body_ending_in_what_could_start_a_form_comes_out_whole(tail: str) -> None:
    # What was held back for the next chunk is handed on, unchanged, when the body ends.
    data = b'{"a":"x\\n\\u00e9"} ' + tail.encode()
    for a in range(len(data) + 1):
        assert scrub(TOKEN, cut(data, [a])) == data, a
    assert scrub(TOKEN, [data[i : i + 1] for i in range(len(data))]) == data


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (f'"{TOKEN}{TOKEN}"', '"<redacted><redacted>"'),
        (f'"\\n{TOKEN}\\u00e9"', '"\\n<redacted>\\u00e9"'),
        (f'"\\\\{TOKEN}\\\\"', '"\\\\<redacted>\\\\"'),
        (f'"{TOKEN[:-1]}" "{TOKEN}"', f'"{TOKEN[:-1]}" "<redacted>"'),
        ('"ab' + TOKEN.replace("/", "\\/") + '"', '"ab<redacted>"'),
    ],
)
def test_forms_are_replaced_exactly_however_cut(body: str, expected: str) -> None:
    data = body.encode()
    for a in range(len(data) + 1):
        for b in range(a, len(data) + 1, 4):
            assert scrub(TOKEN, cut(data, [a, b])) == expected.encode(), (a, b)


# --- overlapping occurrences (the search: tests/unit/test_scrub_search.py) -------------------


@pytest.mark.parametrize(
    ("token", "body"),
    [
        ("abcdabcdab", b'"abcdabcdabcdab"'),  # the token overlapping itself
        ("aaaaaaaaaaaa", b'"' + b"a" * 40 + b'"'),
        ("xyzxyzxyzx", b'"xyzxyzxyzxyzxyzx-xyzxyzxyzx"'),
    ],
)
def test_overlapping_occurrences_are_redacted_together(token: str, body: bytes) -> None:
    clean = scrub(token, [body])
    assert token.encode() not in clean
    assert clean.count(REDACTED_BYTES) >= 1
    assert not set(clean[1:-1].split(REDACTED_BYTES)) - {b"", b"-"}
