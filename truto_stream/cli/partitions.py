"""The pieces of a partitioned dataset that need no I/O policy: keys, paths, part codecs.

A dataset directory holds Hive-style partitions (``integration=claude/date=2026-11-20/``)
of part files named by one sequence for the whole dataset (``part-000042.parquet``), so a
checkpoint can say which parts are delivered with one number. The partition columns are
in the path, not in the files (as ``pyarrow.dataset.write_dataset`` does): a reader gets
them back with ``partitioning="hive"``; a missing value (an integration without dates)
is ``__HIVE_DEFAULT_PARTITION__``, which such readers read as null.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Final
from urllib.parse import quote, unquote

import orjson

from truto_stream.schema import ACCOUNT_COLUMN, DATE_COLUMN

__all__ = [
    "DATASET_FORMATS",
    "MANIFEST",
    "NULL_PARTITION",
    "PARTITION_KEYS",
    "Part",
    "encode_part",
    "is_dataset_file",
    "parse_part_path",
    "parse_partition_by",
    "part_file",
    "part_of",
]

#: What ``--partition-by`` accepts: the integration, the day, the integrated account.
PARTITION_KEYS: Final = ("integration", DATE_COLUMN, ACCOUNT_COLUMN)
#: A partition whose value is missing (Hive's and pyarrow's default for null).
NULL_PARTITION: Final = "__HIVE_DEFAULT_PARTITION__"
#: Written last, when the sweep ran to its end.
MANIFEST: Final = "_manifest.json"
#: Dataset formats: a part is one complete file of either.
DATASET_FORMATS: Final = ("parquet", "ndjson")

_PART = re.compile(r"part-(\d{6,})\.(parquet|ndjson)")


def parse_partition_by(text: str | None) -> tuple[str, ...]:
    """``integration,date`` as keys (``ValueError`` for an unknown or repeated one)."""
    if not text:
        return ()
    keys = tuple(key.strip() for key in text.split(","))
    for key in keys:
        if key not in PARTITION_KEYS:
            raise ValueError(
                f"unknown partition key {key!r} (choose from {', '.join(PARTITION_KEYS)})"
            )
    if len(set(keys)) != len(keys):
        raise ValueError("a partition key is given twice")
    return keys


def partition_dir(keys: Sequence[str], values: Sequence[str | None]) -> str:
    """The relative directory of a partition: ``integration=claude/date=2026-11-20``."""
    parts = [
        f"{key}={NULL_PARTITION if value is None else quote(value, safe='')}"
        for key, value in zip(keys, values, strict=True)
    ]
    return "/".join(parts)


def part_file(keys: Sequence[str], values: Sequence[str | None], seq: int, fmt: str) -> str:
    """A part's path relative to the dataset directory."""
    name = f"part-{seq:06d}.{fmt}"
    where = partition_dir(keys, values)
    return f"{where}/{name}" if where else name


def parse_part_path(
    relative: PurePosixPath, keys: Sequence[str]
) -> tuple[int, dict[str, str | None]] | None:
    """``(seq, partition values)`` of a part file's relative path; ``None`` if not a part."""
    match = _PART.fullmatch(relative.name)
    if match is None or len(relative.parts) != len(keys) + 1:
        return None
    values: dict[str, str | None] = {}
    for key, segment in zip(keys, relative.parts[:-1], strict=True):
        name, sep, value = segment.partition("=")
        if name != key or not sep:
            return None
        values[key] = None if value == NULL_PARTITION else unquote(value)
    return int(match.group(1)), values


@dataclass(frozen=True)
class Part:
    """A delivered part file: where it is, its partition, what it holds."""

    path: str
    """Relative to the dataset directory, ``/``-separated."""
    partition: dict[str, str | None]
    records: int
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "partition": self.partition,
            "records": self.records,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


def encode_part(fmt: str, rows: list[dict[str, Any]], schema: Any) -> bytes:
    """One complete part file's bytes: Parquet (one row group) or NDJSON lines."""
    if fmt == "ndjson":
        return b"".join(orjson.dumps(row, default=str) + b"\n" for row in rows)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from truto_stream.arrow import rows_to_batch

    sink = io.BytesIO()
    table = pa.Table.from_batches([rows_to_batch(rows, schema)])
    pq.write_table(table, sink, row_group_size=max(1, len(rows)))
    return sink.getvalue()


def part_of(relative: str, partition: Mapping[str, str | None], data: bytes) -> Part:
    """The :class:`Part` whose file holds ``data``: its records counted, its checksum."""
    if relative.endswith(".ndjson"):
        records = data.count(b"\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        records = pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows
    return Part(relative, dict(partition), records, len(data), hashlib.sha256(data).hexdigest())


def is_dataset_file(relative: PurePosixPath) -> bool:
    """Whether a dataset of ours could have written this file (a part of any layout, a
    temporary file, the manifest): what a fresh run may remove."""
    name = relative.name
    if name in (MANIFEST, f".{MANIFEST}.tmp") and len(relative.parts) == 1:
        return True
    if not (_PART.fullmatch(name) or (name.startswith(".part-") and name.endswith(".tmp"))):
        return False
    keys = [segment.partition("=") for segment in relative.parts[:-1]]
    return all(key in PARTITION_KEYS and sep for key, sep, _ in keys)
