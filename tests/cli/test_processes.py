"""``truto-stream sweep --processes N``: shard processes, one output, one checkpoint.

Each test runs the command in a subprocess against an emulator on loopback; the output,
read back with its format's reader, must hold every user exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections import Counter
from pathlib import Path

import anyio
import pytest

from tests.cli.support import (
    CLI_EMULATOR,
    EXPECTED_CODE,
    TOKEN,
    assert_no_token,
    cli_env,
    command,
    expected_ids,
    read_back,
    run_and_signal,
    run_cli,
    written_bytes,
)
from tests.support import EmulatorFactory
from truto_stream.emulator import AccountSpec

pytestmark = pytest.mark.anyio

RESOURCE = "usage-metering/users"

ACCOUNTS = tuple(
    AccountSpec(("claude", "openai", "cursor")[i % 3], f"t{i % 2}", users=60 + 37 * i)
    for i in range(9)
)


def _counted(records: list[dict[str, object]]) -> Counter[tuple[str, str]]:
    return Counter((str(r["integrated_account_id"]), str(r["id"])) for r in records)


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
@pytest.mark.parametrize("mode", ["paged", "stream"])
async def test_two_processes_deliver_every_user_once(
    emulator: EmulatorFactory, tmp_path: Path, mode: str, fmt: str
) -> None:
    emu = await emulator(**CLI_EMULATOR, accounts=ACCOUNTS)
    out, report = tmp_path / f"users.{fmt}", tmp_path / "report.json"
    done = await run_cli(
        "sweep", RESOURCE, "--base-url", emu.url, "--processes", "2", "--mode", mode,
        "--format", fmt, "--output", str(out), "--report", str(report),
        "--checkpoint", str(tmp_path / "sweep.db"), "--param", "limit=25", "--progress", "never",
    )  # fmt: skip
    assert done.code == 0, done.err
    got = _counted(read_back(fmt, out))
    assert set(got) == expected_ids(emu.dataset)
    assert max(got.values()) == 1
    assert "Traceback" not in done.err
    assert_no_token(done.stdout, done.stderr, paths=[tmp_path])


async def test_a_rerun_of_a_finished_sweep_adds_nothing(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**CLI_EMULATOR, accounts=ACCOUNTS)
    out = tmp_path / "users.ndjson"
    args = ["sweep", RESOURCE, "--base-url", emu.url, "--processes", "3", "--output", str(out),
            "--checkpoint", str(tmp_path / "sweep.db"), "--progress", "never"]  # fmt: skip
    first = await run_cli(*args)
    assert first.code == 0, first.err
    before = out.read_bytes()
    second = await run_cli(*args)
    assert second.code == 0, second.err
    assert out.read_bytes() == before
    assert set(_counted(read_back("ndjson", out))) == expected_ids(emu.dataset)


@pytest.mark.parametrize("mode", ["paged", "stream"])
async def test_sigint_and_sigkill_then_reruns_deliver_every_user_exactly_once(
    emulator: EmulatorFactory, tmp_path: Path, mode: str
) -> None:
    stream = mode == "stream"
    accounts = tuple(
        AccountSpec(("claude", "openai")[i % 2], "acme", users=300 + 90 * i) for i in range(6)
    )
    emu = await emulator(
        **CLI_EMULATOR,
        accounts=accounts,
        latency_ms=0 if stream else 4,
        bandwidth_bps=3_000_000 if stream else 0,
        stream_batch=64,
    )
    want = expected_ids(emu.dataset)
    out, log = tmp_path / "users.ndjson", tmp_path / "err"
    argv = command(
        "sweep", RESOURCE, "--base-url", emu.url, "--output", str(out), "--processes", "2",
        "--checkpoint", str(tmp_path / "sweep.db"), "--progress", "never", "--mode", mode,
        "--concurrency", "4", *([] if stream else ["--param", "limit=40"]),
    )  # fmt: skip
    rng = random.Random(mode)
    codes = []
    for signum in (signal.SIGINT, signal.SIGKILL, signal.SIGKILL):
        threshold = written_bytes(out) + int(700 * len(want) * rng.uniform(0.05, 0.2))
        code = await run_and_signal(argv, out, threshold, signum, log)
        codes.append(code)
        if code == 0:
            break
        assert code == EXPECTED_CODE[signum], log.read_text()
        assert not out.exists(), log.read_text()
    while codes[-1] != 0:
        assert len(codes) < 6, log.read_text()
        done = await anyio.run_process(argv, check=False, env=cli_env(), stdin=subprocess.DEVNULL)
        codes.append(done.returncode)
    assert codes[0] == 130, codes  # the first signal landed mid-sweep
    got = _counted(read_back("ndjson", out))
    assert set(got) == want
    assert max(got.values()) == 1, [k for k, n in got.items() if n > 1][:5]
    errors = log.read_text()
    assert "Traceback" not in errors, errors
    assert_no_token(log.read_bytes(), paths=[tmp_path])


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
async def test_a_shard_process_that_dies_fails_the_sweep_clearly(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    accounts = tuple(AccountSpec("openai", "acme", users=400) for _ in range(6))
    emu = await emulator(**CLI_EMULATOR, accounts=accounts, latency_ms=10)
    out = tmp_path / "users.ndjson"
    argv = command(
        "sweep", RESOURCE, "--base-url", emu.url, "--output", str(out), "--processes", "2",
        "--checkpoint", str(tmp_path / "sweep.db"), "--progress", "never",
        "--param", "limit=10", "--concurrency", "2",
    )  # fmt: skip
    process = await anyio.open_process(argv, env=cli_env(), stdin=subprocess.DEVNULL)
    async with process:
        with anyio.fail_after(60):
            while process.returncode is None and written_bytes(out) < 20_000:  # noqa: ASYNC110
                await anyio.sleep(0.005)
            shards = _children(process.pid)
            assert len(shards) == 2
            for shard in shards:  # the token travels in the environment, never in argv
                assert TOKEN.encode() not in _cmdline(shard)
            os.kill(shards[0], signal.SIGKILL)
            assert process.stderr is not None
            err = b"".join([chunk async for chunk in process.stderr])
            code = await process.wait()
    assert code == 1
    message = err.decode()
    assert "ShardProcessError: shard process" in message
    assert "ended before finishing its accounts (exit status -9)" in message
    assert "rerun with the same --checkpoint" in message
    assert "Traceback" not in message
    assert not out.exists()
    # What it left is committed: a rerun completes the output, every user once.
    rerun = await run_cli(*argv[3:])
    assert rerun.code == 0, rerun.err
    got = _counted(read_back("ndjson", out))
    assert set(got) == expected_ids(emu.dataset) and max(got.values()) == 1


async def test_processes_below_one_is_a_usage_error(tmp_path: Path) -> None:
    done = await run_cli("sweep", RESOURCE, "--processes", "0", "--base-url", "http://127.0.0.1:9")
    assert done.code == 2
    assert "--processes must be at least 1" in done.err


async def test_a_partitioned_dataset_from_two_processes(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Each batch keeps its unit (integration, date): ``--output-dir`` partitions by it."""
    pytest.importorskip("pyarrow")
    from tests.cli.test_partitioned import _args, _check_manifest, _keyed, _read
    from tests.cli.test_plan_cli import DAYS, TODAY, expected, mixed

    emu = await emulator(**CLI_EMULATOR, accounts=mixed(120, 90, 15), today=TODAY)
    out = tmp_path / "users"
    args = _args(emu.url, out, "--format", "parquet", "--processes", "2")
    result = await run_cli(*args, "--checkpoint", str(tmp_path / "sweep.db"))
    assert result.code == 0, result.err
    rows = _read(out)
    want = expected(emu.dataset, DAYS)
    assert sorted(_keyed(rows), key=str) == sorted(want, key=str)  # each exactly once
    by_account = {a.id: a for a in emu.dataset.accounts}
    assert all(r["integration"] == by_account[r["integrated_account_id"]].integration for r in rows)
    _check_manifest(out, len(want))
