"""The disk under a sweep: locks, unwritable destinations, a full disk, the report.

Real subprocesses, real files. A read-only file is read-only even to root once the child
runs without ``CAP_DAC_OVERRIDE`` (``setpriv`` drops it); a full disk is a file-size limit
(``RLIMIT_FSIZE``), which fails writes with ``EFBIG`` exactly like ``ENOSPC`` would.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from tests.cli.support import (
    CLI_EMULATOR,
    Result,
    assert_no_token,
    cli_env,
    command,
    expected_ids,
    record_ids,
    run_cli,
)
from tests.support import EmulatorFactory
from truto_stream.emulator import AccountSpec, Emulator

pytestmark = pytest.mark.anyio

RESOURCE = "usage-metering/users"
SLOW: dict[str, Any] = {
    **CLI_EMULATOR,
    "accounts": tuple(AccountSpec("claude", "acme", users=300) for _ in range(4)),
    "latency_ms": 10,
}
SETPRIV = shutil.which("setpriv")


def _args(emu: Emulator, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "sweep", RESOURCE, "--base-url", emu.url, "--progress", "never",
        "--output", str(tmp_path / "users.ndjson"), "--checkpoint", str(tmp_path / "sweep.db"),
        "--param", "limit=20", "--concurrency", "2", *extra,
    ]  # fmt: skip


def _requests(emu: Emulator) -> int:
    total: int = emu.stats_snapshot()["requests"]["total"]
    return total


async def _run(argv: list[str], *, prefix: tuple[str, ...] = ()) -> Result:
    """Run ``argv`` after ``prefix`` (e.g. setpriv) to its end; the emulator keeps serving."""
    done = await anyio.run_process(
        [*prefix, *argv], check=False, env=cli_env(), stdin=subprocess.DEVNULL
    )
    return Result(done.returncode, done.stdout, done.stderr)


def _read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_a_second_run_on_the_same_checkpoint_is_refused_at_once(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**{**SLOW, "latency_ms": 150})  # the first run lasts seconds
    argv = command(*_args(emu, tmp_path))
    first = await anyio.open_process(
        argv, env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    async with first:
        lock = tmp_path / "sweep.db.lock"
        with anyio.fail_after(30):
            while not (tmp_path / "users.ndjson.partial").exists():  # noqa: ASYNC110
                await anyio.sleep(0.01)
        # Stopped, it keeps its locks for as long as the checks below take on a loaded
        # machine (running, it could finish first and release them).
        first.send_signal(signal.SIGSTOP)
        assert first.returncode is None
        second = await run_cli(*_args(emu, tmp_path))
        assert second.code == 2, second.err
        assert f"pid {first.pid} on" in second.err and "checkpoint" in second.err
        assert "Traceback" not in second.err and "summary" not in second.err
        assert f"pid {first.pid}" in lock.read_text()
        # The same output with another checkpoint is refused too.
        other = await run_cli(
            *_args(emu, tmp_path)[:-8], "--output", str(tmp_path / "users.ndjson"),
            "--checkpoint", str(tmp_path / "other.db"),
        )  # fmt: skip
        assert other.code == 2 and "output" in other.err and f"pid {first.pid}" in other.err
        first.kill()  # SIGKILL: the lock file stays behind, its flock dies with the process
        await first.wait()
    assert lock.exists()
    third = await run_cli(*_args(emu, tmp_path))
    assert third.code == 0, third.err
    assert not lock.exists() and not (tmp_path / "users.ndjson.lock").exists()
    records = _read_ndjson(tmp_path / "users.ndjson")
    assert record_ids(records) == expected_ids(emu.dataset)
    assert len(records) == len(expected_ids(emu.dataset))


@pytest.mark.skipif(SETPRIV is None, reason="needs setpriv (util-linux)")
async def test_unwritable_destinations_are_refused_before_the_first_request(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**SLOW)
    assert SETPRIV is not None
    unprivileged = (SETPRIV, "--bounding-set", "-dac_override,-dac_read_search")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    base = _args(emu, tmp_path)
    cases = [
        (["--report", str(locked / "r.json")], "--report"),
        (["--output", str(locked / "u.ndjson")], "--output"),
        (["--checkpoint", str(locked / "c.db")], "--checkpoint"),
    ]
    for extra, option in cases:
        result = await _run(command(*base, *extra), prefix=unprivileged)
        assert result.code == 2, result.err
        assert option in result.err and "cannot write" in result.err
        assert "Traceback" not in result.err and "summary" not in result.err
    assert _requests(emu) == 0

    # A read-only checkpoint file (its directory writable): refused up front too.
    first = await run_cli(*base, "--token", "not-the-token")  # creates the checkpoint
    assert first.code == 1
    checkpoint = tmp_path / "sweep.db"
    assert checkpoint.exists()
    checkpoint.chmod(0o444)
    requests = _requests(emu)
    result = await _run(command(*base), prefix=unprivileged)
    assert result.code == 2, result.err
    assert "cannot write the checkpoint" in result.err and "readonly" in result.err
    assert "Traceback" not in result.err
    assert _requests(emu) == requests


def _with_file_size_limit(limit: int, argv: list[str]) -> list[str]:
    """``argv`` run with files limited to ``limit`` bytes: a write past it fails (EFBIG)."""
    wrapper = (
        "import os, resource, signal, sys;"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"  # a failed write, not a killed process
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}));"
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", wrapper, *argv]


@pytest.mark.parametrize("full", ["output", "checkpoint"])
async def test_a_full_disk_is_one_clear_error_with_a_report_and_a_rerun_completes(
    emulator: EmulatorFactory, tmp_path: Path, full: str
) -> None:
    emu = await emulator(**SLOW)
    report = tmp_path / "report.json"
    args = _args(emu, tmp_path, "--report", str(report))
    if full == "checkpoint":  # records to stdout: the checkpoint's WAL is what grows
        args[args.index("--output") + 1] = "-"
    limit = 60_000 if full == "output" else 40_000
    done = await anyio.run_process(
        _with_file_size_limit(limit, command(*args)),
        check=False,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
    )
    result = Result(done.returncode, done.stdout, done.stderr)
    assert result.code == 1, result.err
    assert f"StorageError: cannot write the {full}" in result.err, result.err
    assert "Traceback" not in result.err
    assert ("File too large" if full == "output" else "disk I/O error") in result.err
    document = orjson.loads(report.read_bytes())
    assert document["exit_status"] == 1 and "StorageError" in document["error"]
    assert document["output"] is None

    again = await run_cli(*args)
    assert again.code == 0, again.err
    want = expected_ids(emu.dataset)
    if full == "output":
        records = _read_ndjson(tmp_path / "users.ndjson")
        assert record_ids(records) == want and len(records) == len(want)
    else:
        assert record_ids(result.lines()) | record_ids(again.lines()) == want
    assert_no_token(result.stderr, again.stderr, paths=[tmp_path])


async def test_a_report_that_cannot_be_written_at_the_end_is_a_failure(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**CLI_EMULATOR)
    report = tmp_path / "r.json"
    (tmp_path / "r.json.partial").mkdir()  # the report's temporary name: unwritable at the end
    result = await run_cli(*_args(emu, tmp_path, "--report", str(report)))
    assert result.code == 1, result.err
    assert "cannot write the report" in result.err
    assert (tmp_path / "users.ndjson").exists()  # the sweep itself completed


async def test_the_report_names_only_what_exists(emulator: EmulatorFactory, tmp_path: Path) -> None:
    emu = await emulator(**CLI_EMULATOR)
    report = tmp_path / "r.json"
    refused = await run_cli(*_args(emu, tmp_path, "--report", str(report), "--token", "bad"))
    assert refused.code == 1
    document = orjson.loads(report.read_bytes())
    assert document["output"] is None and document["partial_output"] is None
    assert "AuthError" in document["error"]
    assert not (tmp_path / "users.ndjson").exists()
    assert not (tmp_path / "users.ndjson.partial").exists()
    assert sorted(os.listdir(tmp_path)) == ["r.json", "sweep.db"]
