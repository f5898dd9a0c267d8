"""Helpers for command-line tests: run ``truto-stream`` in a subprocess against an emulator.

The emulator runs in the test's event loop (the ``emulator`` fixture); the command runs in
a child process awaited asynchronously, so the emulator keeps serving meanwhile.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import orjson

from truto_stream.emulator import Dataset

#: A token distinctive enough to grep for in every file and stream a command produces.
TOKEN = "cli-SECRET-token-7f3a9c1e"

#: What CLI tests give the ``emulator`` fixture (small data, our token).
CLI_EMULATOR: dict[str, Any] = {"tokens": (TOKEN,), "seed": 5, "users": (5, 60)}


@dataclass
class Result:
    """A finished command."""

    code: int
    stdout: bytes
    stderr: bytes

    @property
    def err(self) -> str:
        return self.stderr.decode(errors="replace")

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.stdout.splitlines() if line.strip()]


def command(*args: str) -> list[str]:
    """The argv running ``truto-stream ARGS`` with this interpreter."""
    return [sys.executable, "-m", "truto_stream.cli", *args]


def cli_env(token: str | None = TOKEN, **extra: str) -> dict[str, str]:
    """The child's environment: ours, with ``$TRUTO_API_TOKEN`` set (or removed)."""
    env = {k: v for k, v in os.environ.items() if k != "TRUTO_API_TOKEN"}
    if token is not None:
        env["TRUTO_API_TOKEN"] = token
    env.update(extra)
    return env


async def run_cli(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Result:
    """Run ``truto-stream ARGS`` to completion (asynchronously) and capture its output."""
    done = await anyio.run_process(
        command(*args),
        check=False,
        env=dict(env) if env is not None else cli_env(),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def expected_ids(dataset: Dataset, accounts: Iterable[str] | None = None) -> set[tuple[str, str]]:
    """``(account id, user id)`` of every user of the given (default: sweepable) accounts."""
    chosen = (
        list(accounts)
        if accounts is not None
        else [a.id for a in dataset.accounts if a.status == "active" and not a.is_blocked]
    )
    return {(account, uid) for account in chosen for uid in dataset.user_ids(account)}


def record_ids(records: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """``(integrated_account_id, id)`` of output records."""
    return {(str(r["integrated_account_id"]), str(r["id"])) for r in records}


def expected_records(dataset: Dataset) -> dict[tuple[str, str], dict[str, Any]]:
    """Every sweepable user record (as the API returns it), keyed like :func:`record_ids`."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for account in dataset.accounts:
        if account.status == "active" and not account.is_blocked:
            for user in dataset.users(account.id):
                out[(account.id, user["id"])] = user
    return out


def assert_no_token(*blobs: bytes, paths: Iterable[Path] = ()) -> None:
    """The token appears in none of ``blobs`` nor in any of ``paths`` (files, recursively)."""
    needle = TOKEN.encode()
    for blob in blobs:
        assert needle not in blob
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            assert needle not in file.read_bytes(), f"token found in {file}"


#: The exit status of a command stopped by each signal (a kill is the negative signal).
EXPECTED_CODE = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}


def read_back(fmt: str, path: Path) -> list[dict[str, Any]]:
    """The records of ``path`` through the format's standard reader (no project code)."""
    if fmt == "ndjson":
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]
    if fmt == "json":
        data = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(data, list)
        return data
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    import pyarrow.parquet as pq

    return list(pq.read_table(path).to_pylist())


def written_bytes(out: Path) -> int:
    """Bytes of output on disk so far, whatever its stage (partial, parts, placed)."""
    parts = out.with_name(out.name + ".parts")
    files = [out, out.with_name(out.name + ".partial")]
    with contextlib.suppress(FileNotFoundError):
        files += list(parts.iterdir())
    total = 0
    for file in files:  # any of them may be renamed or removed meanwhile
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            total += file.stat().st_size
    return total


async def run_and_signal(
    argv: list[str], out: Path, threshold: int, signum: signal.Signals, log: Path
) -> int:
    """Start the command, send ``signum`` once its output has grown past ``threshold``."""
    with log.open("ab") as err:
        process = await anyio.open_process(
            argv, env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
    async with process:
        with anyio.fail_after(60):
            # Polling the output itself: the signal lands wherever the writer happens to be.
            while process.returncode is None and written_bytes(out) < threshold:  # noqa: ASYNC110
                await anyio.sleep(0.003)
            if process.returncode is None:
                process.send_signal(signum)
            return await process.wait()


def read_records(fmt: str, path: Path) -> list[dict[str, Any]]:
    """The records of ``path`` as the API sent them: :func:`read_back`, then CSV's JSON text
    cells and Parquet's nulls and ``remote_data`` text turned back into values."""
    rows = read_back(fmt, path)
    if fmt == "csv":
        return [_from_csv(row) for row in rows]
    if fmt == "parquet":
        return [_from_parquet(row) for row in rows]
    return rows


def _from_csv(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value == "":
            continue
        out[key] = orjson.loads(value) if value[:1] in "[{" else value
    return out


def _from_parquet(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        if key == "remote_data":
            value = orjson.loads(value)
        elif isinstance(value, list):
            value = [{k: v for k, v in item.items() if v is not None} for item in value]
        elif isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None}
        out[key] = value
    return out
