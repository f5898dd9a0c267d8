"""Parquet parts on disk: every state a killed run can leave, and how a resume settles it.

Real files, real pyarrow; the states are built the way a run builds them (a writer, its
parts, the positions it stores), then cut where a ``kill -9`` could cut them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from truto_stream.cli.common import UsageError

pq = pytest.importorskip("pyarrow.parquet")

from truto_stream.cli.parts import ParquetOutput, open_parquet  # noqa: E402
from truto_stream.cli.schema import model_columns  # noqa: E402
from truto_stream.models import User  # noqa: E402

pytestmark = pytest.mark.anyio

COLUMNS = model_columns(User)


def users(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"id": f"u{i}", "name": f"user {i}"} for i in range(start, stop)]


def ids(path: Path) -> list[str]:
    return [str(r["id"]) for r in pq.read_table(path).to_pylist()]


class Stored:
    """The positions a run stores in its checkpoint, in order (a Store)."""

    def __init__(self) -> None:
        self.positions: list[dict[str, Any]] = []

    async def __call__(self, position: Any) -> None:
        self.positions.append(dict(position))


def written(path: Path, count: int, rows: int = 10) -> tuple[ParquetOutput, dict[str, Any]]:
    """An output that took ``count`` users in batches of 5 and sealed what it had."""
    output = open_parquet(path, COLUMNS, None, row_group_rows=rows)
    for start in range(0, count, 5):
        output.write_batch("acc", users(start, min(count, start + 5)))
    output.seal()
    return output, output.position


async def test_a_resume_deletes_what_the_position_does_not_cover(tmp_path: Path) -> None:
    path = tmp_path / "users.parquet"
    _, position = written(path, 20)  # parts 0 and 1, committed
    assert position["parts"] == 2 and position["records"] == 20
    # What a killed run left past that position: a third part, a part being written,
    # a half-joined file.
    late = open_parquet(path, COLUMNS, position, row_group_rows=10)
    late.write_batch("acc", users(20, 30))
    (path.parent / "users.parquet.parts" / ".part-000003.parquet.tmp").write_bytes(b"PAR1 torn")
    (path.parent / "users.parquet.partial").write_bytes(b"PAR1 half a join")

    resumed = open_parquet(path, COLUMNS, position, row_group_rows=10)
    parts = sorted(p.name for p in (tmp_path / "users.parquet.parts").iterdir())
    assert parts == ["part-000000.parquet", "part-000001.parquet"]
    assert not (tmp_path / "users.parquet.partial").exists()
    assert resumed.resumed
    resumed.write_batch("acc", users(20, 30))
    stored = Stored()
    await resumed.commit(stored)
    assert ids(path) == [f"u{i}" for i in range(30)]
    assert not (tmp_path / "users.parquet.parts").exists()
    # The join is recorded before the file is renamed, the final position after.
    assert [p["joined"] for p in stored.positions] == [True, False]
    assert stored.positions[-1] | {"file": None} == {
        "format": "parquet", "file": None, "parts": 0, "records": 30, "base": True,
        "joined": False,
    }  # fmt: skip


@pytest.mark.parametrize("renamed", [False, True])
async def test_a_kill_during_the_final_rename_is_completed(tmp_path: Path, renamed: bool) -> None:
    path = tmp_path / "users.parquet"
    output, _ = written(path, 15)
    stored = Stored()
    output._join()  # the join ran to its end, and its position was stored...
    joined = {**output.position, "joined": True}
    if renamed:  # ...and the rename happened, the clean-up did not
        (tmp_path / "users.parquet.partial").rename(path)
    resumed = open_parquet(path, COLUMNS, joined, row_group_rows=10)
    assert ids(path) == [f"u{i}" for i in range(15)]
    assert not (tmp_path / "users.parquet.partial").exists()
    assert resumed.base and resumed.writer.parts == 0
    # Nothing more arrives: the file stands as it is.
    await resumed.commit(stored)
    assert ids(path) == [f"u{i}" for i in range(15)]


async def test_a_finished_file_is_continued_as_the_base_of_new_parts(tmp_path: Path) -> None:
    path = tmp_path / "users.parquet"
    output, _ = written(path, 12)
    stored = Stored()
    await output.commit(stored)
    finished = stored.positions[-1]
    assert ids(path) == [f"u{i}" for i in range(12)]
    # A rerun with nothing to add leaves the file exactly as it was.
    before = path.read_bytes()
    idle = open_parquet(path, COLUMNS, finished, row_group_rows=10)
    await idle.commit(Stored())
    assert path.read_bytes() == before
    # A rerun that retries a failed unit adds its records after the finished ones.
    more = open_parquet(path, COLUMNS, finished, row_group_rows=10)
    more.write_batch("acc", users(12, 20))
    await more.commit(Stored())
    assert ids(path) == [f"u{i}" for i in range(20)]
    assert pq.ParquetFile(path).metadata.num_row_groups >= 2


async def test_missing_files_the_checkpoint_counts_are_usage_errors(tmp_path: Path) -> None:
    path = tmp_path / "users.parquet"
    _, position = written(path, 20)
    (tmp_path / "users.parquet.parts" / "part-000001.parquet").unlink()
    with pytest.raises(UsageError, match="lacks 1 of the 2 parts"):
        open_parquet(path, COLUMNS, position)
    with pytest.raises(UsageError, match="does not exist"):
        open_parquet(tmp_path / "gone.parquet", COLUMNS, {**position, "parts": 0, "base": True})


async def test_without_a_checkpoint_an_interrupted_run_leaves_one_readable_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "users.parquet"
    output, _ = written(path, 17)
    left = output.abandon(checkpointed=False)
    assert left == tmp_path / "users.parquet.partial"
    assert ids(left) == [f"u{i}" for i in range(17)]
    assert not (tmp_path / "users.parquet.parts").exists() and not path.exists()
    # With a checkpoint, the parts stay for the rerun.
    output, _ = written(tmp_path / "other.parquet", 17)
    assert output.abandon(checkpointed=True) == tmp_path / "other.parquet.parts"


async def test_an_empty_sweep_writes_a_valid_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "users.parquet"
    output = open_parquet(path, COLUMNS, None)
    await output.commit(Stored())
    table = pq.read_table(path)
    assert table.num_rows == 0 and table.schema.names[0] == "integrated_account_id"
