"""The token out of response bodies as their bytes arrive (sans-IO), JSON kept valid.

A server may echo the API token inside a successful body: in a record, in ``next_cursor``
(which a checkpoint stores), in the envelope's other members, in an integrated account's
fields. A :class:`BodyScrubber` sits between the transport and the parser and replaces
every form of the token that :func:`truto_stream._redact.encodings` lists (raw,
URL-encoded, JSON-escaped, hex, base64 at each alignment), each also as a JSON string
writes it (escaped, with or without ``\\/``), with ``<redacted>`` in the body's bytes
before anything decodes them: whatever is built from a body (records, cursors, metadata,
error text) is clean by construction.

Streaming: a form may straddle two chunks, so the end of a chunk that could begin a form
(usually nothing; at most the longest form less one byte, or an escape sequence cut in
two) is held back and scanned again with the next chunk. The cost is one ``bytes.find``
(memmem) pass per form per chunk; a chunk with no form in it is handed on uncopied.

The body stays the JSON it was:

- a form holding a bare quote or a control character cannot occur inside a JSON string,
  so it is not searched for (its escaped writing, which can, is);
- a match that begins or ends inside an escape sequence (``\\n``, ``\\u00e9``) is
  widened to the whole escape, so no lone backslash is left to escape the replacement;
- a match made only of the characters of a JSON number (a numeric token, or the hex of
  one) may be part of a number: it keeps its shape, every digit a ``9``, which is valid
  both in a number and in a string.

Secrets shorter than :data:`MIN_FORM_BYTES` are not searched for: they would match
ordinary data, and a token that short is no secret anyway (errors still scrub it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Final

__all__ = ["MIN_FORM_BYTES", "BodyForms", "BodyScrubber"]

#: Forms shorter than this are left alone in bodies (they would match ordinary data).
MIN_FORM_BYTES: Final = 8
REDACTED_BYTES: Final = b"<redacted>"

_BACKSLASH: Final = 0x5C
_U: Final = 0x75
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
#: ``\uXXXX``: the longest escape sequence in JSON.
_ESCAPE_BYTES: Final = 6
_DIGITS_TO_NINES: Final = bytes.maketrans(b"0123456789", b"9999999999")
_NUMBER_BYTES: Final = b"0123456789.eE+-"


def _in_json(form: str) -> set[bytes]:
    """The bytes ``form`` takes in a JSON text: as is, or JSON-escaped (each usual way)."""
    texts = {form}
    for ascii_only in (False, True):
        escaped = json.dumps(form, ensure_ascii=ascii_only)[1:-1]
        texts |= {escaped, escaped.replace("/", "\\/")}
    ways = {text.encode("utf-8", "surrogatepass") for text in texts}
    return {way for way in ways if _fits_in_a_string(way)}


def _fits_in_a_string(way: bytes) -> bool:
    """No bare quote nor control character: ``way`` can occur inside a JSON string.

    (Only the escaped ways of writing a form with either can.)
    """
    escaped = False
    for byte in way:
        if byte < 0x20 or (byte == 0x22 and not escaped):
            return False
        escaped = byte == _BACKSLASH and not escaped
    return True


class BodyForms:
    """The byte forms of a set of secrets, ready to scrub bodies (shared by all bodies)."""

    __slots__ = ("forms", "prefixes", "starts", "window")

    def __init__(self, forms: Iterable[str]) -> None:
        encoded = set().union(*map(_in_json, forms))
        kept = [f for f in encoded if len(f) >= MIN_FORM_BYTES]
        self.forms: tuple[bytes, ...] = tuple(sorted(kept, key=len, reverse=True))
        #: Every proper prefix of a form: what a chunk may end with mid-form.
        self.prefixes = frozenset(f[:k] for f in self.forms for k in range(1, len(f)))
        #: The first bytes of the forms: where a held-back end can start.
        self.starts = tuple(sorted({f[0] for f in self.forms}))
        self.window = max(map(len, self.forms), default=1) - 1

    def __bool__(self) -> bool:
        return bool(self.forms)

    def __repr__(self) -> str:
        return f"BodyForms(<{len(self.forms)} forms redacted>)"

    def scrubber(self) -> BodyScrubber:
        """A scrubber for one body."""
        return BodyScrubber(self)


class BodyScrubber:
    """Replaces every form of a secret in one body, fed chunk by chunk (module docstring)."""

    __slots__ = ("_carry", "_forms")

    def __init__(self, forms: BodyForms) -> None:
        self._forms = forms
        # Held back from the last chunk: never starts inside an escape sequence, so
        # every escape this scrubber has to understand lies within one buffer.
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        """The scrubbed bytes of ``data`` that can be handed on now (maybe fewer, or more)."""
        buf = self._carry + data if self._carry else data
        return self._pass(buf, final=False) if buf else b""

    def end(self) -> bytes:
        """The body is over: what was held back, scrubbed."""
        buf, self._carry = self._carry, b""
        return self._pass(buf, final=True) if buf else b""

    def _pass(self, buf: bytes, *, final: bool) -> bytes:
        spans = self._spans(buf, final=final)
        cut = len(buf) if final else self._hold(buf, spans)
        self._carry = buf[cut:] if cut < len(buf) else b""
        if not spans and cut == len(buf):
            return buf  # the usual case: nothing found, nothing held, nothing copied
        return _replace(buf, spans, cut)

    def _spans(self, buf: bytes, *, final: bool) -> list[tuple[int, int]]:
        """Where forms occur, widened to whole escape sequences, overlaps merged."""
        hits = []
        for form in self._forms.forms:
            i = buf.find(form)
            while i >= 0:
                hits.append((i, i + len(form)))
                i = buf.find(form, i + 1)
        if not hits:
            return hits
        hits.sort()
        spans: list[tuple[int, int]] = []
        for start, end in hits:
            start = self._widen_start(buf, start)
            end = self._widen_end(buf, end)
            if final:
                end = min(end, len(buf))
            if spans and start < spans[-1][1]:
                first, last = spans[-1]
                spans[-1] = (min(first, start), max(last, end))
            else:
                spans.append((start, end))
        return spans

    def _hold(self, buf: bytes, spans: list[tuple[int, int]]) -> int:
        """Where to cut ``buf``: what follows may be the start of a form, or mid-escape."""
        n = len(buf)
        cut = n
        low = max(0, n - self._forms.window)
        prefixes = self._forms.prefixes
        for byte in self._forms.starts:
            i = buf.find(byte, low, cut)
            while i >= 0:
                if buf[i:] in prefixes:
                    cut = i  # the earliest start: the longest possible form
                    break
                i = buf.find(byte, i + 1, cut)
        opener = self._open_escape(buf)
        if opener is not None:
            cut = min(cut, opener)
        if cut < n:
            cut = self._widen_start(buf, cut)
        for start, end in reversed(spans):
            if end <= cut:
                break
            cut = min(cut, start)  # a match that needs the next bytes, or crosses the cut
        return cut

    @staticmethod
    def _opener(buf: bytes, p: int) -> bool:
        """``buf[p]`` is a backslash that starts an escape sequence (odd run of them)."""
        q = p
        while q >= 0 and buf[q] == _BACKSLASH:
            q -= 1
        return (p - q) % 2 == 1

    def _widen_start(self, buf: bytes, start: int) -> int:
        """``start``, moved back to the backslash of an escape sequence it falls in."""
        if self._opener(buf, start - 1):
            return start - 1
        q = start - 1
        while q >= 1 and q >= start - 4:  # \\u and up to three hex digits before start
            byte = buf[q]
            if byte == _U:
                return q - 1 if self._opener(buf, q - 1) else start
            if byte not in _HEX:
                break
            q -= 1
        return start

    def _widen_end(self, buf: bytes, end: int) -> int:
        """``end``, past the escaped byte when the match ends on an escape's backslash."""
        return end + 1 if self._opener(buf, end - 1) else end

    def _open_escape(self, buf: bytes) -> int | None:
        """Where an escape sequence that ``buf`` ends in the middle of starts."""
        n = len(buf)
        p = buf.rfind(b"\\", max(0, n - _ESCAPE_BYTES))
        if p < 0 or not self._opener(buf, p):
            return None
        rest = buf[p + 1 :]
        if not rest or (rest[0] == _U and all(byte in _HEX for byte in rest[1:])):
            return p
        return None


def _replace(buf: bytes, spans: list[tuple[int, int]], cut: int) -> bytes:
    parts: list[bytes] = []
    done = 0
    for start, end in spans:
        if end > cut:
            break
        parts += (buf[done:start], _replacement(buf[start:end]))
        done = end
    parts.append(buf[done:cut])
    return b"".join(parts)


def _replacement(text: bytes) -> bytes:
    # Text that may be (part of) a JSON number, where "<redacted>" would not parse,
    # keeps its shape with every digit a 9: valid as a number and as string text.
    if not text.strip(_NUMBER_BYTES):
        return text.translate(_DIGITS_TO_NINES)
    return REDACTED_BYTES
