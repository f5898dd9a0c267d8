"""``truto-stream sweep --fields``: a projection on the command line, every format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import CLI_EMULATOR, expected_ids, record_ids, run_cli

pytestmark = pytest.mark.anyio


async def test_fields_narrow_ndjson_records_and_csv_columns(emulator: Any, tmp_path: Path) -> None:
    emu = await emulator(**CLI_EMULATOR)
    base = ["sweep", "usage-metering/users", "--base-url", emu.url, "--quiet"]
    result = await run_cli(*base, "--fields", "emails,name")
    assert result.code == 0, result.err
    records = result.lines()
    assert record_ids(records) == expected_ids(emu.dataset)
    assert all(set(r) <= {"integrated_account_id", "id", "name", "emails"} for r in records)
    out = tmp_path / "users.csv"
    result = await run_cli(*base, "--fields", "name", "--format", "csv", "--output", str(out))
    assert result.code == 0, result.err
    assert out.read_text().splitlines()[0] == "integrated_account_id,id,name"


async def test_parquet_gets_the_projected_schema(emulator: Any, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    emu = await emulator(**CLI_EMULATOR)
    out = tmp_path / "users.parquet"
    args = ["--fields", "status", "--format", "parquet", "--output", str(out)]
    result = await run_cli("sweep", "usage-metering/users", "--base-url", emu.url, "--quiet", *args)
    assert result.code == 0, result.err
    table = pq.read_table(out)
    assert table.schema.names == ["integrated_account_id", "id", "status"]
    assert table.num_rows == len(expected_ids(emu.dataset))


async def test_an_unknown_field_is_a_usage_error_before_any_request(emulator: Any) -> None:
    emu = await emulator(**CLI_EMULATOR)
    result = await run_cli("sweep", "usage-metering/users", "--base-url", emu.url,
                           "--fields", "name,nmae")  # fmt: skip
    assert result.code == 2
    assert "--fields: unknown field(s) nmae" in result.err
    assert emu.state.stats.requests_total == 0


async def test_fields_with_a_checkpoint_run_and_rerun(emulator: Any, tmp_path: Path) -> None:
    # The checkpoint's key covers the projection: the same command runs again (nothing
    # left to fetch), another projection is another sweep.
    emu = await emulator(**CLI_EMULATOR)
    out, db = tmp_path / "users.ndjson", tmp_path / "sweep.db"
    args = ["sweep", "usage-metering/users", "--base-url", emu.url, "--quiet"]
    args += ["--checkpoint", str(db), "--output", str(out)]
    first = await run_cli(*args, "--fields", "name")
    assert first.code == 0, first.err
    again = await run_cli(*args, "--fields", "name")
    assert again.code == 0, again.err
    other = await run_cli(*args, "--fields", "emails")
    assert other.code == 2 and "different sweep" in other.err
