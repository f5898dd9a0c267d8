"""Server text made safe to show (sans-IO): secrets in any obvious encoding, escapes, length."""

from __future__ import annotations

import base64
import json
import pickle
import string
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream import errors as e
from truto_stream._redact import MAX_TEXT_CHARS, REDACTED, Redactor, escape_controls

TOKEN = "sk-live/9f8e7d6c5b4a+3210=zyx&w?v"
tokens = st.text(string.ascii_letters + string.digits + '-_./+=~!$&?%"\\', min_size=12)


@pytest.mark.parametrize(
    "form",
    [
        TOKEN,
        f"Bearer {TOKEN}",
        quote(TOKEN, safe=""),
        quote(TOKEN),
        quote(TOKEN, safe="").lower(),
        quote_plus(f"Bearer {TOKEN}"),
        json.dumps(TOKEN)[1:-1],
        json.dumps(TOKEN).replace("/", "\\/")[1:-1],
        TOKEN.encode().hex(),
        TOKEN.encode().hex().upper(),
        base64.b64encode(TOKEN.encode()).decode(),
        base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("="),
        base64.b64encode(f"Bearer {TOKEN}".encode()).decode(),
        base64.b64encode(f"Authorization: Bearer {TOKEN}".encode()).decode(),
    ],
)
def test_every_obvious_form_is_scrubbed(form: str) -> None:
    clean = Redactor([TOKEN]).text(f"before {form} after")
    assert form not in clean
    assert REDACTED in clean
    assert clean.startswith("before ") and clean.endswith(" after")


@given(token=tokens, prefix=st.binary(max_size=7), suffix=st.binary(max_size=7))
def test_base64_at_any_alignment_keeps_nothing_of_the_token(
    token: str, prefix: bytes, suffix: bytes
) -> None:
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(prefix + token.encode() + suffix).decode()
        clean = Redactor([token]).scrub(encoded)
        assert REDACTED in clean
        # What is left is the prefix's and suffix's share, give or take a character
        # on each side that mixes their bits with the token's.
        left = len(clean) - len(REDACTED)
        assert left <= 4 * (len(prefix) + len(suffix)) // 3 + 6


@given(token=tokens, around=st.text(max_size=30))
def test_the_raw_url_and_json_forms_never_survive(token: str, around: str) -> None:
    redactor = Redactor([token])
    for form in (token, quote(token, safe=""), quote_plus(token), json.dumps(token)[1:-1]):
        assert form not in redactor.scrub(around + form + around)


@given(text=st.text())
def test_control_characters_never_survive(text: str) -> None:
    clean = Redactor([TOKEN]).text(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in clean)
    assert not set(clean) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_escapes_are_readable() -> None:
    assert escape_controls("a\x1b[31mb\nc\u202e") == "a\\x1b[31mb\\x0ac\\u202e"


def test_plain_text_is_left_alone() -> None:
    assert Redactor([TOKEN]).text("Invalid date: 20-11-2026 (ünïcode ok)") == (
        "Invalid date: 20-11-2026 (ünïcode ok)"
    )


def test_text_is_bounded_after_the_secret_is_gone() -> None:
    # The cut falls in the middle of where the token was: no half token is left.
    text = "x" * (MAX_TEXT_CHARS - 5) + TOKEN + "y" * 10_000
    clean = Redactor([TOKEN]).text(text)
    assert len(clean) < MAX_TEXT_CHARS + 40
    assert TOKEN[:8] not in clean
    assert clean.endswith("more chars]")


def test_json_values_are_cleaned_deeply_and_bounded() -> None:
    value = {TOKEN: {"v": [f"Bearer {TOKEN}", 1, None, True, {"deep": "\x1b"}]}}
    clean = Redactor([TOKEN]).value(value)
    assert TOKEN not in repr(clean)
    assert clean == {REDACTED: {"v": [f"Bearer {REDACTED}", 1, None, True, {"deep": "\\x1b"}]}}
    wide = Redactor([TOKEN]).value(list(range(1000)))
    assert len(wide) == 100
    nested: object = "leaf"
    for _ in range(50):
        nested = [nested]
    assert "..." in repr(Redactor([TOKEN]).value(nested))


def test_no_secret_means_no_scrubbing_and_repr_is_safe() -> None:
    assert Redactor([]).text("anything") == "anything"
    assert Redactor([""]).scrub("anything") == "anything"
    assert TOKEN not in repr(Redactor([TOKEN]))


# --- errors cleaned -------------------------------------------------------------------------


def test_an_http_error_is_cleaned_in_every_field_and_relabelled() -> None:
    err = e.error_for_status(
        400,
        {
            "error": f"Bad {TOKEN}",
            "message": f"creds Bearer {TOKEN}\x1b[2J",
            "truto_error_insight": {"remote_error": {"value": TOKEN}},
        },
    )
    Redactor([TOKEN]).error(err, account_id="acc", path="/p")
    for text in (str(err), repr(err), repr(vars(err)), repr(pickle.loads(pickle.dumps(err)))):
        assert TOKEN not in text
        assert "\x1b" not in text
    assert err.truto_message == f"creds Bearer {REDACTED}\\x1b[2J"
    assert err.insight == {"remote_error": {"value": REDACTED}}
    assert (err.account_id, err.path) == ("acc", "/p")
    assert str(err) == (
        f"HTTP 400 Bad {REDACTED}: creds Bearer {REDACTED}\\x1b[2J (/p, account acc)"
    )


def test_a_labelled_error_keeps_its_labels_and_loses_its_chain() -> None:
    try:
        try:
            raise ValueError(f"inner {TOKEN}")
        except ValueError as inner:
            raise e.MalformedBody(f"bad {TOKEN}", account_id="a1", path="/x") from inner
    except e.MalformedBody as caught:
        err = caught
    Redactor([TOKEN]).error(err, account_id="other", path="/other")
    assert (err.account_id, err.path) == ("a1", "/x")
    assert err.__cause__ is None and err.__context__ is None
    assert str(err) == f"bad {REDACTED} (/x, account a1)"


# --- found by mutation testing (mutmut over _redact.py): each failed to fail before ---------


def _nest(depth: int, leaf: object, kind: str) -> object:
    for _ in range(depth):
        leaf = [leaf] if kind == "list" else {"k": leaf}
    return leaf


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_json_values_are_walked_exactly_eight_levels_deep(kind: str) -> None:
    redactor = Redactor([TOKEN])
    assert redactor.value(_nest(8, "leaf", kind)) == _nest(8, "leaf", kind)
    assert redactor.value(_nest(9, "leaf", kind)) == _nest(8, "...", kind)
    assert redactor.value({1, 2}) == "{1, 2}"  # not JSON: shown as its repr, cleaned


def test_text_is_cut_only_past_the_bound_and_says_how_much() -> None:
    redactor = Redactor([TOKEN], max_chars=10)
    assert redactor.text("x" * 10) == "x" * 10
    assert redactor.text("x" * 13) == "x" * 10 + "... [3 more chars]"
    assert repr(redactor) == "Redactor(<secrets redacted>)"


def test_every_secret_is_scrubbed_the_longest_first() -> None:
    redactor = Redactor(["abcdefgh", "abcdefgh-longer", "zyxwvuts", "Xabcdefgh"])
    text = "abcdefgh-longer zyxwvuts abcdefgh Xabcdefgh"
    assert redactor.scrub(text) == " ".join([REDACTED] * 4)
    scrubber = redactor.body_forms.scrubber()
    assert scrubber.feed(text.encode()) + scrubber.end() == " ".join([REDACTED] * 4).encode()


def test_short_non_ascii_and_odd_secrets_in_every_form() -> None:
    # A 5-byte secret's base64 core is exactly 6 characters, the shortest kept.
    assert Redactor(["abcde"]).scrub(base64.b64encode(b"abcde").decode()).startswith(REDACTED)
    # A space and a slash: quote(safe="") is the only form that writes both encoded.
    spaced = "tok/en with space"
    assert Redactor([spaced]).scrub(quote(spaced, safe="")) == REDACTED
    # Non-ASCII: JSON writes it as \\u escapes (ensure_ascii) or as it is.
    accented = "t\u00f6k\u00e9n-secret"
    for form in (json.dumps(accented), json.dumps(accented, ensure_ascii=False)):
        assert Redactor([accented]).scrub(form) == f'"{REDACTED}"'
    both = 't\u00f6k"en-secret'  # non-ASCII and a quote: JSON writes it two ways
    for form in (json.dumps(both), json.dumps(both, ensure_ascii=False)):
        assert Redactor([both]).scrub(form) == f'"{REDACTED}"'
    quoted = 'sk/"quoted"\\token'  # JSON escapes both ends of its form
    assert Redactor([quoted]).scrub(json.dumps(quoted)) == f'"{REDACTED}"'
    # A token read from a non-UTF-8 environment carries surrogate escapes.
    odd = "tok\udcffen-value"
    assert Redactor([odd]).scrub(f"x {odd} y") == f"x {REDACTED} y"
