"""Arrow batches from record texts equal the batches from dicts (sans-IO).

The text path (:mod:`truto_stream._columnar`) must give exactly what the dict path gives
for the same records, whatever they hold: generated users with odd values, values that do
not fit their column (that batch falls back to dicts), duplicated names, records that
span lines (an indented body), members in any order, ``remote_data`` of any shape.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")

from tests.arrow.test_convert import _user, _wild  # noqa: E402
from truto_stream import arrow  # noqa: E402
from truto_stream._columnar import TextColumns, _checked, _compact, string_array  # noqa: E402
from truto_stream._decode._text import ABSENT, TextRecords, array_text, text_lines  # noqa: E402
from truto_stream.arrow import RecordBatcher, model_schema, records_to_batch  # noqa: E402
from truto_stream.schema import Projection  # noqa: E402

USERS = model_schema("usage-metering", "users")
DATED = model_schema("usage-metering", "users", dated=True)

_odd_text = st.text(alphabet=st.sampled_from([*list('a é"\\\n\t\x01/}{,:[]'), "\u2028", "😀"]))
_odd_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _odd_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_odd_text, inner, max_size=3),
    max_leaves=8,
)
_odd_user = st.fixed_dictionaries(
    {"id": _odd_text},
    optional={
        "name": _odd_text,
        "remote_data": _odd_json,
        "emails": st.lists(
            st.fixed_dictionaries({"email": _odd_text}, optional={"is_primary": st.booleans()})
        ),
        "spend_limit": st.fixed_dictionaries(
            {},
            optional={
                "amount": st.integers(-(2**53), 2**53) | st.floats(allow_nan=False),
                "currency": _odd_text,
            },
        ),
        "remote_data_x": _odd_json,
    },
)


def _texts(records: list[dict[str, Any]], how: str) -> list[bytes]:
    if how == "compact":
        return [orjson.dumps(r) for r in records]
    if how == "indented":
        return [orjson.dumps(r, option=orjson.OPT_INDENT_2) for r in records]
    reordered = [dict(reversed(r.items())) for r in records]
    if how == "spaced":  # spaces after separators, members reordered
        return [msgspec.json.format(orjson.dumps(r), indent=0) for r in reordered]
    # json.dumps escapes non-ASCII ("\u00e9"); it spells floats its own way (1e+16),
    # so only for records whose JSON columns hold none
    try:
        return [json.dumps(r, allow_nan=False).encode() for r in reordered]
    except ValueError:  # an infinite float: no JSON text holds it
        assume(False)
        raise


def _same(records: list[dict[str, Any]], texts: list[bytes], schema: Any) -> None:
    """The batch from ``texts`` is the batch from the dicts the decoder makes of them."""
    decoded = [orjson.loads(t) for t in texts]
    if all("spend_limit" not in r for r in records):  # no float to lose on the way
        assert decoded == records
    want = records_to_batch(decoded, schema, account_id="acc", date="2026-01-02")
    got = records_to_batch(texts, schema, account_id="acc", date="2026-01-02")
    assert got.schema == want.schema
    assert got.equals(want), (got.to_pylist(), want.to_pylist())
    # As NDJSON lines, the decoder's texts carry their members: the same batch again.
    lines = text_lines(texts) if texts and all(b"\n" not in t for t in texts) else None
    if lines is not None:
        assert type(lines) is TextRecords
        got = records_to_batch(lines, schema, account_id="acc", date="2026-01-02")
        assert got.equals(want), (got.to_pylist(), want.to_pylist())


_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(st.lists(_user, max_size=12), st.sampled_from(["compact", "indented", "spaced", "escaped"]))
def test_users_give_the_same_batch_from_texts(users: list[dict[str, Any]], how: str) -> None:
    _same(users, _texts(users, how), USERS)


@_settings
@given(st.lists(_odd_user, max_size=8), st.sampled_from(["compact", "indented", "spaced"]))
def test_odd_values_give_the_same_batch_from_texts(users: list[dict[str, Any]], how: str) -> None:
    _same(users, _texts(users, how), DATED)


@_settings
@given(st.lists(_user | _wild, max_size=12))
def test_values_that_do_not_fit_fall_back_to_the_same_batch(
    records: list[dict[str, Any]],
) -> None:
    _same(records, _texts(records, "compact"), USERS)


def test_duplicated_names_read_as_orjson_reads_them() -> None:
    texts = [
        b'{"id":"a","id":"b","remote_data":{"x":1},"remote_data":[2]}',  # typed: fallback
        b'{"id":"c","remote_data":{"remote_data":3},"name":"n"}',  # nested name, not last
        b'{"id":"d","remote_data":"s","remote_data":null}',
        b'{"id":"e","x":{"remote_data":1}}',
        b'{"id":"f","remote_data":{"a":"\\u00e9\\/"}}',
        b'{"id":"g","remote_data":12.50}',
        b'{"id":"h","remote_data":{}}',
    ]
    records = [orjson.loads(t) for t in texts]
    _same(records, texts, USERS)
    _same(records[1:], texts[1:], USERS)  # no fallback: the text path's own reading


def test_the_text_path_reads_a_clean_batch_without_dicts() -> None:
    assert USERS is not None
    columns = TextColumns(pa.schema([f for f in USERS if f.name == "id"]), ["remote_data"])
    arrays = columns.arrays([b'{"id":"a","remote_data":{"k":[1, 2]}}', b'{"name":"x"}'])
    assert arrays is not None
    assert arrays["id"].to_pylist() == ["a", None]
    assert arrays["remote_data"].to_pylist() == ['{"k":[1,2]}', None]
    assert columns.arrays([b'{"id":1}']) is None  # not a string: the dicts decide


def test_a_number_inside_remote_data_keeps_the_servers_spelling() -> None:
    """The documented difference: JSON text of the same value, spelled as sent."""
    assert USERS is not None
    text = b'{"id":"a","remote_data":{"cost":1.50}}'
    got = records_to_batch([text], USERS, account_id="acc").column("remote_data")
    assert got.to_pylist() == ['{"cost":1.50}']
    assert orjson.loads(got[0].as_py()) == {"cost": 1.5}


def test_the_batcher_takes_dicts_and_texts_mixed_and_a_projection() -> None:
    schema = model_schema("usage-metering", "users", fields=Projection.of("name"))
    records = [{"id": str(i), "name": f"n{i}", "status": "active"} for i in range(25)]
    texts = [orjson.dumps(r) for r in records]
    batcher = RecordBatcher(schema, batch_rows=10)
    got = [*batcher.add("acc", texts[:12]), *batcher.add("acc", records[12:18])]
    got += batcher.add("acc", texts[18:])
    last = batcher.flush()
    assert last is not None
    got.append(last)
    want = RecordBatcher(schema, batch_rows=10)
    expected = [*want.add("acc", records)]
    tail = want.flush()
    assert tail is not None
    expected.append(tail)
    assert pa.Table.from_batches(got).equals(pa.Table.from_batches(expected))


def test_an_unknown_resource_takes_its_schema_from_a_first_text() -> None:
    batcher = RecordBatcher(None)
    assert batcher.add("acc", [b'{"id":"a","n":{"x":1}}']) == []
    batch = batcher.flush()
    assert batch is not None
    assert batch.to_pylist() == [{"integrated_account_id": "acc", "id": "a", "n": '{"x":1}'}]


def test_remote_data_anywhere_is_read_by_the_text_path_too() -> None:
    assert USERS is not None
    texts = [
        b'{"remote_data":{"a": 1},"id":"x"}',  # first: read out by msgspec
        b'{"id":"y","remote\\u005fdata":[1]}',  # its name escaped
        b'{"id":"z"}',
        b'{"id":"w", "remote_data" : null}',
        b'{"id":"v","remote_data":{"k":"s"},"remote_data":"last wins"}',
    ]
    columns = arrow._Columns(USERS)
    assert columns.texts is not None
    arrays = columns.texts.arrays(texts)
    assert arrays is not None
    assert arrays["remote_data"].to_pylist() == ['{"a":1}', "[1]", None, None, "last wins"]
    _same([orjson.loads(t) for t in texts], texts, USERS)


def test_a_value_cut_in_two_is_not_one_value_however_the_brackets_pair() -> None:
    # "[1" and "0],null" make one array of two values, neither of them a cut.
    assert _checked([b"[1", b"0],null"]) is None
    assert _checked([b"[1", b" 0]"]) is None
    assert _checked([b" [1, 0] ", b"null"]) == b"[ [1, 0] ,null]"


@_settings
@given(st.lists(_odd_json, min_size=1, max_size=6), st.data())
def test_values_are_checked_as_one_array_however_they_are_cut(
    values: list[Any], data: st.DataObject
) -> None:
    """``_checked`` keeps exactly the cuts that are one JSON value each: the values' own
    texts pass (as one array's text), any other cut of the same text does not."""
    texts = [orjson.dumps(v) for v in values]
    assert _checked(texts) == b"[" + b",".join(texts) + b"]"
    joined = b",".join(texts)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(joined) - 1)), max_size=3)))
    parts = [joined[a:b] for a, b in zip([0, *cuts], [*cuts, len(joined)], strict=True)]
    one_each = True
    for part in parts:
        try:
            msgspec.json.decode(part)
        except msgspec.DecodeError:
            one_each = False
    assert (_checked(parts) is not None) == one_each


_NO_PANDAS = """
import sys
import orjson
from truto_stream.arrow import RecordBatcher, model_schema
for dated in (False, True):
    batcher = RecordBatcher(model_schema("usage-metering", "users", dated=dated), batch_rows=2)
    texts = [orjson.dumps({"id": str(i), "remote_data": {"k": i}}) for i in range(3)]
    got = [*batcher.add("acc", texts, "2026-01-02" if dated else None), batcher.flush()]
    assert [b.num_rows for b in got] == [2, 1], got
    assert got[1].column("remote_data").to_pylist() == ['{"k":2}']
print("pandas" in sys.modules, "pyarrow.compute" in sys.modules)
"""


def test_the_text_path_does_not_import_pandas() -> None:
    """``pa.array`` of a Python list imports pandas on its first call, where pandas is
    installed (half a second of CPU and tens of MB, in a sweep's first batch); the text
    path builds its string columns from buffers instead."""
    pytest.importorskip("pandas")
    run = subprocess.run(
        [sys.executable, "-c", _NO_PANDAS], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.strip().split()[0] == "False"


def test_the_text_path_does_not_import_pyarrow_compute() -> None:
    """``pyarrow.compute`` costs 9 MB of RSS on import: a sweep's batches do without it."""
    run = subprocess.run(
        [sys.executable, "-c", _NO_PANDAS], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.split() == [run.stdout.split()[0], "False"]


_utf8 = st.text(alphabet=st.sampled_from([*"ab é", "😀", "\x00"])).map(str.encode)


@_settings
@given(st.lists(_utf8 | st.text() | st.none(), max_size=8), st.booleans())
def test_a_string_array_is_pa_arrays(values: list[Any], texts_only: bool) -> None:
    """``string_array`` gives what ``pa.array(values, pa.string())`` gives, whatever the
    values (the fast path takes texts alone; text that is not UTF-8 is refused alike)."""
    if texts_only:
        values = [v for v in values if isinstance(v, bytes)]
    assert string_array(values).equals(pa.array(values, pa.string()))
    with pytest.raises(pa.ArrowInvalid):
        string_array([*[v for v in values if isinstance(v, bytes)], b"\xff"])


@_settings
@given(st.lists(st.sampled_from(["acc", "", "é", None]), max_size=8))
def test_the_account_and_date_columns_are_pa_arrays(values: list[str | None]) -> None:
    assert arrow._strings(values).equals(pa.array(values, pa.string()))


@_settings
@given(
    st.lists(st.tuples(st.sampled_from(["acc", "", "é", None]), st.integers(1, 300)), max_size=5)
)
def test_account_and_date_columns_in_long_runs_are_pa_arrays(
    runs: list[tuple[str | None, int]],
) -> None:
    """A page's records share their account: runs of one value, built run by run."""
    values = [value for value, count in runs for _ in range(count)]
    assert arrow._strings(values).equals(pa.array(values, pa.string()))


_nested = st.recursive(
    st.integers(-5, 5) | st.sampled_from(["s", "remote_data", ',"remote_data":']),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["remote_data", "a", "id"]), inner, max_size=3)
    ),
    max_leaves=6,
)
_named_user = st.fixed_dictionaries(
    {"id": st.sampled_from(["u", "v"])},
    optional={"x": _nested, "remote_data": _nested, "name": st.just("n")},
)


@_settings
@given(st.lists(_named_user, min_size=1, max_size=8), st.sampled_from(["compact", "spaced"]))
def test_the_members_name_nested_anywhere_gives_the_same_batch(
    users: list[dict[str, Any]], how: str
) -> None:
    """The cut takes the first ``,"remote_data":`` of a record: a name nested before the
    member, inside it, or a member that is not last, still gives the dicts' batch."""
    _same(users, _texts(users, how), USERS)


def test_the_cut_reads_a_member_that_nests_its_own_name() -> None:
    assert USERS is not None
    columns = arrow._Columns(USERS)
    assert columns.texts is not None
    texts = [
        b'{"id":"a","remote_data":{"k":1,"remote_data":{"remote_data":2}}}',
        b'{"id":"b","x":{"k":1,"remote_data":2},"remote_data":[3]}',
    ]
    arrays = columns.texts.arrays(texts)
    assert arrays is not None
    assert arrays["remote_data"].to_pylist() == ['{"k":1,"remote_data":{"remote_data":2}}', "[3]"]
    _same([orjson.loads(t) for t in texts], texts, USERS)


@_settings
@given(st.lists(st.binary(max_size=6), min_size=1, max_size=6))
def test_an_array_text_is_the_texts_joined_in_brackets(texts: list[bytes]) -> None:
    assert array_text(texts) == b"[" + b",".join(texts) + b"]"


@_settings
@given(st.lists(_user | _odd_user | _named_user, max_size=30), st.integers(1, 7))
def test_batch_after_batch_the_texts_give_the_dicts_batches(
    users: list[dict[str, Any]], rows: int
) -> None:
    """One schema's reads carry what the last batch lacked (absent fields left out of
    the next read): fields that come and go, nulls, fields the schema lacks, batch
    after batch, still give the batches built from dicts."""
    texts = RecordBatcher(DATED, batch_rows=rows)
    lines = RecordBatcher(DATED, batch_rows=rows)  # with their members, mostly
    dicts = RecordBatcher(DATED, batch_rows=rows)
    for start in range(0, len(users), 3):
        part = users[start : start + 3]
        got = texts.add("acc", [orjson.dumps(u) for u in part], "2026-01-02")
        read = text_lines([orjson.dumps(u) for u in part]) if part else None
        plain = read is None or start % 9 == 6  # now and then a page without them
        page = [orjson.dumps(u) for u in part] if plain else read
        assert page is not None
        got_lines = lines.add("acc", page, "2026-01-02")
        want = dicts.add("acc", part, "2026-01-02")
        assert [g.to_pylist() for g in got] == [w.to_pylist() for w in want]
        assert all(g.equals(w) for g, w in zip(got, want, strict=True))
        assert all(g.equals(w) for g, w in zip(got_lines, want, strict=True))
    last, want_last = texts.flush(), dicts.flush()
    last_lines = lines.flush()
    assert (last is None) == (want_last is None) == (last_lines is None)
    if last is not None and want_last is not None and last_lines is not None:
        assert last.equals(want_last)
        assert last_lines.equals(want_last)


def test_fields_absent_from_a_batch_are_read_again_when_they_come() -> None:
    assert USERS is not None
    columns = arrow._Columns(USERS)
    texts = columns.texts
    assert texts is not None
    batches = [
        [b'{"id":"a","remote_data":{}}', b'{"id":"b","name":"n","remote_data":{}}'],
        [b'{"id":"c","first_name":"f","remote_data":{}}'],  # absent before: read again
        [b'{"id":"d","last_name":null,"remote_data":{}}'],  # a null is a field too
        [b'{"id":"e","x":1,"remote_data":{}}'],  # a field the schema lacks
        [b'{"id":"f","emails":[{"email":"e","kind":"k"}]}'],  # and a nested one
        [b'{"id":"g","name":"m"}'],
    ]
    for records in batches:
        got = texts.arrays(records)
        assert got is not None
        want = columns._dict_arrays([orjson.loads(r) for r in records])
        assert set(got) == set(want)
        for name, array in want.items():
            assert got[name].equals(array), name


def test_lines_hand_on_each_records_member_as_msgspec_read_it() -> None:
    lines = [
        b' {"id":"a","remote_data":{"x":1}} ',
        b'{"id":"b"}',
        b'{"id":"c","remote_data":1,"remote_data":[2, 3]}',
        b'{"id":"d","x":{"remote_data":4}}',
        b'{"id":"e","remote\\u005fdata":null}',
    ]
    read = text_lines(lines)
    assert type(read) is TextRecords
    assert read == [line.strip() for line in lines]
    assert read.members[1] is ABSENT and read.members[3] is ABSENT
    assert [bytes(m) for m in read.members] == [b'{"x":1}', b"null", b"[2, 3]", b"null", b"null"]
    assert type(read[1:]) is list  # a slice has the texts alone


def test_a_member_placed_by_the_decoder_is_checked_against_the_records_end() -> None:
    """A member's text ending where the record ends is that member only when it follows
    its own name there: a nested member of the same name and length, last in the
    record, is not it (the cut then searches, or msgspec reads the members)."""
    assert USERS is not None
    columns = arrow._Columns(USERS)
    assert columns.texts is not None
    texts = [
        b'{"remote_data": {"x":1}, "n":{"a":0,"remote_data":"abcd"}}',
        b'{"id":"b","x":{"a":0,"remote_data":"abcd"},"remote_data":"ab"}',
        b'{"remote_data":[1]}',  # the only member
        b'{"id":"d","remote_data":{"k":"s"},"remote_data":"last"}',
        b'{"id":"e","remote_data":{"remote_data":1}}',
    ]
    read = text_lines(texts)
    assert read is not None
    assert len(read.members[0]) == len(b'"abcd"}')  # the same length as the tail
    arrays = columns.texts.arrays(read, read.members)
    assert arrays is not None
    want = ['{"x":1}', "ab", "[1]", "last", '{"remote_data":1}']
    assert arrays["remote_data"].to_pylist() == want
    _same([orjson.loads(t) for t in texts], texts, USERS)
    for one in texts[1:]:  # each alone: the placed path, where the first one is not
        alone = text_lines([one])
        assert alone is not None
        got = columns.texts.arrays(alone, alone.members)
        assert got is not None
        assert got["remote_data"].to_pylist() == [want[texts.index(one)]]


@_settings
@given(
    st.lists(st.tuples(_odd_json, _odd_json, st.booleans()), min_size=1, max_size=6),
    st.sampled_from(["compact", "spaced"]),
)
def test_a_nested_member_of_the_same_name_last_in_the_record_is_not_taken_for_it(
    pairs: list[tuple[Any, Any, bool]], how: str
) -> None:
    """Records whose text ends with a nested ``"remote_data":W`` (the top-level member
    earlier, or none): whatever W is (the member's own text, or as long), the batch
    from the decoder's lines is the dicts' batch."""
    users: list[dict[str, Any]] = []
    for i, (own, nested, top) in enumerate(pairs):
        user: dict[str, Any] = {"id": str(i)}
        if top:
            user["remote_data"] = own
        user["n"] = {"a": 0, "remote_data": own if i % 2 else nested}
        users.append(user)
    _same(users, _texts(users, how), USERS)


def test_members_with_spaces_inside_strings_are_their_own_texts() -> None:
    """Compact objects whose strings hold spaces (one format of the batch finds no
    whitespace between tokens) give the dicts' batch, as do spaced ones."""
    assert USERS is not None
    columns = arrow._Columns(USERS)
    assert columns.texts is not None
    compact = [
        b'{"id":"a","remote_data":{"n":"Priya Martin"}}',
        b'{"id":"b","remote_data":{"x":[1,2],"s":" "}}',
    ]
    spaced = [b'{"id":"c","remote_data":{"n": "x y"}}', *compact]
    escaped = [b'{"id":"d","remote_data":{"t":"a\\ttab b"}}', *compact]
    for texts in (compact, spaced, escaped):
        read = text_lines(texts)
        assert read is not None
        arrays = columns.texts.arrays(read, read.members)
        assert arrays is not None
        want = [orjson.dumps(orjson.loads(t)["remote_data"]).decode() for t in texts]
        assert arrays["remote_data"].to_pylist() == want
        _same([orjson.loads(t) for t in texts], texts, USERS)
    assert _compact([msgspec.Raw(t) for t in (b'{"a":"x y"}', b"[1]")])
    assert not _compact([msgspec.Raw(t) for t in (b'{"a":"x y"}', b"[1, 2]")])
    deep = b"[" * 2_000 + b"]" * 2_000  # deeper in the array than msgspec reads
    assert not _compact([msgspec.Raw(deep)])
