"""Helpers for command-line tests: run ``truto-stream`` in a subprocess against an emulator.

The emulator runs in the test's event loop (the ``emulator`` fixture); the command runs in
a child process awaited asynchronously, so the emulator keeps serving meanwhile.
"""

from __future__ import annotations

import os
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
