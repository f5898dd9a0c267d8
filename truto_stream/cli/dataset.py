"""``--output-dir DIR``: records as a partitioned dataset of part files, a manifest last.

On disk, for ``--output-dir users --partition-by integration,date``::

    users/integration=claude/date=2026-11-20/part-000000.parquet   delivered parts
    users/integration=openai/date=__HIVE_DEFAULT_PARTITION__/part-000001.parquet
    users/integration=claude/date=2026-11-20/.part-000002.parquet.tmp  (never counted)
    users/_manifest.json                                           written last

Records are buffered per partition; once ``row_group_rows`` records are buffered in all,
every buffer becomes a part (a complete file written under a temporary name, fsynced,
renamed), so the buffers are bounded whatever the number of partitions. Exactly once,
with the durability rules of :mod:`truto_stream.cli.output`: the dataset is durable when
nothing is buffered, and then its position -- the number of parts, one sequence for the
whole dataset -- is what the checkpoint stores with the progress it covers. A run that
resumes it deletes every part the position does not count (and temporary files): those
records were not counted as delivered and are fetched again, into new parts.

``_manifest.json`` (units, records per partition, each part's size and sha256, the sweep
report) is written when the sweep ran to its end, last, by rename: a dataset without one
is incomplete. A resumed run removes it before it adds its first part.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Final

import orjson

from truto_stream.cli.common import UsageError
from truto_stream.cli.output import Output, Resume, Store, store_nothing
from truto_stream.cli.partitions import (
    DATASET_FORMATS,
    MANIFEST,
    Part,
    encode_part,
    is_dataset_file,
    parse_part_path,
    part_file,
    part_of,
)
from truto_stream.cli.preflight import check_destination
from truto_stream.cli.schema import ACCOUNT_COLUMN, DATE_COLUMN
from truto_stream.cli.writers import with_account
from truto_stream.schema import Projection, known_model, model_columns
from truto_stream.unit import Unit

__all__ = ["MANIFEST", "DatasetOutput", "check_output_dir", "open_dataset"]

ROW_GROUP_ROWS: Final = 10_000

Values = tuple[str | None, ...]


class DatasetOutput(Output):
    """Records into Hive-style partitions of ``directory``; see the module docstring."""

    def __init__(
        self,
        directory: Path,
        fmt: str,
        keys: tuple[str, ...],
        *,
        schema: Any,
        row_group_rows: int,
        parts: list[Part],
    ) -> None:
        self.path = self.directory = directory
        self.resumed = bool(parts)
        self.format = fmt
        self.keys = keys
        self.parts = parts
        self._records = sum(part.records for part in parts)
        self._manifest_present = (directory / MANIFEST).exists()
        self._schema = schema
        self._row_group_rows = row_group_rows
        self._buffers: dict[Values, list[dict[str, Any]]] = {}
        self._buffered = 0
        self._closed = False

    @property
    def position(self) -> Any:
        return {
            "format": self.format,
            "dir": str(self.directory),
            "partition_by": list(self.keys),
            "parts": len(self.parts),
            "records": self._records,
        }

    @property
    def durable(self) -> bool:
        return self._buffered == 0

    def write_batch(self, account_id: str, records: list[dict[str, Any]]) -> None:
        self.write_unit_batch(None, account_id, records)

    def write_unit_batch(
        self, unit: Unit | None, account_id: str, records: list[dict[str, Any]]
    ) -> None:
        values = self._values(account_id, records, unit)
        rows = self._buffers.setdefault(values, [])
        for record in records:
            row = with_account(account_id, record)
            for key in self.keys:
                row.pop(key, None)  # in the path, not in the file
            rows.append(row)
        self._buffered += len(records)
        if self._buffered >= self._row_group_rows:
            self.seal()

    def _values(self, account_id: str, records: list[dict[str, Any]], unit: Unit | None) -> Values:
        if unit is not None:
            integration, day = unit.integration, unit.date
        else:  # without its unit: the date the records carry, the integration unknown
            integration, day = None, records[0].get(DATE_COLUMN) if records else None
        known = {"integration": integration, DATE_COLUMN: day, ACCOUNT_COLUMN: account_id}
        return tuple(known[key] for key in self.keys)

    def seal(self) -> None:
        """Write every partition's buffered rows as a part now."""
        buffers, self._buffers, self._buffered = self._buffers, {}, 0
        for values, rows in buffers.items():
            if rows:
                self._write_part(values, rows)

    def _write_part(self, values: Values, rows: list[dict[str, Any]]) -> None:
        if self.format == "parquet" and self._schema is None:
            self._schema = _inferred(rows[0])
        relative = part_file(self.keys, values, len(self.parts), self.format)
        data = encode_part(self.format, rows, self._schema)
        target = self.directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.tmp")
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
        if self._manifest_present:  # the dataset changes: an earlier manifest no longer fits
            (self.directory / MANIFEST).unlink(missing_ok=True)
            self._manifest_present = False
        part = part_of(relative, dict(zip(self.keys, values, strict=True)), data)
        self.parts.append(part)
        self._records += part.records

    async def commit(self, store: Store = store_nothing) -> None:
        if self._closed:
            return
        self._closed = True
        self.seal()
        _write_manifest(self.directory, self._manifest())
        self.committed = True

    def _manifest(self) -> dict[str, Any]:
        partitions: dict[str, dict[str, Any]] = {}
        for part in self.parts:
            where = str(PurePosixPath(part.path).parent)
            entry = partitions.setdefault(
                where, {"path": where, "partition": part.partition, "parts": 0, "records": 0}
            )
            entry["parts"] += 1
            entry["records"] += part.records
        report = self.report.to_dict() if self.report is not None else None
        return {
            "format": self.format,
            "partition_by": list(self.keys),
            "records": self._records,
            "units": _units(report),
            "partitions": sorted(partitions.values(), key=lambda e: e["path"]),
            "parts": [part.to_dict() for part in self.parts],
            "report": report,
        }

    def abandon(self, *, checkpointed: bool) -> Path | None:
        if self._closed:
            return None
        self._closed = True
        # Delivered parts stay (a rerun with the checkpoint continues them); no manifest.
        return self.directory if self.parts else None


def _inferred(row: dict[str, Any]) -> Any:
    from truto_stream.arrow import inferred_schema

    return inferred_schema(row, dated=DATE_COLUMN in row)


def _units(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    if report is None:
        return []
    keys = (
        "unit_key",
        "account_id",
        "integration",
        "tenant_id",
        "date",
        "state",
        "records",
        "error",
    )
    return [{key: account.get(key) for key in keys} for account in report["accounts"]]


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    target = directory / MANIFEST
    temp = directory / f".{MANIFEST}.tmp"
    with open(temp, "wb") as out:
        out.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2, default=str))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, target)


# -- opening ---------------------------------------------------------------------------------


def check_output_dir(value: str) -> Path:
    """``--output-dir DIR``: a directory (or none yet, in one that exists) we can write in."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--output-dir {value!r} is not a directory")
    # Probes the directory itself if it exists (its manifest's), else where it is created.
    check_destination(str(path / MANIFEST) if path.is_dir() else value, "--output-dir")
    return path


def open_dataset(
    directory: Path,
    fmt: str,
    keys: tuple[str, ...],
    *,
    model: str,
    resource: str,
    dated: bool = False,
    fields: Projection | None = None,
    resume: Resume | None = None,
    row_group_rows: int | None = None,
) -> DatasetOutput:
    """The dataset of ``model/resource`` records at ``directory``, continuing what
    ``resume`` stored (``None``: afresh). The files hold the records' columns (those of
    :func:`~truto_stream.schema.model_columns` for a known resource) but the partition keys.
    """
    if fmt not in DATASET_FORMATS:
        raise UsageError(f"--output-dir takes --format {' or '.join(DATASET_FORMATS)}, not {fmt}")
    typed = known_model(model, resource)
    columns = model_columns(typed, dated=dated, fields=fields) if typed is not None else None
    schema = _schema(fmt, columns, keys)
    position = _position(resume, fmt, keys)
    if position is None:
        _start_afresh(
            directory, legacy=resume is not None and resume.progressed and resume.position is None
        )
        parts: list[Part] = []
    else:
        parts = _keep_delivered(directory, fmt, keys, position)
        if fmt == "parquet" and schema is None and parts:
            import pyarrow.parquet as pq

            schema = pq.read_schema(directory / parts[0].path)
    rows = row_group_rows or ROW_GROUP_ROWS
    return DatasetOutput(directory, fmt, keys, schema=schema, row_group_rows=rows, parts=parts)


def _schema(fmt: str, columns: dict[str, Any] | None, keys: tuple[str, ...]) -> Any:
    """The parts' Arrow schema (``None``: ndjson, or an unknown resource's first record's)."""
    if fmt != "parquet":
        return None
    from truto_stream.cli.parquet import require_pyarrow

    try:
        require_pyarrow()
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    if columns is None:
        return None
    from truto_stream.arrow import columns_schema

    return columns_schema({name: hint for name, hint in columns.items() if name not in keys})


def _position(resume: Resume | None, fmt: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The stored position of this dataset (``None``: start afresh), checked against it."""
    if resume is None or not isinstance(resume.position, dict) or resume.position.get("stdout"):
        return None
    position: dict[str, Any] = resume.position
    if "dir" not in position:
        raise UsageError(
            f"the checkpoint's earlier runs wrote --output {position.get('file')}; resume with"
            " it (or start over with another --checkpoint)"
        )
    if position.get("format") != fmt or position.get("partition_by") != list(keys):
        raise UsageError(
            f"the checkpoint's earlier runs wrote --format {position.get('format')} with"
            f" --partition-by {','.join(position.get('partition_by') or []) or '(none)'}; resume"
            " with those (or start over with another --checkpoint)"
        )
    if not isinstance(position.get("parts"), int) or position["parts"] < 0:
        raise UsageError("the checkpoint holds a dataset position this version cannot use")
    return position


def _files(directory: Path) -> list[PurePosixPath]:
    return [
        PurePosixPath(path.relative_to(directory).as_posix())
        for path in directory.rglob("*")
        if not path.is_dir()
    ]


def _start_afresh(directory: Path, *, legacy: bool) -> None:
    """An empty directory, or one whose earlier dataset of ours is removed first."""
    if not directory.exists():
        directory.mkdir()
        return
    files = _files(directory)
    if not files:
        return
    if legacy:
        raise UsageError(
            f"cannot resume into --output-dir {str(directory)!r}: the checkpoint recorded no"
            " output position; pass another --output-dir, it will hold the rest"
        )
    foreign = [str(f) for f in files if not is_dataset_file(f)]
    if foreign:
        raise UsageError(
            f"--output-dir {str(directory)!r} holds files that are not a truto-stream dataset"
            f" (first: {foreign[0]}): pass an empty or new directory"
        )
    (directory / MANIFEST).unlink(missing_ok=True)  # first: never a manifest over a half
    for entry in directory.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _keep_delivered(
    directory: Path, fmt: str, keys: tuple[str, ...], position: dict[str, Any]
) -> list[Part]:
    """The parts the position counts, described; everything a killed run left after them goes."""
    count: int = position["parts"]
    directory.mkdir(exist_ok=True)
    found: dict[int, tuple[str, dict[str, str | None]]] = {}
    for relative in _files(directory):
        parsed = parse_part_path(relative, keys)
        if parsed is not None and parsed[0] < count and relative.suffix == f".{fmt}":
            found[parsed[0]] = (str(relative), parsed[1])
        elif relative.name != MANIFEST and is_dataset_file(relative):
            with contextlib.suppress(FileNotFoundError):
                (directory / relative).unlink()
    if missing := sorted(set(range(count)) - set(found)):
        raise UsageError(
            f"{str(directory)!r} lacks {len(missing)} of the {count} parts the checkpoint"
            f" counts (first: part-{missing[0]:06d}): it was changed since; start over with"
            " another --checkpoint"
        )
    return [
        part_of(found[seq][0], found[seq][1], (directory / found[seq][0]).read_bytes())
        for seq in range(count)
    ]
