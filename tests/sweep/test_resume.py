"""Crash and resume: SIGKILL a sweep at random moments, resume from the checkpoint."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import orjson

from tests.support import TOKEN
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]


def _config() -> EmulatorConfig:
    accounts = tuple(
        AccountSpec(integration=("claude", "openai")[i % 2], tenant_id="acme", users=300 + 197 * i)
        for i in range(12)
    )
    return EmulatorConfig(tokens=(TOKEN,), seed=5, accounts=accounts, latency_ms=30)


def test_kill_nine_and_resume_delivers_everything(tmp_path: Path) -> None:
    config = _config()
    dataset = Dataset(config)
    ids = [a.id for a in dataset.accounts]
    want = {(a, u) for a in ids for u in dataset.user_ids(a)}
    checkpoint, output = tmp_path / "sweep.db", tmp_path / "out.ndjson"
    env = {**os.environ, "TRUTO_API_TOKEN": TOKEN}
    rng = random.Random(1234)
    with EmulatorProcess(config) as emu:
        command = [
            sys.executable,
            "-m",
            "tests.sweep.sweep_worker",
            emu.url,
            str(checkpoint),
            str(output),
            *ids,
        ]
        kills = 0
        for _ in range(6):
            proc = subprocess.Popen(command, cwd=ROOT, env=env)
            try:
                proc.wait(timeout=rng.uniform(0.5, 1.5))
            except subprocess.TimeoutExpired:
                proc.kill()  # SIGKILL: no cleanup, no final flush
                proc.wait()
                kills += 1
            else:
                break
        final = subprocess.run(command, cwd=ROOT, env=env, timeout=60, check=False)
        assert final.returncode == 0
    got = [tuple(orjson.loads(line)) for line in output.read_bytes().splitlines()]
    assert set(got) == want
    assert kills >= 1
    # Duplicates come only from what was not yet durably committed when a kill struck:
    # at most the record buffer per kill (the checkpoint flushes every 0.25 s).
    assert len(got) - len(want) <= kills * 10_000
    # A rerun of a finished sweep delivers nothing more: every account is done.
    before = output.stat().st_size
    again = subprocess.run(command, cwd=ROOT, env=env, timeout=60, check=False)
    assert again.returncode == 0
    assert output.stat().st_size == before
