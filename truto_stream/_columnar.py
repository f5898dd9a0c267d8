"""Arrow columns straight from record texts: no Python dict per record.

Records that arrive as their own JSON text (the decoder's ``as_text``) are read by
``pyarrow.json`` with the schema's typed columns (fields outside it ignored), in C++, a
batch at a time. ``pyarrow.json`` cannot give a member as JSON text, so a JSON column
(``remote_data``, which the API sends last) is cut out of each record first: the text
after the record's first ``,"remote_data":`` up to its closing brace is that member's
value exactly when it parses as one JSON value (were that name nested, or the member
not last, the cut would hold an unmatched bracket or another member), which msgspec
checks for the whole batch at once without building anything; ``pyarrow.json`` then
reads the records without it (and without the typed fields no record of the previous
batch had, as long as none comes back: see ``TextColumns._typed_arrays``). NDJSON lines
come with each record's member as the decoder read it
(:class:`~truto_stream._decode._text.TextRecords`): where the record ends with it, after
its name, it is cut there with no search and no second check (``_LastMember._placed``).
A batch where some record has the member elsewhere (or spelled with whitespace or
escapes) has it read out by msgspec instead (exact, slower).

Semantics are :mod:`truto_stream.arrow`'s: a batch ``pyarrow.json`` cannot read exactly
as the dicts would be read (it refuses a value that does not fit its column, or a
duplicated name) is left to the caller, who builds it from dicts, so the result is the
same. A JSON column's text is the server's own, with whitespace removed and escapes
rewritten as orjson writes them; a number inside it keeps the server's spelling (``1.50``
stays ``1.50``; the dict path writes ``1.5``).
"""

from __future__ import annotations

import io
import operator
from array import array
from collections.abc import Sequence, Sized
from itertools import accumulate
from typing import Any, Final

import msgspec
import orjson
import pyarrow as pa
import pyarrow.json as pa_json

from truto_stream._decode._text import ABSENT, CUT_MEMBER, array_text, one_each

__all__ = ["TextColumns", "decode_texts", "is_texts", "string_array"]

_WHITESPACE: Final = (b" ", b"\n", b"\t", b"\r")
_NULL: Final = b"null"
_COMMA: Final = 0x2C
_BRACE: Final = 0x7B
_BRACKETS: Final = b"{["


def is_texts(records: Sequence[Any]) -> bool:
    """True when every record is its JSON text (``bytes``), none a dict."""
    return bool(records) and set(map(type, records)) == {bytes}


def decode_texts(records: Sequence[Any]) -> list[Any]:
    """Records as dicts, whichever form each arrived in."""
    return [_loads(r) if type(r) is bytes else r for r in records]


def _loads(text: bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # a number beyond a double (see _decode._text)
        return msgspec.json.decode(text)


class TextColumns:
    """The columns of one schema, built from record texts (see the module docstring).

    ``typed`` holds the fields ``pyarrow.json`` reads; ``json`` names the JSON text
    column, if any (one at most: the API's records have one, ``remote_data``).
    """

    def __init__(self, typed: pa.Schema, json: list[str]) -> None:
        if len(json) > 1:
            raise ValueError("one JSON column at most")
        self._typed = typed
        self._json = json[0] if json else None
        self._cut = _LastMember(json[0]) if json else None
        # The typed fields no record of the last batch read had a value in, and the
        # schema without them (see _typed_arrays); tries left after reads that failed.
        self._absent: list[pa.Field] = []
        self._present = typed
        self._tries = _ABSENT_TRIES

    def arrays(
        self, records: list[bytes], members: list[msgspec.Raw] | None = None
    ) -> dict[str, pa.Array] | None:
        """``{column: array}`` for ``records``; None when they need the dict path.

        ``members``: each record's :data:`~truto_stream._decode._text.CUT_MEMBER` as the
        decoder read it (:class:`~truto_stream._decode._text.TextRecords`), if known.
        """
        if self._cut is None:
            arrays = self._typed_arrays(b"\n".join(records), len(records))
        else:
            known = members if self._json == CUT_MEMBER else None
            cut = self._cut.split(records, known)
            if cut is None:
                return None
            text, values = cut
            arrays = self._typed_arrays(text, len(records))
            if arrays is not None:
                assert self._json is not None
                # Texts the decoder read are UTF-8, and so is each member cut from one.
                arrays[self._json] = (
                    values
                    if isinstance(values, pa.Array)
                    else string_array(values, utf8=known is not None)
                )
        return arrays

    def _typed_arrays(self, text: bytes, count: int) -> dict[str, pa.Array] | None:
        """The typed columns of ``count`` records, ``text`` their lines.

        pyarrow.json appends a null for each field a record lacks, record by record
        (a schema's fields absent from the data cost a third of the read, measured on
        the emulator's users). The fields that held no value in the last batch are
        left out of the next read, which then refuses any field it does not expect
        (``"error"``): the batch reads as it would with them, their columns all null,
        or it is read again with every field (and the absent ones learnt again).
        """
        if not len(self._typed):
            return {}
        if self._absent:
            arrays = _read_json(text, count, self._present, "error")
            if arrays is not None:
                for field in self._absent:
                    arrays[field.name] = pa.nulls(count, field.type)
                return arrays
            self._tries -= 1
        arrays = _read_json(text, count, self._typed, "ignore")
        if arrays is not None and self._tries > 0:
            self._absent = [f for f in self._typed if arrays[f.name].null_count == count]
            self._present = pa.schema([f for f in self._typed if f not in self._absent])
        return arrays


#: Reads without the absent fields that may fail before a TextColumns stops trying them
#: (data whose fields change from batch to batch, or that holds fields the schema lacks).
_ABSENT_TRIES: Final = 3


def _read_json(
    text: bytes, count: int, schema: pa.Schema, unexpected: str
) -> dict[str, pa.Array] | None:
    """``schema``'s columns of ``count`` records, ``text`` their lines; None when
    pyarrow.json refuses them (``unexpected``: what a field outside ``schema`` does)."""
    options = pa_json.ParseOptions(
        explicit_schema=schema,
        unexpected_field_behavior=unexpected,
        # Records from an indented body span lines: slower, but read right.
        newlines_in_values=text.count(b"\n") != count - 1,
    )
    read = pa_json.ReadOptions(use_threads=False, block_size=max(len(text) + 1, 1 << 20))
    try:
        table = pa_json.read_json(io.BytesIO(text), read_options=read, parse_options=options)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != count:  # pragma: no cover - one object per line
        return None
    return {name: _one_array(table.column(name)) for name in schema.names}


#: Offsets of an Arrow string array are 32-bit.
_MAX_STRING_BYTES: Final = 2**31 - 1


def string_array(values: Sequence[Any], *, utf8: bool = False) -> pa.Array:
    """``values`` (``bytes`` of UTF-8 text, ``str`` or None) as an Arrow string array.

    Texts alone are joined into one buffer that the array uses as it is: ``pa.array`` of
    a Python list imports pandas on its first call where pandas is installed (half a
    second of CPU and tens of MB, in a sweep's first batch). Anything else, or text that
    is not UTF-8, is left to ``pa.array`` (which refuses the latter, as before).
    ``utf8``: the texts are known to be UTF-8 (not checked again).
    """
    if set(map(type, values)) <= {bytes}:
        strings = _joined(values, b"".join(values))
        if strings is not None:
            if utf8:
                return strings
            try:
                strings.validate(full=True)  # UTF-8 (the decoder vouches for its texts)
            except pa.ArrowInvalid:
                pass
            else:
                return strings
    return pa.array(values, pa.string())


def _joined(values: Sequence[Sized], data: bytes) -> pa.Array | None:
    """A string array of ``values`` (texts) over ``data``, their join (not checked for
    UTF-8); None when it is too long for one."""
    if len(data) > _MAX_STRING_BYTES:
        return None
    offsets = array("i", list(accumulate(map(len, values), initial=0)))  # a list is faster
    return pa.Array.from_buffers(
        pa.string(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    return column.chunk(0) if column.num_chunks == 1 else pa.concat_arrays(column.chunks)


class _LastMember:
    """Cuts one member, when it is its record's last, out of each record's text."""

    def __init__(self, name: str) -> None:
        quoted = orjson.dumps(name)
        self._key = quoted + b":"
        self._member = b"," + self._key  # a member after another, as compact JSON has it
        self._quoted = quoted
        member = msgspec.defstruct("Member", [(name, msgspec.Raw, msgspec.Raw(_NULL))], gc=False)
        self._members = msgspec.json.Decoder(list[member])  # type: ignore[valid-type]
        self._get = operator.attrgetter(name)

    def split(
        self, records: list[bytes], members: list[msgspec.Raw] | None = None
    ) -> tuple[bytes, list[Any] | pa.Array] | None:
        """``(the records as NDJSON, each one's member as JSON text or None)``; None
        when msgspec cannot read them (the caller then decodes them). ``members``: each
        record's member as the decoder read it, if known. The members may come as
        their string array already (read from the decoder's texts)."""
        placed = self._placed(records, members) if members is not None else None
        if placed is not None:
            return placed
        cut = self._cut(records)
        return cut if cut is not None else self._read(records)

    def _placed(
        self, records: list[bytes], members: list[msgspec.Raw]
    ) -> tuple[bytes, list[Any] | pa.Array] | None:
        """The member cut out of each record where the decoder found it, when it is the
        record's last, spelled compactly; None otherwise (see :meth:`_cut`).

        ``members[i]`` is the text of the record's top-level member (the last one,
        where the name repeats), a JSON value. When the record ends with
        ``,"name":`` and that text before its closing brace, those bytes are that
        member: a valid value starting there inside a nested object or another
        member's value could not end where the record's last value ends (it would
        be followed by that container's closing bracket). No search, no second decode.
        """
        key, size = self._member, len(self._member)
        opened = key + b"{"  # an object's member, as the API's remote_data is
        heads: list[bytes] = []  # each record without the member and its closing brace
        objects = True
        for record, member in zip(records, members, strict=True):
            end = len(record) - 1
            at = end - len(member) - size
            if at > 0 and record.startswith(opened, at) and record.endswith(member, 0, end):
                heads.append(record[:at])
            elif member is ABSENT:
                heads.append(record[:-1])
                objects = False
            elif at > 0 and record.startswith(key, at) and record.endswith(member, 0, end):
                heads.append(record[:at])
                objects = False
            else:
                return None
        if heads:
            heads[-1] += b"}"
        return b"}\n".join(heads), _member_texts(members, objects)

    def _read(self, records: list[bytes]) -> tuple[bytes, list[Any]] | None:
        """The member read out of each record by msgspec (the last one wins, as for
        orjson): exact wherever it is and however it is spelled, slower than a cut."""
        try:
            found = self._members.decode(array_text(records))
        except (msgspec.DecodeError, msgspec.ValidationError):  # pragma: no cover
            return None
        values = [bytes(self._get(member)) for member in found]
        return b"\n".join(records), _texts(values, _plain(b"".join(values)))

    def _cut(self, records: list[bytes]) -> tuple[bytes, list[Any]] | None:
        """The member cut out of each record, where it is the record's last; None when
        a record has it anywhere else, or spelled otherwise."""
        key, size, quoted = self._key, len(self._key), self._quoted
        heads: list[bytes] = []  # each record without the member and its closing brace
        values: list[bytes | None] = []
        for record in records:
            # The first such name: the member comes last and is most of the record, so
            # the search is short. A name nested anywhere (before it or inside it) cuts
            # a text that is not one JSON value: _checked sends that batch to _read.
            at = record.find(key)
            if at > 1 and record[at - 1] == _COMMA:
                heads.append(record[: at - 1])
                values.append(record[at + size : -1])
            elif at == 1:  # the only member
                heads.append(b"{")
                values.append(record[at + size : -1])
            elif at < 0 and quoted not in record and b"\\u" not in record:
                heads.append(record[:-1])  # the record has no such member
                values.append(None)
            else:
                return None
        cut = [value for value in values if value is not None]
        checked = _checked(cut) if cut else b""
        if checked is None:
            return None
        if heads:
            heads[-1] += b"}"  # not to the joined text: a copy of megabytes
        return b"}\n".join(heads), _texts(values, _plain(checked))


def _member_texts(members: list[msgspec.Raw], objects: bool) -> list[Any] | pa.Array:
    """The members' texts (see :func:`_texts`); their string array when each is an
    object with no escape and no whitespace outside its strings, joined once for the
    checks and the array (the decoder vouched for their UTF-8)."""
    if objects:
        data = b"".join(members)
        plain = _plain(data)
        if plain or (b"\\" not in data and _compact(members)):
            strings = _joined(members, data)
            if strings is not None:
                return strings
        return _texts(list(map(bytes, members)), plain)
    values = [None if member is ABSENT else bytes(member) for member in members]
    return _texts(values, _plain(b"".join(value for value in values if value is not None)))


def _checked(values: list[bytes]) -> bytes | None:
    """``values`` (at least one) as the text of one JSON array, when each is exactly one
    JSON value (one decode for them all); None otherwise."""
    text = array_text(values)
    return text if one_each(values, text) else None


def _compact(values: list[msgspec.Raw]) -> bool:
    """Are ``values`` (JSON values) compact, whitespace only inside their strings (a
    space in a name, say)? One pass for them all, not a format of each (see
    :func:`_json_text`): formatting keeps strings and numbers as they are and drops the
    whitespace between tokens, so the text keeps its length only if there is none."""
    array = b"[" + b",".join(values) + b"]"
    try:
        return len(msgspec.json.format(array, indent=-1)) == len(array)
    except (msgspec.DecodeError, RecursionError):  # a value as deep as msgspec goes
        return False


def _plain(text: bytes) -> bool:
    """No whitespace and no escape in ``text`` (JSON text that is already compact)."""
    return not any(c in text for c in (b"\\", b" ", b"\n", b"\t", b"\r"))


def _texts(values: Sequence[bytes | None], plain: bool) -> list[Any]:
    """Each member's text as the dict path writes it: a string as itself, null as null,
    anything else as compact JSON (``bytes``: Arrow takes UTF-8 as it is). ``plain``:
    no value holds whitespace or an escape."""
    return [
        None if value is None else value if plain and value[0] == _BRACE else _json_text(value)
        for value in values
    ]


def _json_text(value: bytes) -> bytes | str | None:
    """One member's text (see :func:`_texts`), when the batch is not plain."""
    if value == _NULL:
        return None
    if value[0] not in _BRACKETS or b"\\" in value:
        # A string, a number, a boolean, or escapes to rewrite: orjson's own spelling.
        decoded = _loads(value)
        return decoded if isinstance(decoded, str) else orjson.dumps(decoded)
    if any(space in value for space in _WHITESPACE):
        return msgspec.json.format(value, indent=-1)
    return value
