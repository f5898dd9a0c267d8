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
two) is held back and scanned again with the next chunk. A chunk with no form in it is
handed on uncopied.

The forms are searched for in one of two exact ways, one answer (:class:`MultiSearch`):

- one ``bytes.find`` pass per form;
- one pass for all forms with an Aho-Corasick automaton (``ahocorasick_rs``), in its
  leftmost-longest kind, the one its SIMD prefilter serves. It reports matches that do
  not overlap and goes on from each one's end, so an occurrence it does not report
  starts inside one it does: the forms are looked for again there, in a form's length.

Which is cheaper depends on the forms and on the data: the prefilter keys on a few bytes
of each form, so a page of emulator users is searched for the emulator's token in ~7 µs
against ~65 µs of finds, but for a UUID token among UUIDs the automaton is twice as slow
as the finds. Both are timed on the chunks scrubbed (alternately, :data:`_TRIALS` calls
in each period of :data:`_PERIOD` calls, doubled up to :data:`_MAX_PERIOD` while the
verdict holds: a trial of the slower way costs up to ten calls of the faster), and the
cheaper per byte is used in between, the finds first.

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
import time
from collections.abc import Iterable, Sequence
from typing import Final

from ahocorasick_rs import BytesAhoCorasick, MatchKind

__all__ = ["MIN_FORM_BYTES", "BodyForms", "BodyScrubber", "MultiSearch"]

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

    __slots__ = ("forms", "occurrences", "prefixes", "starts", "window")

    def __init__(self, forms: Iterable[str]) -> None:
        encoded = set().union(*map(_in_json, forms))
        kept = [f for f in encoded if len(f) >= MIN_FORM_BYTES]
        self.forms: tuple[bytes, ...] = tuple(sorted(kept, key=len, reverse=True))
        #: Every proper prefix of a form: what a chunk may end with mid-form.
        self.prefixes = frozenset(f[:k] for f in self.forms for k in range(1, len(f)))
        #: The first bytes of the forms: where a held-back end can start.
        self.starts = tuple(sorted({f[0] for f in self.forms}))
        self.window = max(map(len, self.forms), default=1) - 1
        #: Every occurrence of every form in a buffer, overlaps included.
        self.occurrences = MultiSearch(self.forms)

    def __bool__(self) -> bool:
        return bool(self.forms)

    def __repr__(self) -> str:
        return f"BodyForms(<{len(self.forms)} forms redacted>)"

    def scrubber(self) -> BodyScrubber:
        """A scrubber for one body."""
        return BodyScrubber(self)


#: Calls between two rounds of trials (each way timed again: the data may have changed),
#: at first and after a round that changed the verdict.
_PERIOD: Final = 256
#: The longest period, reached by doubling while rounds keep the verdict (the emulator's
#: pages: the trials' finds were a sixth of the time scrubbing, at 256).
_MAX_PERIOD: Final = 4096
#: Timed calls per round, alternating between the two ways.
_TRIALS: Final = 8
#: Buffers shorter than this are not timed (the clock would weigh more than the search):
#: they are searched by the automaton.
_TIMED_BYTES: Final = 2**12


class MultiSearch:
    """Finds every occurrence of every pattern, the cheaper of two exact ways (module doc)."""

    __slots__ = ("_automaton", "_calls", "_cost", "_fast", "_kept", "_patterns", "_period")

    def __init__(self, patterns: Sequence[bytes]) -> None:
        self._patterns = tuple(patterns)
        self._automaton = (
            BytesAhoCorasick(self._patterns, matchkind=MatchKind.LeftmostLongest)
            if self._patterns
            else None
        )
        self._calls = 0
        self._period = _PERIOD
        self._cost = [0.0, 0.0, 0.0, 0.0]  # seconds and bytes: the finds', the automaton's
        self._fast = False  # the automaton is the cheaper way
        self._kept = False  # the verdict before this round of trials

    def __reduce__(self) -> tuple[type[MultiSearch], tuple[tuple[bytes, ...]]]:
        # The automaton does not pickle: a copy builds its own (as the forms pickled before).
        return MultiSearch, (self._patterns,)

    def __call__(self, buf: bytes) -> list[tuple[int, int]]:
        """``(start, end)`` of every occurrence of every pattern in ``buf``, in no order."""
        if self._automaton is None:
            return []
        if len(buf) < _TIMED_BYTES:
            # A small buffer (a small page, a stream's tail): the automaton's one call
            # beats a find per pattern whatever the data (a 171-byte page of emulator
            # users: 1.1 against 3.8 µs; UUIDs among UUIDs: 1.5 against 5.8 µs).
            return self.by_automaton(buf)
        self._calls = calls = (self._calls + 1) % self._period
        if calls >= _TRIALS:
            return self.by_automaton(buf) if self._fast else self.by_finds(buf)
        if calls == 0:
            self._cost = [0.0, 0.0, 0.0, 0.0]
            self._kept = self._fast
        fast = calls % 2 == 1
        started = time.perf_counter()
        spans = self.by_automaton(buf) if fast else self.by_finds(buf)
        cost = self._cost
        cost[2 * fast] += time.perf_counter() - started
        cost[2 * fast + 1] += len(buf)
        if cost[1] and cost[3]:
            self._fast = cost[2] / cost[3] < cost[0] / cost[1]
        if calls == _TRIALS - 1:  # the round is over: trials further apart while it holds
            held = self._fast == self._kept
            self._period = min(2 * self._period, _MAX_PERIOD) if held else _PERIOD
        return spans

    def by_finds(self, buf: bytes) -> list[tuple[int, int]]:
        """One ``bytes.find`` pass per pattern."""
        return self._starting_in(buf, 0, len(buf))

    def by_automaton(self, buf: bytes) -> list[tuple[int, int]]:
        """One pass for all patterns, then the occurrences it hid, where it found one."""
        assert self._automaton is not None
        spans: list[tuple[int, int]] = []
        for _, start, end in self._automaton.find_matches_as_indexes(buf):
            spans += self._starting_in(buf, start, end)  # the one reported and those it hid
        return spans

    def _starting_in(self, buf: bytes, start: int, end: int) -> list[tuple[int, int]]:
        """The occurrences that start in ``buf[start:end]``."""
        spans = []
        for pattern in self._patterns:
            stop = end - 1 + len(pattern)
            i = buf.find(pattern, start, stop)
            while i >= 0:
                spans.append((i, i + len(pattern)))
                i = buf.find(pattern, i + 1, stop)
        return spans


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

    def feed_last(self, data: bytes) -> bytes:
        """``feed(data) + end()`` in one pass: ``data`` ends the body (a small page's
        whole body, usually), so nothing is held back and no end is looked for."""
        buf, self._carry = (self._carry + data if self._carry else data), b""
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
        hits = self._forms.occurrences(buf)
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
