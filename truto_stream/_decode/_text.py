"""Record texts: each record's own JSON text, validated, with no Python object per record.

The dict decoder's cuts (runs of whole records, NDJSON lines) are verified by decoding
them with orjson. With ``as_text`` the same text is validated by msgspec instead, which reads
JSON at C speed without building anything for what it skips: a run is split into the
exact text of each record (``msgspec.Raw``), each NDJSON line is decoded on its own as
one object, keeping only its ``remote_data`` member's text (:class:`TextRecords`: the
Arrow path needs no second pass to find it). Each record is handed on as ``bytes`` that
start with ``{`` and end with ``}`` (the server's own text, whitespace inside it kept).

One rule for both: what the dict decoder refuses, ``as_text`` refuses with the same
error. msgspec is stricter than orjson nowhere that matters here, but more lenient in
three places (strings that are not UTF-8, nesting deeper than orjson's 1024 levels when
the interpreter's recursion limit was raised, numbers beyond a double's range); the first
two are checked here, and whenever msgspec refuses or cannot vouch, orjson's verdict is
taken. The one difference left is the third: a number beyond a double's range (``1e400``)
is valid JSON that orjson cannot hold, refused by the dict decoder and kept as text here.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Iterable
from itertools import filterfalse, repeat
from typing import Any, Final

import msgspec
import orjson

from truto_stream._decode._json import ORJSON_MAX_DEPTH
from truto_stream.errors import MalformedBody

__all__ = [
    "ABSENT",
    "CUT_MEMBER",
    "TextRecords",
    "array_text",
    "as_texts",
    "check_texts",
    "one_each",
    "split_run",
    "text_lines",
]

_OPEN: Final = 0x7B  # {
_WS: Final = b" \t\r\n"

#: The member whose value NDJSON lines hand on with their texts (:class:`TextRecords`):
#: the API's vendor-shaped JSON, which the Arrow path cuts out of each record.
CUT_MEMBER: Final = "remote_data"
#: A record's member when the record has none (compared by identity).
ABSENT: Final = msgspec.Raw(b"null")
_MEMBER: Final = msgspec.defstruct("Member", [(CUT_MEMBER, msgspec.Raw, ABSENT)], gc=False)
_LINE: Final = msgspec.json.Decoder(_MEMBER)
_GET_MEMBER: Final = operator.attrgetter(CUT_MEMBER)


_VALUES: Final = msgspec.json.Decoder(list[msgspec.Raw])
_RUNS: Final[dict[tuple[bool, int], msgspec.json.Decoder[Any]]] = {
    (False, 1): _VALUES,
    (True, 1): msgspec.json.Decoder(dict[str, msgspec.Raw]),
    (False, 2): msgspec.json.Decoder(list[list[msgspec.Raw]]),
    (True, 2): msgspec.json.Decoder(list[dict[str, msgspec.Raw]]),
}
_REFUSED: Final = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


class TextRecords(list[bytes]):
    """Record texts (NDJSON lines) with, for each, its top-level :data:`CUT_MEMBER`
    value as msgspec read it (``members``: the last one where the name repeats, as for
    orjson; :data:`ABSENT` where there is none). The Arrow path takes a member's place
    from it instead of searching and checking each text again. A slice, or a list made
    of it, is a plain list: whoever gets one, or a list of another kind, has the texts
    alone."""

    __slots__ = ("members",)

    def __init__(self, texts: Iterable[bytes], members: list[msgspec.Raw]) -> None:
        super().__init__(texts)
        self.members = members


def vouched(text: bytes | bytearray, records: Iterable[bytes]) -> bool:
    """True when orjson accepts ``text`` too, given that msgspec did (see the module doc).

    ``records``: the parts of ``text`` where a byte may be other than ASCII (msgspec has
    checked its member names; the rest is brackets, commas and whitespace). Only those
    that are not ASCII are decoded, one by one: a few records of a read usually hold
    other characters, and decoding the whole text (a read of up to 256 KiB, out of the
    cache) costs a multiple of decoding them.
    """
    return _utf8(records) and _shallow([text])


def _utf8(records: Iterable[bytes]) -> bool:
    """Is each of ``records`` UTF-8 (see :func:`vouched`)?"""
    for record in filterfalse(bytes.isascii, records):
        try:
            record.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def _shallow(texts: list[bytes] | list[bytes | bytearray]) -> bool:
    """Are ``texts`` within orjson's depth, where msgspec may have gone deeper?"""
    # msgspec stops at the interpreter's recursion limit; above orjson's, count brackets.
    return sys.getrecursionlimit() <= ORJSON_MAX_DEPTH or all(
        text.count(b"[") + text.count(b"{") <= ORJSON_MAX_DEPTH for text in texts
    )


def split_run(text: bytes, *, keyed: bool, depth: int) -> list[bytes] | None:
    """The records of a run decoded inside ``depth`` brackets (as ``Runs`` wraps it), each
    as its own text; None when msgspec refuses the text or cannot vouch for it (the
    caller then takes orjson's verdict)."""
    try:
        document = _RUNS[(keyed, depth)].decode(text)
    except _REFUSED:
        return None
    for _ in range(depth - 1):
        if len(document) != 1:
            return None
        document = document[0]
    values = document.values() if keyed else document
    records = [bytes(value) for value in values]
    return records if vouched(text, records) else None


def array_text(texts: list[bytes]) -> bytes:
    """The text of one JSON array of ``texts`` (at least one), copied once.

    The brackets go on the first and last text: ``b"[" + b",".join(texts) + b"]"`` copies
    the whole of it three times, and at a batch's size (megabytes) each copy is fresh
    memory from the system (measured on 10,000 emulator users: 0.76 against 0.03 µs a
    record)."""
    if len(texts) == 1:
        return b"[" + texts[0] + b"]"
    return b",".join([b"[" + texts[0], *texts[1:-1], texts[-1] + b"]"])


def one_each(texts: list[bytes], text: bytes) -> bool:
    """Is each of ``texts`` exactly one JSON value, ``text`` their :func:`array_text`?

    One decode checks them all, but counting its values is not enough: a bracket one
    text opens may close in the next (``{"a":[1`` then ``2]}``) while another holds two
    values (``{"x":1},{"y":2}``). Each value's span must be its text's, less the
    whitespace around it: the spans follow one another, so equal lengths are equal spans.
    """
    try:
        values = _VALUES.decode(text)
    except _REFUSED:
        return False
    lengths = list(map(len, values))
    return lengths == list(map(len, texts)) or lengths == [len(t.strip(_WS)) for t in texts]


def text_lines(lines: list[bytes]) -> TextRecords | None:
    """NDJSON lines as record texts (stripped), if each holds exactly one JSON object; None
    when msgspec refuses them or cannot vouch (the caller then decodes them as dicts).

    Each line is decoded on its own (exactly one object, or msgspec refuses it), into
    the one member it keeps (:class:`TextRecords`): one pass over the text, and faster
    than one decode of the lines' array whose spans must then be checked.
    """
    try:
        found = list(map(_LINE.decode, lines))
    except _REFUSED:
        return None  # not one object a line, or not JSON: orjson says why
    if not (_utf8(lines) and _shallow(lines)):
        return None  # text orjson may refuse (each line is its own document)
    return TextRecords(map(bytes.strip, lines, repeat(_WS)), list(map(_GET_MEMBER, found)))


def as_texts(records: list[Any]) -> list[bytes]:
    """Decoded values as record texts (a rare path: text msgspec could not vouch for)."""
    return [orjson.dumps(record) for record in records]


def check_texts(records: list[bytes], where: str) -> list[bytes]:
    """``records`` if each is a JSON object (the dict decoder's ``check_records``)."""
    for record in records:
        if record[0] != _OPEN:
            raise MalformedBody(f"a record that is not a JSON object ({where})")
    return records
