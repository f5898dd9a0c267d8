"""The sans-IO pieces of partitioned datasets: keys, part paths, what a fresh run may remove."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream.cli.partitions import (
    NULL_PARTITION,
    PARTITION_KEYS,
    encode_part,
    is_dataset_file,
    parse_part_path,
    parse_partition_by,
    part_file,
    part_of,
)

values = st.one_of(st.none(), st.text(st.characters(codec="utf-8"), min_size=1, max_size=20))
keys = st.lists(st.sampled_from(PARTITION_KEYS), unique=True, max_size=3)


def test_partition_keys_are_parsed() -> None:
    assert parse_partition_by(None) == ()
    assert parse_partition_by("integration, date") == ("integration", "date")
    assert parse_partition_by("integrated_account_id") == ("integrated_account_id",)
    with pytest.raises(ValueError, match="unknown partition key 'tenant'"):
        parse_partition_by("integration,tenant")
    with pytest.raises(ValueError, match="given twice"):
        parse_partition_by("date,date")


@given(keys, st.data(), st.integers(0, 10**7), st.sampled_from(["parquet", "ndjson"]))
def test_a_part_path_reads_back_as_its_partition(
    chosen: list[str], data: st.DataObject, seq: int, fmt: str
) -> None:
    vals = [data.draw(values) for _ in chosen]
    relative = PurePosixPath(part_file(chosen, vals, seq, fmt))
    # One directory per key, whatever the value holds ('/', '=', '%', dots...).
    assert len(relative.parts) == len(chosen) + 1
    assert parse_part_path(relative, chosen) == (seq, dict(zip(chosen, vals, strict=True)))
    assert is_dataset_file(relative)
    assert parse_part_path(relative, [*chosen, "x"]) is None


def test_null_is_hives_default_partition() -> None:
    path = part_file(["integration", "date"], ["claude", None], 7, "parquet")
    assert path == f"integration=claude/date={NULL_PARTITION}/part-000007.parquet"


@pytest.mark.parametrize(
    ("path", "ours"),
    [
        ("_manifest.json", True),
        ("._manifest.json.tmp", True),
        ("part-000001.ndjson", True),
        ("date=2026-01-01/.part-000003.parquet.tmp", True),
        ("integration=claude/date=x/part-000000.parquet", True),
        ("integration=claude/notes.txt", False),
        ("tenant=a/part-000000.parquet", False),
        ("sub/_manifest.json", False),
        ("notes.txt", False),
    ],
)
def test_what_a_fresh_run_may_remove(path: str, ours: bool) -> None:
    assert is_dataset_file(PurePosixPath(path)) is ours


def test_a_part_counts_its_records_and_checksums_its_bytes() -> None:
    rows = [{"integrated_account_id": "a", "id": str(i)} for i in range(3)]
    ndjson = encode_part("ndjson", rows, None)
    assert part_of("p.ndjson", {}, ndjson).records == 3
    pa = pytest.importorskip("pyarrow")
    schema = pa.schema([("integrated_account_id", pa.string()), ("id", pa.string())])
    parquet = part_of("p.parquet", {"date": None}, encode_part("parquet", rows, schema))
    assert (parquet.records, len(parquet.sha256), parquet.partition) == (3, 64, {"date": None})
