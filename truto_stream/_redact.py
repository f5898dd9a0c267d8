"""Server text made safe to show (sans-IO): no secret, no control character, bounded.

Whatever a server says can end up in an exception, and from there on a terminal, in a
log, a report or a checkpoint. A :class:`Redactor` is built from the secrets a client
sends (its API token) and cleans such text in three steps, in this order:

1. every occurrence of a secret, or of an obvious encoding of it, becomes
   ``<redacted>``: the raw text, URL-encoded (either hex case, ``+`` or ``%20`` for a
   space), JSON-escaped, hex, and base64 (standard and URL-safe alphabets) at each of
   the three alignments a secret can have inside a longer encoded text (so the base64
   of ``Authorization: Bearer <token>`` is caught as well as that of the token alone);
2. control and bidirectional-override characters are escaped (``\\x1b``, ``\\u202e``),
   so an ESC sequence in an error body prints as text instead of driving the terminal;
3. the result is cut to ``max_chars`` (after the secrets are gone, so a cut can never
   leave half of one behind).

:meth:`Redactor.error` applies this to every text a :class:`~truto_stream.errors.TrutoError`
carries and drops its chain of foreign exceptions. The fetch loop calls it on every error
it raises: errors are built from server answers only there and below it.
:attr:`Redactor.body_forms` carries the same forms to the transport, which scrubs every
response body with them as it arrives (:mod:`truto_stream._scrub`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar
from urllib.parse import quote, quote_plus

from truto_stream._scrub import MIN_FORM_BYTES, BodyForms
from truto_stream.errors import TrutoError

__all__ = ["MAX_TEXT_CHARS", "REDACTED", "Redactor", "escape_controls"]

REDACTED: Final = "<redacted>"
#: The longest server text kept in an error field (Truto's messages are one line).
MAX_TEXT_CHARS: Final = 500
#: Shortest base64 fragment worth matching: shorter ones match ordinary text by chance.
_MIN_B64_CHARS: Final = 6
#: JSON values deeper or wider than this are summarised, not walked (insight objects).
_MAX_DEPTH: Final = 8
_MAX_ITEMS: Final = 100

# C0 and C1 controls, DEL, and the bidi embeddings/overrides/isolates that reorder text.
_CONTROLS: Final = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

E = TypeVar("E", bound=TrutoError)


def escape_controls(text: str) -> str:
    """``text`` with every control or bidi-override character written as an escape."""
    return _CONTROLS.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters fixed by ``raw`` alone, at each alignment in a longer text."""
    cores = set()
    for offset in range(3):
        padded = b"\0" * offset + raw + b"\0" * 3
        first = -(-offset * 8 // 6)  # the first character with no bit of the prefix
        last = (offset + len(raw)) * 8 // 6  # past the last character with no bit after
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(padded).decode("ascii")[first:last]
            if len(core) >= _MIN_B64_CHARS:
                cores.add(core)
    return cores


def _url_forms(secret: str) -> set[str]:
    raw = secret.encode("utf-8", "surrogatepass")  # quote() of a str refuses surrogates
    forms = {quote(raw, safe=""), quote(raw), quote_plus(raw)}
    # Percent-encoding is case-insensitive in its hex digits.
    forms |= {re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), form) for form in forms}
    return forms


def encodings(secret: str) -> set[str]:
    """Every form of ``secret`` a :class:`Redactor` scrubs (for tests and audits)."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret, raw.hex(), raw.hex().upper()}
    forms |= _url_forms(secret)
    for ascii_only in (False, True):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/")}
    forms |= _base64_cores(raw)
    return {form for form in forms if form}


class Redactor:
    """Cleans server text of the given secrets (see the module docstring)."""

    def __init__(self, secrets: Iterable[str], *, max_chars: int = MAX_TEXT_CHARS) -> None:
        forms: set[str] = set()
        body_forms: set[str] = set()
        for secret in filter(None, secrets):
            forms |= encodings(secret)
            if len(secret.encode("utf-8", "surrogatepass")) >= MIN_FORM_BYTES:
                body_forms |= encodings(secret)
        self.max_chars = max_chars
        #: The same forms, for scrubbing response bodies as they arrive (a secret too
        #: short to be told from ordinary data is left out: see truto_stream._scrub).
        self.body_forms = BodyForms(body_forms)
        # Longest first: a form that contains another is replaced whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __repr__(self) -> str:
        return "Redactor(<secrets redacted>)"

    def scrub(self, text: str) -> str:
        """``text`` without any form of a secret (nothing else changed)."""
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def text(self, text: str) -> str:
        """Server text ready to show: secrets scrubbed, controls escaped, length bounded."""
        clean = escape_controls(self.scrub(text))
        if len(clean) > self.max_chars:
            clean = clean[: self.max_chars] + f"... [{len(clean) - self.max_chars} more chars]"
        return clean

    def value(self, value: Any, depth: int = 0) -> Any:
        """A JSON value (such as ``truto_error_insight``) with every string cleaned."""
        if isinstance(value, str):
            return self.text(value)
        if depth >= _MAX_DEPTH and isinstance(value, Mapping | list | tuple):
            return "..."
        if isinstance(value, Mapping):
            items = list(value.items())
            return {
                self.text(str(key)): self.value(item, depth + 1) for key, item in items[:_MAX_ITEMS]
            }
        if isinstance(value, list | tuple):
            return [self.value(item, depth + 1) for item in value[:_MAX_ITEMS]]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(repr(value))

    def error(self, error: E, *, account_id: str | None, path: str | None) -> E:
        """``error`` made safe to show, labelled with ``account_id`` and ``path`` if unset.

        Every text it carries is cleaned, and its chain of causes is dropped: those are
        aiohttp's or the parser's exceptions, whose messages and attributes (request
        headers included) are out of this module's reach.
        """
        error.clean(self, account_id=account_id, path=path)
        error.__cause__ = None
        error.__context__ = None
        error.__suppress_context__ = True
        return error
