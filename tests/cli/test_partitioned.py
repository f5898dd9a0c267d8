"""``truto-stream sweep --output-dir DIR --partition-by ...``: Hive-style datasets."""

from __future__ import annotations

import contextlib
import hashlib
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from tests.cli.support import CLI_EMULATOR, assert_no_token, cli_env, command, run_cli
from tests.cli.test_plan_cli import DAYS, RESOURCE, TODAY, expected, mixed
from tests.support import EmulatorFactory

ds = pytest.importorskip("pyarrow.dataset")
pq = pytest.importorskip("pyarrow.parquet")

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


def _args(url: str, out: Path, *extra: str) -> list[str]:
    return [
        "sweep", RESOURCE, "--base-url", url, "--today", TODAY, "--progress", "never",
        "--date", f"{DAYS[0]}..{DAYS[-1]}", "--output-dir", str(out),
        "--partition-by", "integration,date", *extra,
    ]  # fmt: skip


def _read(out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        ds.dataset(out, format="parquet", partitioning="hive").to_table().to_pylist()
    )
    return rows


def _keyed(rows: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    return [(r["integrated_account_id"], r["date"], r["id"]) for r in rows]


def _check_manifest(out: Path, records: int) -> dict[str, Any]:
    manifest: dict[str, Any] = orjson.loads((out / "_manifest.json").read_bytes())
    assert manifest["records"] == records
    assert sum(p["records"] for p in manifest["parts"]) == records
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("part-*"))
    assert sorted(p["path"] for p in manifest["parts"]) == on_disk
    for part in manifest["parts"]:
        data = (out / part["path"]).read_bytes()
        assert (part["bytes"], part["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert sum(p["records"] for p in manifest["partitions"]) == records
    assert manifest["report"]["states"]["failed"] == 0
    return manifest


async def test_a_parquet_dataset_read_back_holds_every_user_once(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**CLI_EMULATOR, accounts=mixed(120, 90, 15), today=TODAY)
    out = tmp_path / "users"
    result = await run_cli(*_args(emu.url, out, "--format", "parquet", "--row-group-rows", "100"))
    assert result.code == 0, result.err
    rows = _read(out)
    want = expected(emu.dataset, DAYS)
    assert sorted(_keyed(rows), key=str) == sorted(want, key=str)  # each exactly once
    by_account = {a.id: a for a in emu.dataset.accounts}
    assert all(r["integration"] == by_account[r["integrated_account_id"]].integration for r in rows)
    # Claude's days are partitions; the others are swept once, in the null-date partition.
    dirs = {str(p.parent.relative_to(out)) for p in out.rglob("part-*.parquet")}
    assert f"integration=claude/date={DAYS[0]}" in dirs
    assert "integration=openai/date=__HIVE_DEFAULT_PARTITION__" in dirs
    manifest = _check_manifest(out, len(want))
    assert {u["state"] for u in manifest["units"]} == {"done", "skipped"}
    assert manifest["partition_by"] == ["integration", "date"]
    # The partition columns live in the path only.
    one = next(out.rglob("part-*.parquet"))
    names = pq.read_schema(one).names
    assert (
        "date" not in names
        and "integration" not in names
        and names[:2] == ["integrated_account_id", "id"]
    )
    assert_no_token(result.stdout, result.stderr, paths=[tmp_path])


async def test_ndjson_parts_and_a_fresh_run_replaces_the_dataset(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**CLI_EMULATOR, accounts=mixed(60, 40, 5), today=TODAY)
    out = tmp_path / "users"
    args = _args(emu.url, out, "--format", "ndjson", "--row-group-rows", "50")
    for _ in range(2):  # the second run, without a checkpoint, starts the dataset over
        result = await run_cli(*args)
        assert result.code == 0, result.err
    got = []
    for part in out.rglob("part-*.ndjson"):
        partition = dict(seg.split("=", 1) for seg in part.parent.relative_to(out).parts)
        day = None if partition["date"] == "__HIVE_DEFAULT_PARTITION__" else partition["date"]
        for line in part.read_bytes().splitlines():
            record = orjson.loads(line)
            assert "date" not in record
            got.append((record["integrated_account_id"], day, record["id"]))
    want = expected(emu.dataset, DAYS)
    assert sorted(got, key=str) == sorted(want, key=str)
    _check_manifest(out, len(want))


def _on_disk(out: Path) -> int:
    return len(list(out.rglob("part-*.parquet")))


def _committed_parts(checkpoint: Path) -> int:
    """The parts the checkpoint counts as delivered (0 before its first flush)."""
    if not checkpoint.exists():
        return 0
    with contextlib.closing(sqlite3.connect(checkpoint)) as db:
        row = db.execute("SELECT position FROM sink").fetchone()
    return int(orjson.loads(row[0])["parts"]) if row else 0


async def _parts_committed(out: Path, checkpoint: Path, count: int) -> None:
    """Poll (files, not an event, tell) until the checkpoint counts ``count`` parts and the
    directory holds more: a kill then leaves parts that a resume must not keep."""
    for _ in range(3_000):  # 60 s
        with contextlib.suppress(sqlite3.OperationalError):  # not created yet, or busy
            committed = _committed_parts(checkpoint)
            if committed >= count and _on_disk(out) > committed:
                return
        await anyio.sleep(0.02)
    raise AssertionError(f"fewer than {count} parts committed after 60 s")


async def test_killed_and_resumed_a_dataset_holds_every_user_once(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    # Small pages and some latency: the sweep takes seconds; it is killed (SIGKILL) once
    # the checkpoint counts a few parts as delivered, and run again with it.
    emu = await emulator(**CLI_EMULATOR, accounts=mixed(800, 400, 30), today=TODAY, latency_ms=10)
    out = tmp_path / "users"
    args = _args(
        emu.url, out, "--format", "parquet", "--row-group-rows", "200", "--param", "limit=50",
        "--concurrency", "2", "--checkpoint", str(tmp_path / "sweep.db"),
    )  # fmt: skip
    async with await anyio.open_process(command(*args), env=cli_env(), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL) as process:  # fmt: skip
        await _parts_committed(out, tmp_path / "sweep.db", 3)
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert not (out / "_manifest.json").exists()
    second = await run_cli(*args, "--report", str(tmp_path / "report.json"))
    assert second.code == 0, second.err
    assert "resuming" in second.err
    want = expected(emu.dataset, DAYS)
    assert sorted(_keyed(_read(out)), key=str) == sorted(want, key=str)
    _check_manifest(out, len(want))
    report = orjson.loads((tmp_path / "report.json").read_bytes())
    assert report["output"] == str(out) and report["totals"]["duplicates_possible"] == 0
    assert_no_token(second.stdout, second.stderr, paths=[tmp_path])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "csv"], "--output-dir takes --format parquet or ndjson"),
        (["--partition-by", "tenant"], "unknown partition key 'tenant'"),
        (["--partition-by", "date,date"], "given twice"),
        (["--output", "x.ndjson"], "either --output or --output-dir"),
        (["--partition-by", "integration"], "needs --output-dir"),
    ],
)
async def test_usage_errors_before_any_request(
    emulator: EmulatorFactory, tmp_path: Path, extra: list[str], message: str
) -> None:
    emu = await emulator(**CLI_EMULATOR, today=TODAY)
    base = ["sweep", RESOURCE, "--base-url", emu.url, "--today", TODAY]
    if "--partition-by" not in extra or extra[1] != "integration":
        base += ["--output-dir", str(tmp_path / "out")]
    result = await run_cli(*base, *extra)
    assert result.code == 2, result.err
    assert message in result.err
    assert emu.stats_snapshot()["requests"]["total"] == 0


async def test_a_directory_holding_other_files_is_refused(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**CLI_EMULATOR, today=TODAY)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = await run_cli("sweep", RESOURCE, "--base-url", emu.url, "--output-dir", str(out))
    assert result.code == 2, result.err
    assert "not a truto-stream dataset (first: notes.txt)" in result.err
    assert (out / "notes.txt").read_text() == "keep me"
    date_only = await run_cli(
        "sweep", RESOURCE, "--base-url", emu.url, "--output-dir", str(tmp_path / "d"),
        "--partition-by", "date",
    )  # fmt: skip
    assert date_only.code == 2 and "--partition-by date needs --date" in date_only.err


async def test_a_checkpoint_resumes_only_the_output_it_wrote(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**CLI_EMULATOR, accounts=mixed(20, 10, 5), today=TODAY)
    out, checkpoint = tmp_path / "users", str(tmp_path / "a.db")
    first = await run_cli(*_args(emu.url, out, "--checkpoint", checkpoint))
    assert first.code == 0, first.err
    base = ["sweep", RESOURCE, "--base-url", emu.url, "--today", TODAY, "--date", DAYS[0]]
    refusals = {
        "wrote --output-dir": [*base, "--output", str(tmp_path / "u.ndjson")],
        "with --partition-by integration,date": _args(emu.url, out, "--partition-by", "date"),
    }
    for message, args in refusals.items():
        refused = await run_cli(*args, "--checkpoint", checkpoint)
        assert refused.code == 2 and message in refused.err, refused.err
    other = str(tmp_path / "b.db")
    into_file = await run_cli(*base, "--output", str(tmp_path / "u.ndjson"), "--checkpoint", other)
    assert into_file.code == 0, into_file.err
    refused = await run_cli(*_args(emu.url, tmp_path / "d", "--checkpoint", other))
    assert refused.code == 2 and "wrote --output " in refused.err, refused.err
