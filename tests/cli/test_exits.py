"""Every exit, every format: Ctrl-C, SIGTERM and SIGKILL at seeded moments, then reruns with
the same checkpoint and output until the sweep completes; the output, read back with its
format's standard reader, holds every user of the emulator's data set exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections import Counter
from pathlib import Path

import anyio
import orjson
import pytest

from tests.cli.support import (
    CLI_EMULATOR,
    EXPECTED_CODE,
    assert_no_token,
    cli_env,
    command,
    expected_ids,
    read_back,
    run_and_signal,
    written_bytes,
)
from tests.support import EmulatorFactory
from truto_stream.emulator import AccountSpec

pytestmark = pytest.mark.anyio

RESOURCE = "usage-metering/users"

#: Signals sent to successive runs (each at a seeded moment), then runs to completion.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGKILL, signal.SIGKILL)
STREAM_ACCOUNTS = tuple(
    AccountSpec(integration, "acme", users=users)
    for integration, users in (("claude", 1_800), ("openai", 1_300), ("claude", 900))
)
PAGED_ACCOUNTS = tuple(
    AccountSpec(("claude", "openai", "cursor")[i % 3], f"t{i % 2}", users=120 + 45 * i)
    for i in range(8)
)


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "json", "parquet"])
@pytest.mark.parametrize("mode", ["paged", "stream"])
async def test_signals_and_kills_then_reruns_deliver_every_user_exactly_once(
    emulator: EmulatorFactory, tmp_path: Path, fmt: str, mode: str
) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    stream = mode == "stream"
    emu = await emulator(
        **CLI_EMULATOR,
        accounts=STREAM_ACCOUNTS if stream else PAGED_ACCOUNTS,
        latency_ms=0 if stream else 4,
        # Paced so that a signal lands mid-sweep even when a busy machine delays it.
        bandwidth_bps=1_000_000 if stream else 0,
        stream_batch=64,
    )
    want = expected_ids(emu.dataset)
    # About what the whole output weighs on disk (parquet is compressed).
    size = (150 if fmt == "parquet" else 700) * len(want)
    out, checkpoint, log = tmp_path / f"users.{fmt}", tmp_path / "sweep.db", tmp_path / "err"
    argv = command(
        "sweep", RESOURCE, "--base-url", emu.url, "--format", fmt, "--output", str(out),
        "--checkpoint", str(checkpoint), "--progress", "never", "--mode", mode,
        "--concurrency", "3", "--row-group-rows", "150", "--report", str(tmp_path / "r.json"),
        *([] if stream else ["--param", "limit=40"]),
    )  # fmt: skip
    rng = random.Random(f"{fmt}-{mode}")
    codes = []
    for signum in SIGNALS:
        threshold = written_bytes(out) + int(size * rng.uniform(0.02, 0.2))
        code = await run_and_signal(argv, out, threshold, signum, log)
        codes.append(code)
        if code == 0:
            break
        assert code == EXPECTED_CODE[signum], log.read_text()
        # An interrupted sweep never leaves a file looking complete.
        assert not out.exists(), log.read_text()
    while codes[-1] != 0:
        assert len(codes) < len(SIGNALS) + 3, log.read_text()
        done = await anyio.run_process(argv, check=False, env=cli_env(), stdin=subprocess.DEVNULL)
        codes.append(done.returncode)
    # The signals did land mid-sweep (the thresholds are far below the whole output).
    assert codes[:2] == [130, 143], codes

    records = read_back(fmt, out)
    got = Counter((str(r["integrated_account_id"]), str(r["id"])) for r in records)
    assert set(got) == want
    assert max(got.values()) == 1, [k for k, n in got.items() if n > 1][:5]
    assert len(records) == len(want)
    leftovers = set(os.listdir(tmp_path)) - {out.name, "sweep.db", "err", "r.json"}
    assert not {n for n in leftovers if not n.startswith("sweep.db-")}, leftovers
    report = orjson.loads((tmp_path / "r.json").read_bytes())
    assert report["exit_status"] == 0 and report["output"] == str(out)
    errors = log.read_text()
    assert "Traceback" not in errors and "Exception ignored" not in errors, errors
    assert_no_token(log.read_bytes(), paths=[tmp_path])
